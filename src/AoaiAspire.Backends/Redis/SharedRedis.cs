using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace AoaiAspire.Backends.Redis;

/// <summary>
/// The process's one Redis connection: the <see cref="IConnectionMultiplexer"/> that Aspire's client integration
/// registers (<c>AddRedisClient("redis")</c>, with its health check, logging and tracing), and the one answer to
/// "is Redis usable now" that every shared-state contract follows.
/// </summary>
/// <remarks>
/// <para><b>Adding a contract that shares something through Redis</b> (how backend state,
/// <c>IBackendStateStore</c>, and the gateway's quota counts, <c>ISharedQuotaCounts</c>, are built; a third one
/// is added the same way):</para>
/// <list type="number">
/// <item>The feature declares its own small interface, in its own folder and words: what it stores and reads,
/// no Redis types in it.</item>
/// <item>Its Redis implementation takes this class (never <see cref="IConnectionMultiplexer"/> from DI, never
/// another contract's implementation, so nothing is downcast) and uses <see cref="Database"/>, and
/// <see cref="Subscribe"/> to listen; it reports connection state from <see cref="IsConnected"/> and
/// <see cref="ConnectionChanged"/>.</item>
/// <item>An in-memory implementation serves a process without <c>ConnectionStrings:redis</c>.</item>
/// <item>Register it with a factory that picks the Redis implementation when <c>GetService&lt;SharedRedis&gt;()</c>
/// is not null (see <c>AddSharedBackendState</c>).</item>
/// <item>Add no health check of the connection: the <see cref="HealthCheckName"/> check is the only one (Degraded
/// when Redis is unreachable). Nothing on the request path awaits Redis: queue the write, publish it from a
/// background loop.</item>
/// </list>
/// <para>Connected means both that commands flow and that the pub/sub connection has re-established its
/// subscriptions (StackExchange.Redis resubscribes by itself on reconnect). A ping on the subscriber goes through
/// the subscription connection after the resubscriptions, so once it answers, a contract that reads its stored facts
/// back on <see cref="ConnectionChanged"/>(true) misses no message published after that read.</para>
/// <para>While disconnected, commands fail at once (<see cref="BacklogPolicy.FailFast"/>, set in
/// <see cref="SharedRedisExtensions"/>) instead of queueing until a timeout.</para>
/// </remarks>
internal sealed partial class SharedRedis : IDisposable
{
    /// <summary>The connection string name: <c>ConnectionStrings:redis</c>.</summary>
    public const string ConnectionName = "redis";

    /// <summary>Name of Aspire's health check of the connection (reports Degraded here, not Unhealthy).</summary>
    public const string HealthCheckName = "StackExchange.Redis";

    /// <summary>While disconnected, the state is checked this often besides on every connection event.</summary>
    private static readonly TimeSpan RecheckInterval = TimeSpan.FromSeconds(1);

    private readonly IConnectionMultiplexer _multiplexer;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Channel<bool> _checks = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });
    private readonly CancellationTokenSource _disposed = new();
    private readonly Task _loop;
    private volatile bool _isConnected;
    private bool _everConnected;

    public SharedRedis(IConnectionMultiplexer multiplexer, TimeProvider time, ILogger<SharedRedis> logger)
    {
        _multiplexer = multiplexer;
        _time = time;
        _logger = logger;
        Database = multiplexer.GetDatabase();
        Subscriber = multiplexer.GetSubscriber();
        multiplexer.ConnectionFailed += OnConnectionEvent;
        multiplexer.ConnectionRestored += OnConnectionEvent;
        _checks.Writer.TryWrite(true);
        _loop = Task.Run(RunAsync, CancellationToken.None);
    }

    public IDatabase Database { get; }

    public ISubscriber Subscriber { get; }

    /// <summary>True while commands flow and every subscription is active.</summary>
    public bool IsConnected => _isConnected;

    /// <summary>
    /// Raised on a dedicated loop, in order, once per transition: false when Redis is lost, true when it is
    /// usable again (read stored facts back then). Handlers should be quick.
    /// </summary>
    public event Action<bool>? ConnectionChanged;

    /// <summary>
    /// Subscribes <paramref name="onMessage"/> to <paramref name="channel"/> once, while connected (call
    /// <see cref="SharedRedisSubscription.Start"/>); the one way a contract listens on this connection.
    /// </summary>
    public SharedRedisSubscription Subscribe(RedisChannel channel, Action<ChannelMessage> onMessage) => new(this, channel, onMessage);

    private void OnConnectionEvent(object? sender, ConnectionFailedEventArgs e) => _checks.Writer.TryWrite(true);

    private async Task RunAsync()
    {
        var token = _disposed.Token;
        try
        {
            while (!token.IsCancellationRequested)
            {
                try
                {
                    var wait = _checks.Reader.WaitToReadAsync(token).AsTask();
                    if (!await (_isConnected ? wait : wait.WaitAsync(RecheckInterval, _time, token)).ConfigureAwait(false))
                    {
                        return;
                    }
                    _checks.Reader.TryRead(out _);
                }
                catch (TimeoutException)
                {
                    // Disconnected: look again anyway.
                }
                SetState(await ProbeAsync().ConfigureAwait(false));
            }
        }
        catch (OperationCanceledException)
        {
            // Disposed.
        }
    }

    private async Task<bool> ProbeAsync()
    {
        if (!_multiplexer.IsConnected)
        {
            return false;
        }
        try
        {
            await Subscriber.PingAsync().ConfigureAwait(false);
            await Database.PingAsync().ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
        {
            return false;
        }
    }

    private void SetState(bool connected)
    {
        if (connected == _isConnected)
        {
            return;
        }
        _isConnected = connected;
        if (connected)
        {
            if (_everConnected)
            {
                LogRestored(_logger);
            }
            _everConnected = true;
        }
        else
        {
            LogLost(_logger);
        }
        try
        {
            ConnectionChanged?.Invoke(connected);
        }
        catch (Exception ex)
        {
            LogHandlerFailed(_logger, ex);
        }
    }

    public void Dispose()
    {
        _multiplexer.ConnectionFailed -= OnConnectionEvent;
        _multiplexer.ConnectionRestored -= OnConnectionEvent;
        _disposed.Cancel();
        _checks.Writer.TryComplete();
        try
        {
            _loop.GetAwaiter().GetResult();
        }
        catch (OperationCanceledException)
        {
            // Disposed while waiting.
        }
        _disposed.Dispose();
    }

    [LoggerMessage(4102, LogLevel.Warning, "Redis lost: shared state and quotas continue on this replica's own knowledge until it is back.")]
    private static partial void LogLost(ILogger logger);

    [LoggerMessage(4103, LogLevel.Information, "Redis usable again: commands flow and subscriptions are active.")]
    private static partial void LogRestored(ILogger logger);

    [LoggerMessage(4104, LogLevel.Error, "A Redis connection-state handler failed.")]
    private static partial void LogHandlerFailed(ILogger logger, Exception exception);
}
