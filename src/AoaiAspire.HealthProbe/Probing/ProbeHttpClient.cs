using System.Net;
using AoaiAspire.HealthProbe.Configuration;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Options;
using Polly;

namespace AoaiAspire.HealthProbe.Probing;

/// <summary>
/// The probe's <c>IHttpClientFactory</c> client (<see cref="Name"/>): service discovery from ServiceDefaults, so a
/// backend may be named by its app service name, and the standard resilience handler tuned for probing.
/// </summary>
/// <remarks>
/// A probe must report what it sees: a retry would turn a backend that fails one call in two into "healthy", and an
/// open circuit breaker would report "unreachable" without calling it. So the standard handler keeps its rate limiter
/// and timeouts (the attempt and the total are <see cref="HealthProbeOptions.Timeout"/>) but never retries and never
/// opens its circuit; the next round is the probe's retry. See docs/health-probe.md.
/// </remarks>
internal sealed class ProbeHttpClient(IHttpClientFactory factory)
{
    public const string Name = "health-probe";

    public HttpMessageInvoker Invoker { get; } = factory.CreateClient(Name);

    /// <summary>Registers the named client (after ServiceDefaults' <c>ConfigureHttpClientDefaults</c>, whose standard handler it replaces).</summary>
    public static IServiceCollection Register(IServiceCollection services)
    {
#pragma warning disable EXTEXP0001 // RemoveAllResilienceHandlers is marked experimental; it is how the docs replace the default handler for one client.
        services.AddHttpClient(Name, client => client.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(sp => new SocketsHttpHandler
            {
                UseProxy = false,
                AllowAutoRedirect = false,
                AutomaticDecompression = DecompressionMethods.None,
                UseCookies = false,
                ConnectTimeout = sp.GetRequiredService<IOptions<HealthProbeOptions>>().Value.Timeout,
            })
            .RemoveAllResilienceHandlers()
            .AddStandardResilienceHandler()
            .Configure((options, sp) => ConfigureForProbing(options, sp.GetRequiredService<IOptions<HealthProbeOptions>>().Value.Timeout));
#pragma warning restore EXTEXP0001
        return services;
    }

    internal static void ConfigureForProbing(HttpStandardResilienceOptions options, TimeSpan timeout)
    {
        options.Retry.ShouldHandle = static _ => PredicateResult.False();
        options.CircuitBreaker.ShouldHandle = static _ => PredicateResult.False();
        options.AttemptTimeout.Timeout = timeout;
        // The validator wants the total above the attempt and the sampling window at least two attempts long.
        options.TotalRequestTimeout.Timeout = timeout + TimeSpan.FromSeconds(1);
        if (options.CircuitBreaker.SamplingDuration < 2 * timeout)
        {
            options.CircuitBreaker.SamplingDuration = 2 * timeout;
        }
    }
}
