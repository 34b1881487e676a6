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
    public const string Priority = "priority";
    public const string RoundRobin = "round-robin";
    public const string LeastLatency = "least-latency";
    public const string Capacity = "capacity";

    public static readonly string[] Names = [Priority, RoundRobin, LeastLatency, Capacity];

    public static bool IsKnown(string name) => Names.Contains(name, StringComparer.OrdinalIgnoreCase);
}
