namespace AoaiAspire.Gateway.Hedging;

/// <summary>
/// A backend's last <see cref="Capacity"/> times to first byte of its streams (or, a second instance, to the headers of
/// its non-streaming answers), for the hedge delay's percentile.
/// Lock-free: a writer takes a slot with one interlocked increment; a reader copies the slots to the stack and sorts
/// them (a reader racing a writer may see one slot old or new, which a percentile does not mind).
/// </summary>
internal sealed class FirstByteHistory
{
    public const int Capacity = 64;

    private readonly long[] _ticks = new long[Capacity];
    private long _count;

    /// <summary>Samples recorded so far (all time).</summary>
    public long Count => Interlocked.Read(ref _count);

    public void Record(TimeSpan firstByte)
    {
        var slot = (Interlocked.Increment(ref _count) - 1) & (Capacity - 1);
        Volatile.Write(ref _ticks[slot], Math.Max(0, firstByte.Ticks));
    }

    /// <summary>The <paramref name="percentile"/> (0–1) of the recorded samples; false with fewer than <paramref name="minSamples"/>.</summary>
    public bool TryPercentile(double percentile, int minSamples, out TimeSpan value)
    {
        var n = (int)Math.Min(Count, Capacity);
        if (n < minSamples || n == 0)
        {
            value = default;
            return false;
        }
        Span<long> copy = stackalloc long[Capacity];
        for (var i = 0; i < n; i++)
        {
            copy[i] = Volatile.Read(ref _ticks[i]);
        }
        var samples = copy[..n];
        samples.Sort();
        var index = (int)Math.Ceiling(percentile * n) - 1;
        value = TimeSpan.FromTicks(samples[Math.Clamp(index, 0, n - 1)]);
        return true;
    }
}
