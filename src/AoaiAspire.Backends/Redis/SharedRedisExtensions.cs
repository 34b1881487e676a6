using AoaiAspire.Backends.State;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace AoaiAspire.Backends.Redis;

internal static class SharedRedisExtensions
{
    /// <summary>
    /// When <c>ConnectionStrings:redis</c> is set (<c>host:port[,password=…][,ssl=true]</c>, StackExchange.Redis's own
    /// format, which the AppHost passes), registers the process's one <see cref="IConnectionMultiplexer"/> through
    /// Aspire's client integration and the <see cref="SharedRedis"/> that owns it. Returns false (and registers
    /// nothing) without it.
    /// </summary>
    /// <param name="tracing">Trace Redis commands; pass whether telemetry is exported, so that nothing builds a
    /// tracer provider when nobody reads it.</param>
    /// <remarks>
    /// Start never fails because Redis is down (Aspire sets <c>abortConnect=false</c>; the first connect waits at most
    /// <c>connectTimeout</c>, then the multiplexer keeps reconnecting in the background). Commands fail at once while
    /// disconnected instead of waiting in a backlog. Aspire's health check is kept as the connection's only one, with
    /// Degraded as its failure status: a replica without Redis still serves (README "Shared state").
    /// </remarks>
    public static bool AddSharedRedis(this IHostApplicationBuilder builder, bool tracing)
    {
        if (string.IsNullOrWhiteSpace(builder.Configuration.GetConnectionString(SharedRedis.ConnectionName)))
        {
            return false;
        }
        if (builder.Services.Any(d => d.ServiceType == typeof(SharedRedis)))
        {
            return true;
        }
        builder.AddRedisClient(SharedRedis.ConnectionName,
            settings => settings.DisableTracing |= !tracing,
            options => options.BacklogPolicy = BacklogPolicy.FailFast);
        builder.Services.PostConfigure<HealthCheckServiceOptions>(health =>
        {
            foreach (var registration in health.Registrations)
            {
                if (registration.Name == SharedRedis.HealthCheckName)
                {
                    registration.FailureStatus = Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Degraded;
                }
            }
        });
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<SharedRedis>();
        return true;
    }

    /// <summary>
    /// <see cref="IBackendStateStore"/>: on the shared Redis connection when <c>ConnectionStrings:redis</c> is set,
    /// else this process's memory.
    /// </summary>
    public static IHostApplicationBuilder AddSharedBackendState(this IHostApplicationBuilder builder, bool tracing)
    {
        builder.AddSharedRedis(tracing);
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.TryAddSingleton<IBackendStateStore>(sp => sp.GetService<SharedRedis>() is { } redis
            ? new RedisBackendStateStore(redis, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<RedisBackendStateStore>>())
            : new InMemoryBackendStateStore(sp.GetRequiredService<TimeProvider>()));
        return builder;
    }
}
