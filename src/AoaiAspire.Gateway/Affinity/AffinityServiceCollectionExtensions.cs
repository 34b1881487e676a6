using AoaiAspire.Backends.Redis;
using AoaiAspire.Gateway.Responses;
using Microsoft.Extensions.Options;

namespace AoaiAspire.Gateway.Affinity;

internal static class AffinityServiceCollectionExtensions
{
    /// <summary>The affinity directory (shared through Redis when <c>ConnectionStrings:redis</c> is set) and the Responses routes' helpers.</summary>
    public static IServiceCollection AddStatefulAffinity(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<AffinityOptions>()
            .Bind(configuration.GetSection(AffinityOptions.SectionName))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<AffinityOptions>, AffinityOptionsValidator>();
        // On the process's one Redis connection when ConnectionStrings:redis is set (AddSharedBackendState registers it).
        services.AddSingleton<IAffinityStore>(sp => sp.GetService<SharedRedis>() is { } redis
            ? new RedisAffinityStore(redis, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<RedisAffinityStore>>())
            : new LocalAffinityStore());
        services.AddSingleton<AffinityDirectory>();
        services.AddHostedService(sp => sp.GetRequiredService<AffinityDirectory>());
        services.AddSingleton<ResponsesRouting>();
        return services;
    }
}
