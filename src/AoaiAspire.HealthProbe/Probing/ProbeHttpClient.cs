using System.Net;
using AoaiAspire.HealthProbe.Configuration;
using Microsoft.Extensions.Options;

namespace AoaiAspire.HealthProbe.Probing;

/// <summary>
/// The one long-lived client for every probe, over a plain <see cref="SocketsHttpHandler"/>. It is not an
/// <c>IHttpClientFactory</c> client on purpose: ServiceDefaults puts the standard resilience handler (retries,
/// circuit breaker) on those, and a probe must see each failure as it is.
/// </summary>
internal sealed class ProbeHttpClient : IDisposable
{
    public ProbeHttpClient(IOptions<HealthProbeOptions> options)
    {
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            ConnectTimeout = options.Value.Timeout,
            // New connections now and then, so DNS changes (a failed-over endpoint) are seen.
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(90),
        };
        Invoker = new HttpMessageInvoker(handler, disposeHandler: true);
    }

    public HttpMessageInvoker Invoker { get; }

    public void Dispose() => Invoker.Dispose();
}
