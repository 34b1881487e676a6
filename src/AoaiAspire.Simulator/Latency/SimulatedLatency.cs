namespace AoaiAspire.Simulator.Latency;

/// <summary>
/// How long the simulated model takes, after the defaults of Microsoft's published Azure OpenAI simulator (docs/simulator.md, "Latency"):
/// embeddings 100 ± 30 ms; chat 19 ± 6 ms per completion token (non-streaming, capped at 10 s);
/// one streamed chunk every <see cref="SimulatedAccountOptions.StreamChunkInterval"/> ± 20 %.
/// Everything is multiplied by <see cref="SimulatedAccountOptions.LatencyScale"/>.
/// </summary>
internal static class SimulatedLatency
{
    internal static readonly TimeSpan MaxCompletionLatency = TimeSpan.FromSeconds(10);

    public static TimeSpan Embeddings(RandomSource random, double scale)
        => scale <= 0 ? TimeSpan.Zero : TimeSpan.FromMilliseconds(random.Jitter(100, 30) * scale);

    public static TimeSpan Completion(RandomSource random, double scale, int completionTokens)
    {
        if (scale <= 0 || completionTokens <= 0)
        {
            return TimeSpan.Zero;
        }

        var perToken = random.Jitter(19, 6);
        var total = TimeSpan.FromMilliseconds(perToken * completionTokens * scale);
        return total > MaxCompletionLatency ? MaxCompletionLatency : total;
    }

    public static TimeSpan StreamChunk(RandomSource random, double scale, TimeSpan interval)
        => scale <= 0 || interval <= TimeSpan.Zero
            ? TimeSpan.Zero
            : TimeSpan.FromMilliseconds(interval.TotalMilliseconds * random.Jitter(1, 0.2) * scale);

    /// <summary>Waits on the injected clock; a zero delay completes synchronously.</summary>
    public static Task DelayAsync(TimeSpan delay, TimeProvider time, CancellationToken cancellationToken)
        => delay <= TimeSpan.Zero ? Task.CompletedTask : Task.Delay(delay, time, cancellationToken);
}
