using Microsoft.Extensions.Logging;

namespace AoaiAspire.Simulator.Hosting;

/// <summary>The simulator's log events (stable ids; never keys, tokens or prompt text).</summary>
internal static partial class SimulatorLog
{
    public const string Category = "AoaiAspire.Simulator";

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Simulated account {Account} ({Region}) listening on {Endpoint} with deployments {Deployments}")]
    public static partial void AccountListening(ILogger logger, string account, string region, Uri endpoint, IEnumerable<string> deployments);

    [LoggerMessage(EventId = 2, Level = LogLevel.Debug, Message = "Account {Account} throttled a request to {Deployment} ({LimitedBy}); retry after {RetryAfter}")]
    public static partial void Throttled(ILogger logger, string account, string deployment, string limitedBy, TimeSpan retryAfter);

    [LoggerMessage(EventId = 3, Level = LogLevel.Debug, Message = "Account {Account} injected fault {Fault}")]
    public static partial void FaultInjected(ILogger logger, string account, Faults.FaultKind fault);

    [LoggerMessage(EventId = 4, Level = LogLevel.Information, Message = "Account {Account} faults replaced through the admin endpoint")]
    public static partial void FaultsReplaced(ILogger logger, string account);
}
