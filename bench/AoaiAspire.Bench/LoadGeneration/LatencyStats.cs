namespace AoaiAspire.Bench.LoadGeneration;

/// <summary>Percentiles read from every recorded value (sorted), never from averages.</summary>
internal readonly struct LatencyStats
{
    private readonly double[] _sorted;

    public LatencyStats(IEnumerable<double> values)
    {
        _sorted = values.Where(v => !double.IsNaN(v)).ToArray();
        Array.Sort(_sorted);
    }

    public int Count => _sorted?.Length ?? 0;

    /// <summary>Nearest-rank percentile; NaN when there are no values.</summary>
    public double Percentile(double p)
    {
        if (Count == 0)
        {
            return double.NaN;
        }
        var rank = (int)Math.Ceiling(p / 100.0 * _sorted.Length) - 1;
        return _sorted[Math.Clamp(rank, 0, _sorted.Length - 1)];
    }

    public double P50 => Percentile(50);
    public double P90 => Percentile(90);
    public double P99 => Percentile(99);
    public double Max => Count == 0 ? double.NaN : _sorted[^1];
}
