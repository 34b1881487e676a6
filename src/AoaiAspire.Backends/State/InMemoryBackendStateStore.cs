using System.Collections.Concurrent;

namespace AoaiAspire.Backends.State;

/// <summary>One process alone: state is kept locally, nothing is shared, no events arrive.</summary>
internal sealed class InMemoryBackendStateStore(TimeProvider time) : IBackendStateStore
{
    private readonly ConcurrentDictionary<string, BackendEvent> _latest = new(StringComparer.Ordinal);

    public string InstanceId { get; } = SharedStateNames.NewInstanceId();
    public bool IsShared => false;
    public bool IsConnected => true;

#pragma warning disable CS0067 // Nothing is ever shared in memory.
    public event Action<bool>? ConnectionChanged;
    public event Action<BackendEvent>? EventReceived;
#pragma warning restore CS0067

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task PublishAsync(BackendEvent backendEvent, CancellationToken cancellationToken)
    {
        _latest.AddOrUpdate($"{backendEvent.Kind}:{backendEvent.Backend}:{backendEvent.Deployment}", backendEvent, (_, old) => old.UntilUnixMs >= backendEvent.UntilUnixMs ? old : backendEvent);
        return Task.CompletedTask;
    }

    public Task<bool> PublishHealthAsync(BackendHealthReport report, TimeSpan timeToLive, CancellationToken cancellationToken)
    {
        var added = new BackendEvent(BackendEventKind.Health, report.Backend, 0, report.Reporter, report);
        var kept = _latest.AddOrUpdate($"{BackendEventKind.Health}:{report.Backend}", added,
            (_, old) => old.Health!.CheckedAtUnixMs > report.CheckedAtUnixMs ? old : added);
        return Task.FromResult(ReferenceEquals(kept, added));
    }

    public Task<IReadOnlyList<BackendEvent>> ReadAsync(IReadOnlyList<BackendDeployments> backends, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        IReadOnlyList<BackendEvent> events = [.. _latest.Values.Where(e => backends.Any(b => b.Backend == e.Backend) && (e.Kind == BackendEventKind.Health || e.UntilUnixMs > now))];
        return Task.FromResult(events);
    }

    public Task<bool> TryTakeProbeLeaseAsync(string backend, TimeSpan duration, CancellationToken cancellationToken) => Task.FromResult(true);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
