using Microsoft.Extensions.Logging;

namespace AoaiAspire.Backends.Redis;

/// <summary>
/// The client's logs. Endpoints and reasons only: never passwords, keys, channel payloads or
/// command arguments. A loss and a recovery are logged once per outage; retries log at Debug.
/// </summary>
internal static partial class RedisLog
{
    [LoggerMessage(EventId = 4100, Level = LogLevel.Information, Message = "Connected to Redis at {EndPoint} ({Connection} connection).")]
    public static partial void Connected(ILogger logger, RedisEndPoint endPoint, string connection);

    [LoggerMessage(EventId = 4101, Level = LogLevel.Warning, Message = "Redis is unavailable at {EndPoints}: {Reason}. Serving on local state and retrying in the background.")]
    public static partial void Unavailable(ILogger logger, string endPoints, string reason);

    [LoggerMessage(EventId = 4102, Level = LogLevel.Warning, Message = "Lost the {Connection} connection to Redis at {EndPoint}: {Reason}. Serving on local state and reconnecting.")]
    public static partial void ConnectionLost(ILogger logger, string connection, RedisEndPoint endPoint, string reason);

    [LoggerMessage(EventId = 4103, Level = LogLevel.Information, Message = "Redis connection restored after {OutageSeconds:0.0} s.")]
    public static partial void ConnectionRestored(ILogger logger, double outageSeconds);

    [LoggerMessage(EventId = 4104, Level = LogLevel.Debug, Message = "Connecting to Redis at {EndPoint} failed: {Reason}. Next attempt in {DelayMs:0} ms.")]
    public static partial void ConnectAttemptFailed(ILogger logger, RedisEndPoint endPoint, string reason, double delayMs);

    [LoggerMessage(EventId = 4105, Level = LogLevel.Error, Message = "A Redis subscription handler for channel {Channel} threw.")]
    public static partial void SubscriptionHandlerFailed(ILogger logger, Exception exception, string channel);

    [LoggerMessage(EventId = 4106, Level = LogLevel.Error, Message = "A Redis connection state handler threw.")]
    public static partial void StateHandlerFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 4107, Level = LogLevel.Warning, Message = "Resubscribing to {Count} Redis channels and patterns was not confirmed: {Reason}. Reconnecting.")]
    public static partial void ResubscribeFailed(ILogger logger, int count, string reason);
}
