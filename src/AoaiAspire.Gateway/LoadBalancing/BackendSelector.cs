using AoaiAspire.Gateway.Configuration;
using AoaiAspire.Gateway.Availability;
using Microsoft.Extensions.Options;

namespace AoaiAspire.Gateway.LoadBalancing;

/// <summary>The outcome of a selection when nothing could be picked.</summary>
internal readonly record struct NoBackend(bool AllThrottled, long RetryAt)
{
    /// <summary>A reason of its own for telemetry (the admission queue's shutdown answer); null for the usual two.</summary>
    public string? Reason { get; init; }

    /// <summary>The reason counted in telemetry for a request no backend served.</summary>
    public string RejectReason => Reason ?? (AllThrottled ? "all_throttled" : "no_backend");
}

/// <summary>
/// Candidates a lower priority class must leave alone for now, because what they have left of their token minute is
/// kept back for higher classes (Admission/AdmissionQueue.cs, <c>ReserveFactor</c>), and the soonest time (UTC ticks)
/// one of them may be used again. Default: none.
/// </summary>
internal readonly record struct Reservation(ulong Mask, long Until);

/// <summary>
/// Picks the backend for the next attempt: the lowest priority group that has an available candidate not
/// yet tried for this request, and inside it whatever the policy says. Allocation-free: the candidates a
/// request has tried are a bit mask, the available ones a stack span.
/// </summary>
/// <remarks>
/// Whatever the policy, a backend that is overdue (<see cref="BackendState.IsOverdue"/>: it holds attempts
/// that have waited longer than its own recent latency allows and has answered none for as long) is passed
/// over while any other candidate, in any group, can take the request; only when every one is overdue or
/// unavailable does a last pass use the overdue ones. Nothing is sent to an overdue backend to find out
/// whether it is back: the attempts it holds are the test, and it is used again as soon as one answers.
/// </remarks>
internal sealed class BackendSelector(ILoadBalancingPolicy policy, IOptionsMonitor<GatewayOptions>? options = null)
{
    private static readonly OverdueOptions NoOverdueRule = new() { Enabled = false };

    public ILoadBalancingPolicy Policy { get; } = policy;

    /// <summary>Returns the candidate index, or -1 with <paramref name="none"/> describing why.</summary>
    /// <param name="excluded">Candidates the caller's priority class may never use (Gateway:Admission:Classes:{name}:ExcludedPriorityGroups): never picked, and left out of <paramref name="none"/>.</param>
    /// <param name="reserved">Candidates kept back for higher classes right now: not picked, and counted in <paramref name="none"/> as throttled until the reservation's end.</param>
    public int Select(DeploymentRoute route, ulong tried, long now, out NoBackend none, long estimatedTokens = 0, ulong excluded = 0, Reservation reserved = default)
    {
        tried |= excluded | reserved.Mask;
        Span<int> available = stackalloc int[BackendCatalog.MaxCandidatesPerDeployment];
        var overdue = options?.CurrentValue.Routing.Overdue ?? NoOverdueRule;
        // First pass: the policy may pass over backends that would not suit this request (capacity);
        // if it passes over every one in every group, a second pass takes the first available backend.
        // Both leave overdue backends out; two more, only when those found nothing, let them back in.
        for (var pass = 0; pass < 4; pass++)
        {
            if (pass == 2 && !overdue.Enabled)
            {
                break;
            }
            foreach (var (start, length) in route.Groups)
            {
                var picked = SelectInGroup(route, start, length, ref tried, now, usePolicy: pass % 2 == 0, pass >= 2 ? NoOverdueRule : overdue, estimatedTokens, available);
                if (picked >= 0)
                {
                    none = default;
                    return picked;
                }
            }
        }

        // Nothing available: all throttled → the caller gets a 429 with the soonest end; otherwise a 503.
        var allThrottled = excluded != ulong.MaxValue >> (64 - route.Candidates.Length); // none allowed at all: a 503, not a 429
        var retryAt = long.MaxValue;
        for (var i = 0; i < route.Candidates.Length; i++)
        {
            if ((excluded & (1UL << i)) != 0)
            {
                continue;
            }
            var state = route.Candidates[i].State;
            var deployment = route.Candidates[i].Capacity;
            if ((reserved.Mask & (1UL << i)) != 0 && state.IsAvailable(now, deployment))
            {
                // Up and with capacity, but what it has left is kept for higher classes: to this caller, a throttle.
                retryAt = Math.Min(retryAt, reserved.Until);
                continue;
            }
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

    private int SelectInGroup(DeploymentRoute route, int start, int length, ref ulong tried, long now, bool usePolicy, OverdueOptions overdue, long estimatedTokens, Span<int> available)
    {
        // A half-open circuit lets one trial through; losing that race rules the candidate out and we look again.
        while (true)
        {
            var count = 0;
            for (var i = start; i < start + length; i++)
            {
                var state = route.Candidates[i].State;
                if ((tried & (1UL << i)) == 0 && state.IsAvailable(now, route.Candidates[i].Capacity) && !state.IsOverdue(now, overdue))
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
            if (BackendStateUpdater.TryBeginAttempt(route.Candidates[picked].State, now))
            {
                return picked;
            }
            tried |= 1UL << picked;
        }
    }
}
