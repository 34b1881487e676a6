namespace AoaiAspire.Gateway.Availability;

/// <summary>One attempt counted by <see cref="OutstandingAttempts"/>; give it back exactly once.</summary>
/// <param name="ChargedThrough">The deployment's running total of charged estimates once this attempt's own was added
/// (<see cref="DeploymentCapacity.Charge"/>): what was sent after it is the total now less this.</param>
internal readonly record struct OutstandingAttempt(int Slot, long StartedAt, long ChargedThrough = 0);

/// <summary>
/// The attempts of one backend (on this replica) that have not answered yet: how many, when the oldest started,
/// and when the backend last answered. An attempt answers when its response headers arrive, or for a stream its
/// first body byte, or when it fails fast (a status or a refused connection); timeouts and abandoned attempts
/// end without answering. Begun and ended only through <see cref="BackendStateUpdater"/>.
/// </summary>
/// <remarks>
/// Lock-free and allocation-free: a count (<see cref="Interlocked"/>) and a fixed array of
/// <see cref="TrackedSlots"/> start times claimed by compare-and-swap. Beyond that many at once, attempts are
/// counted but their start is not kept, so the oldest may be read younger than it is: the rule errs towards
/// keeping a backend, never towards dropping a busy healthy one. When a backend stops answering, the
/// attempts it holds are the oldest and stay in their slots.
/// </remarks>
internal sealed class OutstandingAttempts
{
    public const int TrackedSlots = 16;

    private readonly long[] _starts = new long[TrackedSlots];
    private int _count;
    private long _lastAnsweredAt;

    /// <summary>Attempts sent and not yet answered, failed or abandoned.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>When the backend last answered an attempt (UTC ticks; 0 before the first).</summary>
    public long LastAnsweredAt => Volatile.Read(ref _lastAnsweredAt);

    /// <summary>An attempt starts at <paramref name="now"/> (UTC ticks).</summary>
    internal OutstandingAttempt Begin(long now)
    {
        Interlocked.Increment(ref _count);
        var stamp = Math.Max(now, 1);
        for (var i = 0; i < TrackedSlots; i++)
        {
            if (Volatile.Read(ref _starts[i]) == 0 && Interlocked.CompareExchange(ref _starts[i], stamp, 0) == 0)
            {
                return new OutstandingAttempt(i, stamp);
            }
        }
        return new OutstandingAttempt(-1, stamp);
    }

    /// <summary>The attempt ended; <paramref name="answered"/> when the backend responded (as opposed to a timeout or a caller who left).</summary>
    internal void End(OutstandingAttempt attempt, long now, bool answered)
    {
        if (attempt.Slot >= 0)
        {
            Volatile.Write(ref _starts[attempt.Slot], 0);
        }
        Interlocked.Decrement(ref _count);
        if (answered && now > Volatile.Read(ref _lastAnsweredAt))
        {
            Volatile.Write(ref _lastAnsweredAt, now);
        }
    }

    /// <summary>When the oldest tracked outstanding attempt started (UTC ticks; 0 when none is).</summary>
    public long OldestStartedAt
    {
        get
        {
            var oldest = long.MaxValue;
            for (var i = 0; i < TrackedSlots; i++)
            {
                var started = Volatile.Read(ref _starts[i]);
                if (started != 0 && started < oldest)
                {
                    oldest = started;
                }
            }
            return oldest == long.MaxValue ? 0 : oldest;
        }
    }

    /// <summary>Age of the oldest tracked outstanding attempt at <paramref name="now"/> (zero when none is).</summary>
    public TimeSpan OldestAge(long now) => OldestStartedAt is var oldest and > 0 && now > oldest ? TimeSpan.FromTicks(now - oldest) : TimeSpan.Zero;

    /// <summary>
    /// Overdue: something is outstanding, the oldest of it has waited longer than <paramref name="thresholdTicks"/>,
    /// and nothing has answered for that long either (one slow completion among answering ones is not a silence).
    /// </summary>
    public bool IsOverdue(long now, long thresholdTicks)
    {
        if (Volatile.Read(ref _count) == 0 || now - Volatile.Read(ref _lastAnsweredAt) <= thresholdTicks)
        {
            return false;
        }
        var oldest = OldestStartedAt;
        return oldest != 0 && now - oldest > thresholdTicks;
    }
}
