using AoaiAspire.Bench.LoadGeneration;
using AoaiAspire.Bench.Processes;
using AoaiAspire.Bench.Simulators;

namespace AoaiAspire.Bench.Contenders;

/// <summary>The baseline: the caller talks to the first region itself, nothing in between.</summary>
internal sealed class DirectContender(SimulatorFleet fleet, TimeSpan requestTimeout) : IContender
{
    private readonly HttpSender _sender = new(LoadClient.Shared, fleet.RegionNames, requestTimeout);
    private readonly Uri _endpoint = fleet.Regions[0].Endpoint;

    public string Name => ContenderCatalog.Direct;
    public ProcessMeter? Proxy => null;

    public Task<Sample> SendAsync(ChatRequest request, long dueTimestamp, CancellationToken cancellationToken)
        => _sender.SendAsync(_endpoint, request, dueTimestamp, cancellationToken);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
