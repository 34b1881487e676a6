using System.Diagnostics;
using System.Net;
using AoaiAspire.Gateway.Configuration;
using Microsoft.Extensions.Options;

namespace AoaiAspire.Gateway.Forwarding;

/// <summary>
/// The one long-lived client for every backend, shaped like YARP's forwarder client: no proxy, no
/// redirects, no decompression, no cookies, several HTTP/2 connections, a connect timeout. It does not
/// go through a generic retry handler: choosing the next backend is the gateway's job.
/// </summary>
internal sealed class UpstreamInvoker : IDisposable
{
    public UpstreamInvoker(IOptions<GatewayOptions> options)
    {
        var upstream = options.Value.Upstream;
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            EnableMultipleHttp2Connections = true,
            ConnectTimeout = upstream.ConnectTimeout,
            PooledConnectionLifetime = upstream.PooledConnectionLifetime,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(90),
            MaxConnectionsPerServer = int.MaxValue,
            // Trace context is added by the gateway's own attempt activity, not a second time here.
            ActivityHeadersPropagator = DistributedContextPropagator.CreateDefaultPropagator(),
            // Kestrel accepts UTF-8 header values from callers; send them on as they came rather than fail the attempt.
            RequestHeaderEncodingSelector = static (_, _) => System.Text.Encoding.UTF8,
        };
        Invoker = new HttpMessageInvoker(handler, disposeHandler: true);
    }

    public HttpMessageInvoker Invoker { get; }

    public void Dispose() => Invoker.Dispose();
}
