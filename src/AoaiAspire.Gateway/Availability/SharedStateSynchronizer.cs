using System.Threading.Channels;
using AoaiAspire.Backends.State;
using AoaiAspire.Gateway.Configuration;

namespace AoaiAspire.Gateway.Availability;

/// <summary>
/// Keeps this replica's backend states in step with the others through <see cref="IBackendStateStore"/>.
/// </summary>
/// <remarks>
/// - Out: a 429 or an opened circuit seen here is queued (a non-blocking write to a bounded channel; the
///   request path never waits on Redis) and published by a background loop.
/// - In: events published by other replicas and by the health probe are applied through
///   <see cref="BackendStateUpdater"/> as they arrive (one pub/sub hop).
/// - Loss: replicas keep serving on local state; the loss is logged once and <c>/health</c> says Degraded (the
///   connection's own health check, see <see cref="Backends.Redis.SharedRedis"/>).
///   On reconnect the stored throttles, circuits and verdicts are read back and applied (resynchronise).
/// </remarks>
internal sealed partial class SharedStateSynchronizer : IHostedService, IAsyncDisposable
{
    private readonly IBackendStateStore _store;
    private readonly BackendRegistry _registry;
    private readonly BackendStateUpdater _updater;
    private readonly TimeProvider _time;
    private readonly ILogger<SharedStateSynchronizer> _logger;
    private readonly Channel<BackendEvent> _outbox = Channel.CreateBounded<BackendEvent>(new BoundedChannelOptions(1024)
    {
        FullMode = BoundedChannelFullMode.DropOldest,
        SingleReader = true,
    });
    private readonly CancellationTokenSource _stopping = new();
    private Task? _publisher;

    public SharedStateSynchronizer(IBackendStateStore store, BackendRegistry registry, BackendStateUpdater updater, TimeProvider time, ILogger<SharedStateSynchronizer> logger)
    {
        _store = store;
        _registry = registry;
        _updater = updater;
        _time = time;
        _logger = logger;
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _updater.Changed += OnLocalChange;
        _store.EventReceived += Apply;
        _store.ConnectionChanged += OnConnectionChanged;
        await _store.StartAsync(cancellationToken).ConfigureAwait(false);
        _publisher = Task.Run(PublishLoopAsync, CancellationToken.None);
        if (!_store.IsShared)
        {
            LogNotShared(_logger);
        }
        else if (_store.IsConnected)
        {
            OnConnectionChanged(true);
        }
    }

    private void OnLocalChange(BackendStateChange change)
    {
        if (change.Source != BackendStateChangeSource.Local || change.Kind is not (BackendStateChangeKind.Throttled or BackendStateChangeKind.CircuitOpened))
        {
            return;
        }
        var kind = change.Kind == BackendStateChangeKind.Throttled ? BackendEventKind.Throttled : BackendEventKind.CircuitOpened;
        _outbox.Writer.TryWrite(new BackendEvent(kind, change.Backend, TicksToUnixMs(change.Until), _store.InstanceId) { Deployment = change.Deployment });
    }

    private async Task PublishLoopAsync()
    {
        var reader = _outbox.Reader;
        try
        {
            while (await reader.WaitToReadAsync(_stopping.Token).ConfigureAwait(false))
            {
                while (reader.TryRead(out var backendEvent))
                {
                    if (!_store.IsConnected)
                    {
                        // Lost: local state still holds it; a peer will learn it from its own traffic.
                        continue;
                    }
                    try
                    {
                        await _store.PublishAsync(backendEvent, _stopping.Token).ConfigureAwait(false);
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException)
                    {
                        LogPublishFailed(_logger, backendEvent.Backend, ex.GetType().Name);
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    private void Apply(BackendEvent backendEvent)
    {
        if (!_registry.TryGetState(backendEvent.Backend, out var state))
        {
            return;
        }
        switch (backendEvent.Kind)
        {
            case BackendEventKind.Throttled when backendEvent.Deployment is { } deployment:
                _updater.OnPeerThrottled(state, deployment, UnixMsToTicks(backendEvent.UntilUnixMs));
                break;
            case BackendEventKind.CircuitOpened:
                _updater.OnPeerCircuitOpened(state, UnixMsToTicks(backendEvent.UntilUnixMs));
                break;
            case BackendEventKind.Health when backendEvent.Health is { } report:
                var checkedAt = UnixMsToTicks(report.CheckedAtUnixMs);
                if (checkedAt < state.ProbeCheckedAt)
                {
                    return; // an older verdict than the one we hold
                }
                _updater.OnProbeVerdict(state, report.Status, UnixMsToTicks(report.RetryAtUnixMs), TimeSpan.FromMilliseconds(report.LatencyMs), checkedAt);
                break;
        }
    }

    // The loss and the recovery are logged once by the connection's owner (SharedRedis); here only the consequence.
    private void OnConnectionChanged(bool connected)
    {
        if (connected)
        {
            _ = ResynchroniseAsync();
        }
    }

    private async Task ResynchroniseAsync()
    {
        try
        {
            var backends = _registry.Catalog.Backends.Select(b => new BackendDeployments(b.Name, [.. b.Definition.Deployments.Keys])).ToList();
            var events = await _store.ReadAsync(backends, _stopping.Token).ConfigureAwait(false);
            foreach (var backendEvent in events)
            {
                Apply(backendEvent);
            }
            LogResynchronised(_logger, events.Count);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogResyncFailed(_logger, ex.GetType().Name);
        }
    }

    private static long TicksToUnixMs(long ticks) => (ticks - DateTimeOffset.UnixEpoch.UtcTicks) / TimeSpan.TicksPerMillisecond;
    private static long UnixMsToTicks(long unixMs) => unixMs <= 0 ? 0 : DateTimeOffset.UnixEpoch.UtcTicks + (unixMs * TimeSpan.TicksPerMillisecond);

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _updater.Changed -= OnLocalChange;
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_publisher is { } publisher)
        {
            await publisher.ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stopping.Dispose();
        await _store.DisposeAsync().ConfigureAwait(false);
    }

    [LoggerMessage(1501, LogLevel.Information, "No Redis configured (ConnectionStrings:redis): backend state is local to this replica.")]
    private static partial void LogNotShared(ILogger logger);

    [LoggerMessage(1504, LogLevel.Information, "Resynchronised {Count} shared backend facts from Redis.")]
    private static partial void LogResynchronised(ILogger logger, int count);

    [LoggerMessage(1505, LogLevel.Warning, "Resynchronisation from Redis failed ({Error}); events will keep the state current.")]
    private static partial void LogResyncFailed(ILogger logger, string error);

    [LoggerMessage(1506, LogLevel.Debug, "Publishing a backend event for {Backend} failed ({Error}).")]
    private static partial void LogPublishFailed(ILogger logger, string backend, string error);
}
