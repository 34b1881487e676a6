using AoaiAspire.Gateway.Configuration;

namespace AoaiAspire.Gateway.LoadBalancing;

/// <summary>
/// Prefers faster backends without piling everything on the fastest: a weighted random choice where each
/// backend's share is its weight over the square of its smoothed latency (EWMA of successful attempts). Two
/// backends at 40 and 44 ms split traffic about 55/45; at 40 and 400 ms, about 99/1. A backend never measured yet,
/// or whose last sample is older than <see cref="StaleAfter"/>, is tried first: a region that was slow gets one
/// request now and then, so its recovery is seen instead of being starved of the traffic that would show it.
/// </summary>
internal sealed class LeastLatencyPolicy(Random random, TimeProvider time) : ILoadBalancingPolicy
{
    public static readonly TimeSpan StaleAfter = TimeSpan.FromSeconds(10);

    public string Name => LoadBalancingPolicies.LeastLatency;

    public int Pick(DeploymentRoute route, ReadOnlySpan<int> available, long estimatedTokens)
    {
        if (available.Length == 1)
        {
            return 0;
        }
        Span<double> share = stackalloc double[available.Length];
        var total = 0.0;
        var staleBefore = time.GetUtcNow().UtcTicks - StaleAfter.Ticks;
        for (var k = 0; k < available.Length; k++)
        {
            var candidate = route.Candidates[available[k]];
            var latency = candidate.State.LatencyMs;
            if (double.IsNaN(latency) || candidate.State.LatencyMeasuredAt < staleBefore)
            {
                return k;
            }
            var ms = Math.Max(latency, 0.5);
            share[k] = candidate.Backend.Weight / (ms * ms);
            total += share[k];
        }
        var roll = random.NextDouble() * total;
        for (var k = 0; k < available.Length; k++)
        {
            roll -= share[k];
            if (roll < 0)
            {
                return k;
            }
        }
        return available.Length - 1;
    }
}
