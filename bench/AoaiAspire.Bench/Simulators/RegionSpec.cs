namespace AoaiAspire.Bench.Simulators;

/// <summary>One simulated Azure OpenAI region: its <c>chat</c> deployment's limits, its latency and its priority behind a proxy.</summary>
internal sealed record RegionSpec(string Name, int Priority = 1)
{
    /// <summary>Tokens per minute of the <c>chat</c> deployment.</summary>
    public int TokensPerMinute { get; init; } = 2_000_000_000;

    /// <summary>Requests per minute; null for Azure's 6 per 1,000 TPM.</summary>
    public int? RequestsPerMinute { get; init; } = 2_000_000_000;

    /// <summary>Multiplies the simulated latency (19 ± 6 ms per completion token); 0 answers at once.</summary>
    public double LatencyScale { get; init; }

    public TimeSpan StreamChunkInterval { get; init; } = TimeSpan.FromMilliseconds(50);

    public int TokensPerChunk { get; init; } = 1;

    /// <summary>Requests per minute the deployment really admits: the RPM limit (6 per 1,000 TPM unless set).</summary>
    public int EffectiveRequestsPerMinute => RequestsPerMinute ?? (int)Math.Max(1, TokensPerMinute * 6L / 1000);

    /// <summary>Tokens per minute the deployment can serve for calls of <paramref name="tokensPerCall"/>: the lower of its TPM and RPM × tokens.</summary>
    public double CapacityTokensPerMinute(int tokensPerCall) => Math.Min(TokensPerMinute, (double)EffectiveRequestsPerMinute * tokensPerCall);
}
