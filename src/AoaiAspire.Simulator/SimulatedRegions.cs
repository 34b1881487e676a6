namespace AoaiAspire.Simulator;

/// <summary>
/// The simulated regions of a local run, in one place: the AppHost starts one simulator process for each (this file
/// is compiled into the AppHost too), and the gateway's demo mode hosts the same regions in-process.
/// </summary>
public static class SimulatedRegions
{
    /// <summary>eastus and eastus2 share priority 1; canadaeast is the spill-over. Embeddings get four times the chat TPM.</summary>
    public static readonly SimulatedRegion[] All =
    [
        new("eastus", Priority: 1, TokensPerMinute: 30_000, LatencyScale: 1.0),
        new("eastus2", Priority: 1, TokensPerMinute: 30_000, LatencyScale: 1.2),
        new("canadaeast", Priority: 2, TokensPerMinute: 60_000, LatencyScale: 1.5),
    ];
}

/// <summary>One simulated region: its name (also the backend's), priority group, chat tokens per minute and latency factor.</summary>
public sealed record SimulatedRegion(string Name, int Priority, int TokensPerMinute, double LatencyScale);
