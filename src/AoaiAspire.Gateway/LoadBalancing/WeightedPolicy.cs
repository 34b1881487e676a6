using AoaiAspire.Gateway.Configuration;

namespace AoaiAspire.Gateway.LoadBalancing;

/// <summary>The default: weighted random choice inside the priority group (the group itself is chosen by the selector).</summary>
internal sealed class WeightedPolicy(Random random) : ILoadBalancingPolicy
{
    public string Name => LoadBalancingPolicies.Weighted;

    public int Pick(DeploymentRoute route, ReadOnlySpan<int> available, long estimatedTokens)
    {
        if (available.Length == 1)
        {
            return 0;
        }
        var total = 0;
        foreach (var i in available)
        {
            total += route.Candidates[i].Backend.Weight;
        }
        var roll = random.Next(total);
        for (var k = 0; k < available.Length; k++)
        {
            roll -= route.Candidates[available[k]].Backend.Weight;
            if (roll < 0)
            {
                return k;
            }
        }
        return available.Length - 1;
    }
}
