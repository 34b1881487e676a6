namespace AoaiAspire.Bench.LoadGeneration;

/// <summary>Everything one load run recorded: one sample per request due or sent, drops included.</summary>
internal sealed class RunResult(IReadOnlyList<Sample> samples, TimeSpan duration, double offeredPerSecond)
{
    public IReadOnlyList<Sample> Samples { get; } = samples;

    /// <summary>How long requests were sent for.</summary>
    public TimeSpan Duration { get; } = duration;

    /// <summary>The rate asked for (open loop), or NaN (closed loop).</summary>
    public double OfferedPerSecond { get; } = offeredPerSecond;

    public int Count(Outcome outcome) => Samples.Count(s => s.Outcome == outcome);
    public int Ok => Count(Outcome.Ok);
    public int Dropped => Count(Outcome.Dropped);

    /// <summary>Requests that did not end in a complete success (errors, failures, broken streams, drops).</summary>
    public int Lost => Samples.Count(s => s.Outcome != Outcome.Ok);

    public double OkPerSecond => Ok / Duration.TotalSeconds;

    public LatencyStats OkLatency(Func<Sample, bool>? where = null)
        => new(Samples.Where(s => s.Outcome == Outcome.Ok && (where is null || where(s))).Select(s => s.LatencyMs));

    public LatencyStats FirstByte() => new(Samples.Where(s => s.Outcome == Outcome.Ok).Select(s => s.FirstByteMs));

    /// <summary>Samples whose start falls in [from, to) seconds.</summary>
    public IEnumerable<Sample> Between(double from, double to) => Samples.Where(s => s.StartS >= from && s.StartS < to);
}
