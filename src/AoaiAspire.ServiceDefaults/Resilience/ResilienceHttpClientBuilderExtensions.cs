using AoaiAspire.ServiceDefaults.Resilience;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Http;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// <c>AddStandardResilienceHandler()</c> as Microsoft.Extensions.Http.Resilience spells it, so code
/// written against that package reads the same here.
/// </summary>
public static class ResilienceHttpClientBuilderExtensions
{
    /// <summary>
    /// Adds the standard resilience handler (concurrency limit 1000, total timeout 30 s, 3 retries
    /// with exponential jittered backoff from 2 s honouring Retry-After, circuit breaker 10 % over
    /// 30 s with at least 100 calls breaking 5 s, attempt timeout 10 s) to the client.
    /// </summary>
    /// <param name="builder">The client.</param>
    /// <param name="configure">Overrides for this client, applied after <c>ServiceDefaults:Http:Resilience</c>.</param>
    public static IHttpClientBuilder AddStandardResilienceHandler(this IHttpClientBuilder builder, Action<HttpStandardResilienceOptions>? configure = null)
    {
        builder.Services.AddStandardResilienceServices();
        builder.Services.AddOptions<HttpStandardResilienceOptions>(builder.Name ?? Options.Options.DefaultName).ValidateOnStart();
        if (configure is not null)
        {
            builder.Services.Configure(builder.Name, configure);
        }

        // Not AddHttpMessageHandler: under ConfigureHttpClientDefaults the builder has no name, and the
        // pipeline (with its circuit state) belongs to the client being built.
        builder.Services.Configure<HttpClientFactoryOptions>(builder.Name, static options =>
            options.HttpMessageHandlerBuilderActions.Add(static handlerBuilder =>
                handlerBuilder.AdditionalHandlers.Add(new StandardResilienceHandler(
                    handlerBuilder.Services.GetRequiredService<StandardResiliencePipelines>().Get(handlerBuilder.Name ?? Options.Options.DefaultName)))));
        return builder;
    }

    /// <summary>
    /// Takes the standard resilience handler off this client, for example one that
    /// <c>ConfigureHttpClientDefaults</c> gave it. For clients that do their own failover (the
    /// gateway's upstream calls pick the next backend instead of retrying the same one).
    /// </summary>
    public static IHttpClientBuilder RemoveStandardResilienceHandler(this IHttpClientBuilder builder) =>
        builder.ConfigureAdditionalHttpMessageHandlers(static (handlers, _) =>
        {
            for (var i = handlers.Count - 1; i >= 0; i--)
            {
                if (handlers[i] is StandardResilienceHandler)
                {
                    handlers.RemoveAt(i);
                }
            }
        });

    internal static IServiceCollection AddStandardResilienceServices(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<StandardResiliencePipelines>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<HttpStandardResilienceOptions>, HttpStandardResilienceOptionsValidator>());
        if (!services.Any(d => d.ServiceType == typeof(ResilienceConfigurationMarker)))
        {
            services.AddSingleton<ResilienceConfigurationMarker>();
            // Every client name: defaults from configuration, before any per-client Configure(name, …).
            services.AddOptions();
            services.AddSingleton<IConfigureOptions<HttpStandardResilienceOptions>>(sp =>
                new ConfigureNamedOptions<HttpStandardResilienceOptions>(
                    name: null,
                    options => sp.GetService<IConfiguration>()?.GetSection(HttpStandardResilienceOptions.SectionName).Bind(options)));
        }

        return services;
    }

    private sealed class ResilienceConfigurationMarker;
}
