namespace AoaiAspire.Simulator.Latency;

/// <summary>A seeded <see cref="Random"/> safe to share between requests (Random itself is not thread-safe).</summary>
internal sealed class RandomSource(int? seed)
{
    private readonly Lock _lock = new();
    private readonly Random _random = seed is { } s ? new Random(s) : new Random();

    /// <summary>A number in [0, 1).</summary>
    public double NextDouble()
    {
        lock (_lock)
        {
            return _random.NextDouble();
        }
    }

    /// <summary><paramref name="mean"/> ± up to <paramref name="spread"/>, uniformly.</summary>
    public double Jitter(double mean, double spread) => mean + ((NextDouble() * 2) - 1) * spread;
}
