using System.Collections.Concurrent;
using AoaiAspire.Backends.State;

namespace AoaiAspire.HealthProbe.Probing;

/// <summary>The latest verdict this replica produced on each backend (what <c>/status</c> shows).</summary>
internal sealed record ProbeVerdict(string Backend, string Region, BackendHealthReport Report, string Detail, bool Published);

/// <summary>The latest verdicts this replica produced, and its rounds: read by <c>/status</c> and <c>/health</c>.</summary>
internal sealed class ProbeVerdicts(TimeProvider time)
{
    private readonly ConcurrentDictionary<string, ProbeVerdict> _latest = new(StringComparer.Ordinal);
    private long _rounds;
    private long _lastRoundCompletedUnixMs;

    /// <summary>When this replica started; the first round is due at once.</summary>
    public DateTimeOffset StartedAt { get; } = time.GetUtcNow();

    /// <summary>Rounds completed since start.</summary>
    public long Rounds => Interlocked.Read(ref _rounds);

    /// <summary>When the last round completed; null before the first.</summary>
    public DateTimeOffset? LastRoundCompletedAt
        => Interlocked.Read(ref _lastRoundCompletedUnixMs) is var ms and > 0 ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;

    /// <summary>Keeps <paramref name="verdict"/> and returns the one it replaces, if any.</summary>
    public ProbeVerdict? Record(ProbeVerdict verdict)
    {
        ProbeVerdict? previous = null;
        _latest.AddOrUpdate(verdict.Backend, verdict, (_, old) =>
        {
            previous = old;
            return verdict;
        });
        return previous;
    }

    public void RoundCompleted()
    {
        Interlocked.Exchange(ref _lastRoundCompletedUnixMs, time.GetUtcNow().ToUnixTimeMilliseconds());
        Interlocked.Increment(ref _rounds);
    }

    /// <summary>Forgets backends no longer configured.</summary>
    public void Retain(IReadOnlyCollection<string> backends)
    {
        foreach (var name in _latest.Keys)
        {
            if (!backends.Contains(name))
            {
                _latest.TryRemove(name, out _);
            }
        }
    }

    public IReadOnlyList<ProbeVerdict> Snapshot() => [.. _latest.Values.OrderBy(v => v.Backend, StringComparer.Ordinal)];
}
