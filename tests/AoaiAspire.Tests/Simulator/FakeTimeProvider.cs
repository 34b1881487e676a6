namespace AoaiAspire.Tests.Simulator;

/// <summary>
/// A clock the test moves by hand. <see cref="Advance"/> fires the timers that fall due;
/// with <see cref="AutoAdvance"/> every new timer fires at once (time jumps to it), which lets a
/// test release a server that waits on this clock without knowing when it starts waiting.
/// </summary>
internal sealed class FakeTimeProvider : TimeProvider
{
    private readonly Lock _lock = new();
    private readonly List<FakeTimer> _timers = [];
    private DateTimeOffset _now = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private bool _autoAdvance;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    /// <summary>When true, each timer created from now on (and each pending one) fires immediately.</summary>
    public bool AutoAdvance
    {
        get
        {
            lock (_lock)
            {
                return _autoAdvance;
            }
        }
        set
        {
            lock (_lock)
            {
                _autoAdvance = value;
            }

            if (value)
            {
                Advance(TimeSpan.FromDays(1));
            }
        }
    }

    public override DateTimeOffset GetUtcNow()
    {
        lock (_lock)
        {
            return _now;
        }
    }

    public override long GetTimestamp() => GetUtcNow().UtcTicks;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new FakeTimer(this, callback, state);
        timer.Change(dueTime, period);
        return timer;
    }

    /// <summary>Moves the clock forward and fires, in order, the timers due by then.</summary>
    public void Advance(TimeSpan by)
    {
        DateTimeOffset target;
        lock (_lock)
        {
            target = _now + by;
        }

        while (true)
        {
            FakeTimer? next;
            lock (_lock)
            {
                next = _timers.Where(t => t.DueAt <= target).OrderBy(t => t.DueAt).FirstOrDefault();
                if (next is null)
                {
                    _now = target;
                    return;
                }

                if (next.DueAt > _now)
                {
                    _now = next.DueAt;
                }

                next.Reschedule(_now);
            }

            next.Fire();
        }
    }

    private void Schedule(FakeTimer timer, TimeSpan dueTime, TimeSpan period)
    {
        bool fireNow;
        lock (_lock)
        {
            _timers.Remove(timer);
            if (dueTime == Timeout.InfiniteTimeSpan)
            {
                return;
            }

            timer.DueAt = _now + dueTime;
            timer.Period = period;
            _timers.Add(timer);
            fireNow = _autoAdvance;
        }

        if (fireNow)
        {
            // Off the caller's stack: Task.Delay must finish creating its timer before the callback runs.
            ThreadPool.QueueUserWorkItem(_ => Advance(dueTime));
        }
    }

    private void Remove(FakeTimer timer)
    {
        lock (_lock)
        {
            _timers.Remove(timer);
        }
    }

    private sealed class FakeTimer(FakeTimeProvider owner, TimerCallback callback, object? state) : ITimer
    {
        public DateTimeOffset DueAt { get; set; }

        public TimeSpan Period { get; set; }

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            owner.Schedule(this, dueTime, period);
            return true;
        }

        /// <summary>Called under the owner's lock: a periodic timer moves to its next due time, a one-shot one goes.</summary>
        public void Reschedule(DateTimeOffset now)
        {
            if (Period > TimeSpan.Zero && Period != Timeout.InfiniteTimeSpan)
            {
                DueAt = now + Period;
            }
            else
            {
                owner._timers.Remove(this);
            }
        }

        public void Fire() => callback(state);

        public void Dispose() => owner.Remove(this);

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
