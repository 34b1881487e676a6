using AoaiAspire.Bench.LoadGeneration;
using AoaiAspire.Bench.Processes;

namespace AoaiAspire.Bench.Contenders;

/// <summary>A way for a caller to reach the simulated regions: directly, through a proxy, or with its own retries.</summary>
internal interface IContender : IAsyncDisposable
{
    /// <summary>Name in tables and on the command line, e.g. <c>gateway-priority</c>.</summary>
    string Name { get; }

    /// <summary>The proxy process to meter, or null when there is none (direct, client-retry).</summary>
    ProcessMeter? Proxy { get; }

    /// <summary>Sends one logical request (a client-side retrier may make several attempts) and returns its record.</summary>
    Task<Sample> SendAsync(ChatRequest request, long dueTimestamp, CancellationToken cancellationToken);
}
