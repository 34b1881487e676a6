namespace AoaiAspire.Gateway.Admission;

/// <summary>
/// What each priority class has asked of one logical deployment on this replica lately: estimated tokens per second
/// over the last minute, counted at arrival (served or not). The admission queue keeps that much of each backend's
/// minute back from lower classes (<see cref="AdmissionQueue.Reserved(Configuration.DeploymentRoute, PriorityClass)"/>).
/// </summary>
/// <remarks>
/// Lock-free and allocation-free after construction: per class, a ring of <see cref="Slots"/> ten-second buckets, each
/// tagged with the ten seconds it counts; a bucket from an older lap is reset by the first add that meets it. Two adds
/// racing on a reset may lose one request's tokens: the estimate is a rate, not a ledger.
/// </remarks>
internal sealed class ClassDemand
{
    private const int Slots = 7;
    private static readonly long Bucket = TimeSpan.FromSeconds(10).Ticks;

    /// <summary>The span a rate is taken over: the six full buckets before the current one, and the current one.</summary>
    private static readonly long Span = (Slots - 1) * Bucket;

    private readonly long[] _tokens;
    private readonly long[] _epochs;
    private readonly long[] _since;

    public ClassDemand(int classes)
    {
        _tokens = new long[classes * Slots];
        _epochs = new long[classes * Slots];
        _since = new long[classes];
    }

    /// <summary>A request of the class at <paramref name="index"/> arrived at <paramref name="now"/> (UTC ticks) asking for <paramref name="tokens"/>.</summary>
    public void Add(int index, long tokens, long now)
    {
        var epoch = now / Bucket;
        var slot = (index * Slots) + (int)(epoch % Slots);
        var seen = Volatile.Read(ref _epochs[slot]);
        if (seen != epoch)
        {
            if (Interlocked.CompareExchange(ref _epochs[slot], epoch, seen) == seen)
            {
                Volatile.Write(ref _tokens[slot], 0);
            }
        }
        Interlocked.Add(ref _tokens[slot], tokens);
        if (Volatile.Read(ref _since[index]) == 0)
        {
            Interlocked.CompareExchange(ref _since[index], now, 0);
        }
    }

    /// <summary>
    /// Estimated tokens per tick the class at <paramref name="index"/> asked for over the last minute; 0 when none. Over a
    /// class's first minute, the time since its first request (at least one bucket) is the divisor.
    /// </summary>
    public double PerTick(int index, long now)
    {
        var since = Volatile.Read(ref _since[index]);
        if (since == 0)
        {
            return 0;
        }
        var epoch = now / Bucket;
        long sum = 0;
        for (var i = 0; i < Slots; i++)
        {
            var slot = (index * Slots) + i;
            var at = Volatile.Read(ref _epochs[slot]);
            if (at <= epoch && at > epoch - Slots)
            {
                sum += Volatile.Read(ref _tokens[slot]);
            }
        }
        if (sum == 0)
        {
            return 0;
        }
        var span = Span + (now - (epoch * Bucket));
        var divisor = Math.Max(Bucket, Math.Min(span, now - since));
        return (double)sum / divisor;
    }
}
