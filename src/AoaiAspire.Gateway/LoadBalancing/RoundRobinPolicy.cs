using AoaiAspire.Gateway.Configuration;

namespace AoaiAspire.Gateway.LoadBalancing;

/// <summary>Each available backend of the group in turn; weights are ignored.</summary>
internal sealed class RoundRobinPolicy : ILoadBalancingPolicy
{
    public string Name => LoadBalancingPolicies.RoundRobin;

    public int Pick(DeploymentRoute route, ReadOnlySpan<int> available, long estimatedTokens)
    {
        var next = Interlocked.Increment(ref route.Cursor) & int.MaxValue;
        return next % available.Length;
    }
}
