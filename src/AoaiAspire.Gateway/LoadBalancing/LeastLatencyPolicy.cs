using AoaiAspire.Gateway.Configuration;

namespace AoaiAspire.Gateway.LoadBalancing;

/// <summary>
/// The backend with the lowest smoothed latency (EWMA of successful attempts). A backend never measured
/// yet is tried first so that every backend gets a latency; ties go to the higher weight.
/// </summary>
internal sealed class LeastLatencyPolicy : ILoadBalancingPolicy
{
    public string Name => LoadBalancingPolicies.LeastLatency;

    public int Pick(DeploymentRoute route, ReadOnlySpan<int> available, long estimatedTokens)
    {
        var best = 0;
        var bestLatency = double.MaxValue;
        for (var k = 0; k < available.Length; k++)
        {
            var candidate = route.Candidates[available[k]];
            var latency = candidate.State.LatencyMs;
            if (double.IsNaN(latency))
            {
                return k;
            }
            if (latency < bestLatency || (latency == bestLatency && candidate.Backend.Weight > route.Candidates[available[best]].Backend.Weight))
            {
                best = k;
                bestLatency = latency;
            }
        }
        return best;
    }
}
