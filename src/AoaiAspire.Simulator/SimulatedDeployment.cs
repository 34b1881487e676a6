using AoaiAspire.Simulator.RateLimiting;

namespace AoaiAspire.Simulator;

/// <summary>A deployment of a running account: its options, its limits and its own counters.</summary>
internal sealed class SimulatedDeployment(string name, SimulatedDeploymentOptions options, TimeProvider time)
{
    public string Name { get; } = name;

    public SimulatedDeploymentOptions Options { get; } = options;

    public DeploymentRateLimiter Limiter { get; } = new(options.TokensPerMinute, options.RequestsPerMinute, time);

    public SimulatorStats Stats { get; } = new();
}
