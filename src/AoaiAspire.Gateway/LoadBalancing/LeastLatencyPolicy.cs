using AoaiAspire.Gateway.Configuration;

namespace AoaiAspire.Gateway.LoadBalancing;

/// <summary>
/// Prefers faster backends without piling everything on the fastest: a weighted random choice where each
/// backend's share is its weight over the square of its smoothed latency (EWMA of successful attempts). Two
/// backends at 40 and 44 ms split traffic about 55/45; at 40 and 400 ms, about 99/1. A backend never measured yet
/// is tried first, so that every backend gets a latency.
/// </summary>
internal sealed class LeastLatencyPolicy(Random random) : ILoadBalancingPolicy
{
    public string Name => LoadBalancingPolicies.LeastLatency;

    public int Pick(DeploymentRoute route, ReadOnlySpan<int> available, long estimatedTokens)
    {
        if (available.Length == 1)
        {
            return 0;
        }
        Span<double> share = stackalloc double[available.Length];
        var total = 0.0;
        for (var k = 0; k < available.Length; k++)
        {
            var candidate = route.Candidates[available[k]];
            var latency = candidate.State.LatencyMs;
            if (double.IsNaN(latency))
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
