using AoaiAspire.Bench.LoadGeneration;
using AoaiAspire.Bench.Processes;
using AoaiAspire.Bench.Simulators;

namespace AoaiAspire.Bench.Contenders;

/// <summary>
/// The application-side approach many teams start with: the client knows every region, shuffles them per
/// request and moves to the next on a connection failure, a 429 or a 5xx, with no memory between requests
/// (no Retry-After bench, no circuit) and no priorities. Once a stream has started it cannot retry.
/// </summary>
internal sealed class ClientRetryContender(SimulatorFleet fleet, TimeSpan requestTimeout) : IContender
{
    private readonly HttpSender _sender = new(LoadClient.Shared, fleet.RegionNames, requestTimeout);
    private readonly Uri[] _endpoints = [.. fleet.Regions.Select(r => r.Endpoint)];

    public string Name => ContenderCatalog.ClientRetry;
    public ProcessMeter? Proxy => null;

    public async Task<Sample> SendAsync(ChatRequest request, long dueTimestamp, CancellationToken cancellationToken)
    {
        var order = (Uri[])_endpoints.Clone();
        Random.Shared.Shuffle(order);
        Sample sample = default;
        for (var attempt = 0; attempt < order.Length; attempt++)
        {
            sample = await _sender.SendAsync(order[attempt], request, dueTimestamp, cancellationToken);
            sample.Attempts = (byte)(attempt + 1);
            var retry = sample.Outcome == Outcome.Failed || sample.Status == 429 || sample.Status >= 500;
            if (!retry || cancellationToken.IsCancellationRequested)
            {
                break;
            }
        }
        return sample;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
