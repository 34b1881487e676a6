using AoaiAspire.Gateway.Configuration;

namespace AoaiAspire.Gateway.LoadBalancing;

/// <summary>
/// Chooses one backend among the available candidates of the best priority group (as YARP's
/// <c>ILoadBalancingPolicy</c>). Priority groups, throttles, circuits and probe verdicts are applied by
/// <see cref="BackendSelector"/> before a policy is asked.
/// </summary>
internal interface ILoadBalancingPolicy
{
    string Name { get; }

    /// <summary>
    /// Returns an index into <paramref name="available"/> (whose values index <see cref="DeploymentRoute.Candidates"/>),
    /// or -1 when none of them suits this request (the selector then looks at the next priority group).
    /// </summary>
    int Pick(DeploymentRoute route, ReadOnlySpan<int> available, long estimatedTokens);
}

/// <summary>Policy names, declared once.</summary>
internal static class LoadBalancingPolicies
{
    /// <summary>Weighted random choice inside the group: the default.</summary>
    public const string Weighted = "weighted";
    public const string RoundRobin = "round-robin";
    public const string LeastLatency = "least-latency";
    public const string Capacity = "capacity";

    /// <summary>
    /// The name <see cref="Weighted"/> had before: every policy works inside priority groups, so a policy called
    /// "priority" misled. Still accepted, so existing configuration keeps working.
    /// </summary>
    public const string PriorityAlias = "priority";

    public const string Default = Weighted;

    public static readonly string[] Names = [Weighted, RoundRobin, LeastLatency, Capacity];

    /// <summary>The policy's canonical name, or null when <paramref name="name"/> names none.</summary>
    public static string? Canonical(string? name)
    {
        if (string.Equals(name, PriorityAlias, StringComparison.OrdinalIgnoreCase))
        {
            return Weighted;
        }
        foreach (var known in Names)
        {
            if (string.Equals(name, known, StringComparison.OrdinalIgnoreCase))
            {
                return known;
            }
        }
        return null;
    }

    public static bool IsKnown(string name) => Canonical(name) is not null;
}
