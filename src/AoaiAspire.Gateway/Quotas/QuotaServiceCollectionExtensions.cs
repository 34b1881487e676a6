using AoaiAspire.Backends.Redis;
using AoaiAspire.Backends.State;
using AoaiAspire.Gateway.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace AoaiAspire.Gateway.Quotas;

internal static class QuotaServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="IConsumerQuotas"/> (limits from <c>Gateway:Consumers:{name}</c>, validated at start-up),
    /// its Redis synchronisation (<c>Gateway:Quotas</c>, <c>ConnectionStrings:redis</c>) and the <c>quotas</c> health check.
    /// Expects <see cref="GatewayOptions"/> to be bound already. The Redis connection of the backend state store is reused
    /// when there is one.
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

        services.AddSingleton(sp =>
        {
            var time = sp.GetRequiredService<TimeProvider>();
            var logger = sp.GetRequiredService<ILogger<QuotaSynchronizer>>();
            var options = sp.GetRequiredService<IOptions<ConsumerQuotaOptions>>().Value;
            var quotas = sp.GetRequiredService<ConsumerQuotas>();
            if (sp.GetService<IBackendStateStore>() is RedisBackendStateStore shared)
            {
                return new QuotaSynchronizer(quotas, shared.Client, ownsClient: false, options, time, logger);
            }
            var redis = RedisConnectionOptions.FromConfiguration(sp.GetRequiredService<IConfiguration>());
            var client = redis is null ? null : RedisClient.Create(redis, sp.GetRequiredService<ILogger<RedisClient>>(), time);
            return new QuotaSynchronizer(quotas, client, ownsClient: true, options, time, logger);
        });
        services.AddHostedService(sp => sp.GetRequiredService<QuotaSynchronizer>());
        services.AddHealthChecks().AddCheck<QuotaSynchronizer>("quotas");
        return services;
    }
}
