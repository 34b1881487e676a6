using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace AoaiAspire.Gateway.Health;

/// <summary>Readiness goes Unhealthy as soon as shutdown begins, so load balancers stop sending new work while open streams finish.</summary>
internal sealed class ShutdownHealthCheck(IHostApplicationLifetime lifetime) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        => Task.FromResult(lifetime.ApplicationStopping.IsCancellationRequested
            ? HealthCheckResult.Unhealthy("Shutting down: finishing open requests.")
            : HealthCheckResult.Healthy());
}
