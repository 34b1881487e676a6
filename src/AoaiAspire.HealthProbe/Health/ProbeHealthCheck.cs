using AoaiAspire.Backends.State;
using AoaiAspire.HealthProbe.Configuration;
using AoaiAspire.HealthProbe.Probing;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace AoaiAspire.HealthProbe.Health;

/// <summary>
/// The probe's own health, on <c>/health</c>: Unhealthy when no round has completed for
/// <see cref="HealthProbeOptions.StaleAfter"/> (its verdicts are fading from Redis); Degraded before the first
/// round, and while a configured Redis is unreachable (probing goes on, nothing is published); else Healthy.
/// </summary>
internal sealed class ProbeHealthCheck(ProbeVerdicts verdicts, IBackendStateStore store, IOptionsMonitor<HealthProbeOptions> options, TimeProvider time) : IHealthCheck
{
    public const string Name = "health-probe";

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow();
        var staleAfter = options.CurrentValue.StaleAfter;
        var data = new Dictionary<string, object>
        {
            ["rounds"] = verdicts.Rounds,
            ["sharedState"] = store.IsShared ? "redis" : "in-memory",
        };
        var last = verdicts.LastRoundCompletedAt;
        if (last is null)
        {
            return Task.FromResult(now - verdicts.StartedAt > staleAfter
                ? HealthCheckResult.Unhealthy($"No probe round has completed in {staleAfter.TotalSeconds:0.#} s since start.", data: data)
                : HealthCheckResult.Degraded("The first probe round has not completed yet.", data: data));
        }
        data["lastRoundCompletedAt"] = last.Value;
        if (now - last.Value > staleAfter)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy($"No probe round has completed in {staleAfter.TotalSeconds:0.#} s.", data: data));
        }
        if (store.IsShared && !store.IsConnected)
        {
            return Task.FromResult(HealthCheckResult.Degraded("Redis is unreachable: backends are probed but verdicts are not published.", data: data));
        }
        return Task.FromResult(HealthCheckResult.Healthy("Probing.", data));
    }
}
