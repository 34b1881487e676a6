using AoaiAspire.Gateway.Configuration;
using AoaiAspire.Gateway.Availability;

namespace AoaiAspire.Gateway.Status;

/// <summary>One throttle, circuit or probe change as the status page lists it. Times are UTC ticks.</summary>
internal readonly record struct BackendEventEntry(long At, string Backend, BackendStateChangeKind Kind, long Until, BackendStateChangeSource Source, HealthStatus? Verdict);

/// <summary>
/// The last <see cref="Capacity"/> state changes, kept in a ring fed by <see cref="BackendStateUpdater.Changed"/>.
/// The handler runs on the request path (a 429 raises it), so it only takes a short lock and writes one slot.
/// </summary>
internal sealed class BackendEventLog : IDisposable
{
    public const int Capacity = 100;

    private readonly BackendStateUpdater _updater;
    private readonly BackendRegistry _registry;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly BackendEventEntry[] _ring = new BackendEventEntry[Capacity];
    private long _count;

    public BackendEventLog(BackendStateUpdater updater, BackendRegistry registry, TimeProvider time)
    {
        _updater = updater;
        _registry = registry;
        _time = time;
        updater.Changed += OnChanged;
    }

    /// <summary>Events since start, the ones the ring no longer holds included.</summary>
    public long Count
    {
        get
        {
            lock (_lock)
            {
                return _count;
            }
        }
    }

    /// <summary>The retained events, newest first.</summary>
    public BackendEventEntry[] Snapshot()
    {
        lock (_lock)
        {
            var n = (int)Math.Min(_count, Capacity);
            var result = new BackendEventEntry[n];
            for (var i = 0; i < n; i++)
            {
                result[i] = _ring[(int)((_count - 1 - i) % Capacity)];
            }
            return result;
        }
    }

    internal void OnChanged(BackendStateChange change)
    {
        // The verdict is not in the change; the state already holds it. A linear scan of a small array, no lock.
        HealthStatus? verdict = null;
        if (change.Kind == BackendStateChangeKind.ProbeVerdictChanged)
        {
            foreach (var state in _registry.Catalog.Backends)
            {
                if (string.Equals(state.Name, change.Backend, StringComparison.OrdinalIgnoreCase))
                {
                    verdict = state.ProbeVerdict;
                    break;
                }
            }
        }
        var entry = new BackendEventEntry(_time.GetUtcNow().UtcTicks, change.Backend, change.Kind, change.Until, change.Source, verdict);
        lock (_lock)
        {
            _ring[(int)(_count % Capacity)] = entry;
            _count++;
        }
    }

    public void Dispose() => _updater.Changed -= OnChanged;
}
