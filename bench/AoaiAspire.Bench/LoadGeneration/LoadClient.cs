using System.Net;

namespace AoaiAspire.Bench.LoadGeneration;

/// <summary>The one <see cref="HttpClient"/> every load generator shares: plenty of connections, no proxy, no timeout of its own.</summary>
internal static class LoadClient
{
    public static HttpClient Shared { get; } = new(new SocketsHttpHandler
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        AutomaticDecompression = DecompressionMethods.None,
        UseCookies = false,
        MaxConnectionsPerServer = 4096,
        PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(2),
        ConnectTimeout = TimeSpan.FromSeconds(5),
    })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    /// <summary>A separate small client for control calls (simulator faults and stats) so they never queue behind load.</summary>
    public static HttpClient Control { get; } = new(new SocketsHttpHandler { UseProxy = false, MaxConnectionsPerServer = 8 })
    {
        Timeout = TimeSpan.FromSeconds(10),
    };
}
