namespace AoaiAspire.Gateway.Hedging;

/// <summary>
/// <c>Gateway:Hedging</c>: for the deployments named here (opt-in), a streaming request whose first byte has not come
/// after the hedge delay is also sent to a second backend; the first of the two to produce a byte is the answer and
/// the other is cancelled at once.
/// </summary>
internal sealed class HedgingOptions
{
    /// <summary>Logical deployment names that hedge (empty: hedging is off).</summary>
    public List<string> Deployments { get; set; } = [];

    /// <summary>
    /// Also hedge non-streaming requests, on the same deployments: their "first byte" is the whole answer's headers,
    /// so the delay is the percentile of the backend's recent times to a full answer. Off by default: a hedge of a
    /// call that was only slow, not stuck, can cost a second whole completion's prompt and part of its output.
    /// </summary>
    public bool NonStreaming { get; set; }

    /// <summary>
    /// The hedge delay is this percentile of the first backend's recent times to first byte (its last
    /// <see cref="FirstByteHistory.Capacity"/> streams). Choose it below the share of slow answers to be hedged: 0.9
    /// hedges about the slowest tenth.
    /// </summary>
    public double Percentile { get; set; } = 0.9;

    /// <summary>The delay is never shorter than this.</summary>
    public TimeSpan MinDelay { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>The delay is never longer than this, and is this while a backend has fewer than <see cref="MinSamples"/> samples.</summary>
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Samples a backend needs (streams, or non-streaming answers) before its percentile is used.</summary>
    public int MinSamples { get; set; } = 16;

    /// <summary>At most this share of a deployment's streaming requests are hedged (a budget refilled by each of them).</summary>
    public double MaxShare { get; set; } = 0.1;

    /// <summary>
    /// At most this many hedges are banked (a quiet spell does not bank more): the burst a sudden slowdown, such as a
    /// region that freezes with calls in flight, can hedge at once.
    /// </summary>
    public int MaxBurst { get; set; } = 10;

    /// <summary>At most this many estimated extra prompt tokens a minute per deployment; 0: no token cap.</summary>
    public long MaxExtraTokensPerMinute { get; set; }

    public bool Applies(string deployment)
    {
        foreach (var name in Deployments)
        {
            if (string.Equals(name, deployment, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Start-up and reload validation: each message names the key.</summary>
    public IEnumerable<string> Validate()
    {
        if (Deployments.Any(string.IsNullOrWhiteSpace))
        {
            yield return "Gateway:Hedging:Deployments must name deployments (an entry is empty).";
        }
        if (!(Percentile > 0 && Percentile < 1))
        {
            yield return $"Gateway:Hedging:Percentile must be between 0 and 1 (exclusive); it is {Percentile}.";
        }
        if (MinDelay <= TimeSpan.Zero)
        {
            yield return "Gateway:Hedging:MinDelay must be positive.";
        }
        if (MaxDelay < MinDelay)
        {
            yield return "Gateway:Hedging:MaxDelay must not be shorter than Gateway:Hedging:MinDelay.";
        }
        if (MinSamples is < 1 or > FirstByteHistory.Capacity)
        {
            yield return $"Gateway:Hedging:MinSamples must be between 1 and {FirstByteHistory.Capacity}.";
        }
        if (!(MaxShare >= 0 && MaxShare <= 1))
        {
            yield return $"Gateway:Hedging:MaxShare must be between 0 and 1; it is {MaxShare}.";
        }
        if (MaxBurst is < 1 or > 10_000)
        {
            yield return $"Gateway:Hedging:MaxBurst must be between 1 and 10000; it is {MaxBurst}.";
        }
        if (MaxExtraTokensPerMinute < 0)
        {
            yield return "Gateway:Hedging:MaxExtraTokensPerMinute must not be negative.";
        }
    }
}
