using AoaiAspire.Gateway.Configuration;

namespace AoaiAspire.Gateway.LoadBalancing;

/// <summary>The outcome of a selection when nothing could be picked.</summary>
internal readonly record struct NoBackend(bool AllThrottled, long RetryAt)
{
    /// <summary>The reason counted in telemetry for a request no backend served.</summary>
    public string RejectReason => AllThrottled ? "all_throttled" : "no_backend";
}

/// <summary>
/// Picks the backend for the next attempt: the lowest priority group that has an available candidate not
/// yet tried for this request, and inside it whatever the policy says. Allocation-free: the candidates a
/// request has tried are a bit mask, the available ones a stack span.
/// </summary>
internal sealed class BackendSelector(ILoadBalancingPolicy policy)
{
    public ILoadBalancingPolicy Policy { get; } = policy;

    /// <summary>Returns the candidate index, or -1 with <paramref name="none"/> describing why.</summary>
    public int Select(DeploymentRoute route, ulong tried, long now, out NoBackend none, long estimatedTokens = 0)
    {
        Span<int> available = stackalloc int[BackendCatalog.MaxCandidatesPerDeployment];
        // First pass: the policy may pass over backends that would not suit this request (capacity);
        // if it passes over every one in every group, a second pass takes the first available backend.
        for (var pass = 0; pass < 2; pass++)
        {
            foreach (var (start, length) in route.Groups)
            {
                var picked = SelectInGroup(route, start, length, ref tried, now, usePolicy: pass == 0, estimatedTokens, available);
                if (picked >= 0)
                {
                    none = default;
                    return picked;
                }
            }
        }

        // Nothing available: all throttled → the caller gets a 429 with the soonest end; otherwise a 503.
        var allThrottled = true;
        var retryAt = long.MaxValue;
        for (var i = 0; i < route.Candidates.Length; i++)
        {
            var state = route.Candidates[i].State;
            var deployment = route.Candidates[i].Capacity;
            allThrottled &= state.IsThrottledOnly(now, deployment);
            var at = state.AvailableAt(now, deployment);
            if (at > 0 && at < retryAt)
            {
                retryAt = at;
            }
        }
        none = new NoBackend(allThrottled, retryAt == long.MaxValue ? 0 : retryAt);
        return -1;
    }

    private int SelectInGroup(DeploymentRoute route, int start, int length, ref ulong tried, long now, bool usePolicy, long estimatedTokens, Span<int> available)
    {
        // A half-open circuit lets one trial through; losing that race rules the candidate out and we look again.
        while (true)
        {
            var count = 0;
            for (var i = start; i < start + length; i++)
            {
                if ((tried & (1UL << i)) == 0 && route.Candidates[i].State.IsAvailable(now, route.Candidates[i].Capacity))
                {
                    available[count++] = i;
                }
            }
            var choice = count == 0 ? -1 : usePolicy ? Policy.Pick(route, available[..count], estimatedTokens) : 0;
            if (choice < 0)
            {
                return -1;
            }
            var picked = available[choice];
            if (route.Candidates[picked].State.TryBeginAttempt(now))
            {
                return picked;
            }
            tried |= 1UL << picked;
        }
    }
}
