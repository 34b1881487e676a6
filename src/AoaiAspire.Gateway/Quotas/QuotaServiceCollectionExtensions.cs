using AoaiAspire.Backends.Redis;
using AoaiAspire.Gateway.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace AoaiAspire.Gateway.Quotas;

internal static class QuotaServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="IConsumerQuotas"/> (limits from <c>Gateway:Consumers:{name}</c>, validated at start-up),
    /// and its Redis synchronisation (<c>Gateway:Quotas</c>) on the process's one Redis connection, when
    /// <see cref="SharedRedis"/> is registered. Expects <see cref="GatewayOptions"/> to be bound already.
    /// </summary>
    public static IServiceCollection AddConsumerQuotas(this IServiceCollection services)
    {
        if (services.Any(d => d.ServiceType == typeof(ConsumerQuotas)))
        {
            return services; // registered already
        }
        services.TryAddSingleton(TimeProvider.System);
        services.AddOptions<ConsumerQuotaOptions>()
            .BindConfiguration(ConsumerQuotaOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<GatewayOptions>, QuotaOptionsValidator>();
        services.AddSingleton<IValidateOptions<ConsumerQuotaOptions>, QuotaOptionsValidator>();

        services.AddSingleton(sp =>
        {
            var monitor = sp.GetRequiredService<IOptionsMonitor<GatewayOptions>>();
            var quotas = new ConsumerQuotas(monitor.CurrentValue, sp.GetRequiredService<IOptions<ConsumerQuotaOptions>>().Value, sp.GetRequiredService<TimeProvider>());
            monitor.OnChange(quotas.Reload);
            return quotas;
        });
        services.AddSingleton<IConsumerQuotas>(sp => sp.GetRequiredService<ConsumerQuotas>());

        // The quota counts' own contract on the process's one Redis connection (registered by AddSharedBackendState).
        services.AddSingleton(sp => new QuotaSynchronizer(
            sp.GetRequiredService<ConsumerQuotas>(),
            sp.GetService<SharedRedis>() is { } redis ? new RedisQuotaCounts(redis) : null,
            sp.GetRequiredService<IOptions<ConsumerQuotaOptions>>().Value,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<QuotaSynchronizer>>()));
        services.AddHostedService(sp => sp.GetRequiredService<QuotaSynchronizer>());
        return services;
    }
}
