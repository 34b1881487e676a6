using AoaiAspire.Gateway.Configuration;

namespace AoaiAspire.Gateway.LoadBalancing;

/// <summary>
/// The default: inside the priority group (chosen by the selector), the power of two choices over weighted
/// random. Two distinct candidates are drawn in proportion to their weights and the one holding fewer
/// outstanding attempts per unit of weight on this replica gets the request (ties: the first draw). With two
/// candidates that is simply the less loaded one, weighted; with no load it is weighted random. A backend that
/// slows down accumulates attempts and loses its share at once, before the overdue rule needs to act.
/// </summary>
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
        var first = Draw(route, available, random.Next(total), skip: -1);
        var second = Draw(route, available, random.Next(total - route.Candidates[available[first]].Backend.Weight), skip: first);
        return Load(route, available[second]) < Load(route, available[first]) ? second : first;
    }

    /// <summary>
    /// Outstanding attempts per unit of weight (n / w, scaled to an integer). Not (n + 1) / w: with nothing
    /// outstanding every candidate ties, the first draw wins, and traffic follows the weights exactly.
    /// </summary>
    private static long Load(DeploymentRoute route, int candidate)
        => ((long)route.Candidates[candidate].State.Outstanding.Count << 16) / Math.Max(1, route.Candidates[candidate].Backend.Weight);

    private static int Draw(DeploymentRoute route, ReadOnlySpan<int> available, int roll, int skip)
    {
        var last = -1;
        for (var k = 0; k < available.Length; k++)
        {
            if (k == skip)
            {
                continue;
            }
            last = k;
            roll -= route.Candidates[available[k]].Backend.Weight;
            if (roll < 0)
            {
                return k;
            }
        }
        return last;
    }
}
