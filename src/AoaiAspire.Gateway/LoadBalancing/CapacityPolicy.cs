using AoaiAspire.Gateway.Configuration;

namespace AoaiAspire.Gateway.LoadBalancing;

/// <summary>
/// Steers traffic away from a backend before it throttles: a backend known to have fewer tokens (or
/// requests) left than this request's estimate is passed over, so the request goes to a sibling or spills
/// to the next priority group instead of collecting a 429. Among the rest, the choice is weighted by what
/// each has left (times its weight), which spreads load in proportion to remaining capacity. A backend
/// with no reading yet counts as having its share.
/// </summary>
internal sealed class CapacityPolicy(Random random, TimeProvider time) : ILoadBalancingPolicy
{
    /// <summary>Stand-in for a backend with no reading yet, so that it gets traffic and a reading.</summary>
    private const long UnknownRemaining = 100_000;

    public string Name => LoadBalancingPolicies.Capacity;

    public int Pick(DeploymentRoute route, ReadOnlySpan<int> available, long estimatedTokens)
    {
        // The estimate is not the backend's own count (no tokenizer here): keep a margin of 10% and 16 tokens.
        estimatedTokens += (estimatedTokens / 10) + 16;
        var now = time.GetUtcNow().UtcTicks;
        Span<long> score = stackalloc long[available.Length];
        long total = 0;
        for (var k = 0; k < available.Length; k++)
        {
            var candidate = route.Candidates[available[k]];
            var tokens = candidate.Capacity.RemainingTokens(now);
            var requests = candidate.Capacity.RemainingRequests(now);
            if ((tokens >= 0 && tokens < estimatedTokens) || requests == 0)
            {
                continue; // would be throttled: leave it alone
            }
            score[k] = (tokens < 0 ? UnknownRemaining : Math.Max(1, tokens - estimatedTokens)) * candidate.Backend.Weight;
            total += score[k];
        }
        if (total == 0)
        {
            return -1;
        }
        var roll = (long)(random.NextDouble() * total);
        for (var k = 0; k < available.Length; k++)
        {
            roll -= score[k];
            if (score[k] > 0 && roll < 0)
            {
                return k;
            }
        }
        for (var k = available.Length - 1; k >= 0; k--)
        {
            if (score[k] > 0)
            {
                return k;
            }
        }
        return -1;
    }
}
