namespace AoaiAspire.Backends.State;

/// <summary>
/// Shared backend state across gateway replicas and health probes. Writes are fire-and-forget from
/// the caller's point of view (never on a request's path); reads happen at start and after a reconnect;
/// everything else arrives as events. Implementations: <see cref="InMemoryBackendStateStore"/> (one
/// process, the default) and <see cref="RedisBackendStateStore"/>.
/// </summary>
internal interface IBackendStateStore : IAsyncDisposable
{
    /// <summary>Identifies this process in events, so it can ignore its own.</summary>
    string InstanceId { get; }

    /// <summary>True when state is shared with other processes (Redis configured).</summary>
    bool IsShared { get; }

    /// <summary>True while the shared store is reachable (always true in memory).</summary>
    bool IsConnected { get; }

    /// <summary>Raised when the connection is lost (false) or (re)established (true): resynchronise then.</summary>
    event Action<bool>? ConnectionChanged;

    /// <summary>Raised for each event another process published.</summary>
    event Action<BackendEvent>? EventReceived;

    Task StartAsync(CancellationToken cancellationToken);

    /// <summary>Records a throttle or an opened circuit (kept only if later than what is stored) and tells the others.</summary>
    Task PublishAsync(BackendEvent backendEvent, CancellationToken cancellationToken);

    /// <summary>Records a probe verdict (kept only if newer than what is stored) and tells the others.</summary>
    Task<bool> PublishHealthAsync(BackendHealthReport report, TimeSpan timeToLive, CancellationToken cancellationToken);

    /// <summary>Reads the stored throttles, circuits and verdicts of the given backends (for resynchronisation).</summary>
    Task<IReadOnlyList<BackendEvent>> ReadAsync(IReadOnlyList<BackendDeployments> backends, CancellationToken cancellationToken);

    /// <summary>Takes the lease to probe <paramref name="backend"/> for <paramref name="duration"/>; false when another probe holds it.</summary>
    Task<bool> TryTakeProbeLeaseAsync(string backend, TimeSpan duration, CancellationToken cancellationToken);
}
