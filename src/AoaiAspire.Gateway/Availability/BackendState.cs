using AoaiAspire.Backends.Configuration;

namespace AoaiAspire.Gateway.Availability;

internal enum CircuitState
{
    Closed,
    Open,
    HalfOpen,
}

/// <summary>
/// Everything the gateway knows of one backend. Read lock-free on the request path; written only through
/// <see cref="BackendStateUpdater"/> (one writer, as in YARP's Health/). Passive observations (live traffic:
/// throttles, circuit) and the active verdict (the probe) are kept apart and both consulted by
/// <see cref="IsAvailable"/>. Times are UTC ticks so that they mean the same on every replica.
/// </summary>
internal sealed class BackendState
{
    private readonly Lock _circuitLock = new();

    // Passive: circuit breaker; guarded by _circuitLock (a few integers, never held across I/O).
    private CircuitState _circuit;
    private long _circuitOpenUntil;
    private long _windowStart;
    private int _windowAttempts;
    private int _windowFailures;
    private int _consecutiveFailures;
    private long _trialStartedAt;

    // Active: the probe's verdict.
    private volatile HealthStatus _probeVerdict;
    private long _probeUntil;
    private long _probeLatencyTicks;
    private long _probeCheckedAt;
    private long _probeValidUntil;

    // Observed latency (EWMA, ms) and counters.
    private double _latencyMs = double.NaN;
    private double _firstByteMs = double.NaN;
    private long _latencyAt;
    private long _requests, _failures, _throttles, _circuitOpenings;

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, DeploymentCapacity> _capacity = new(StringComparer.OrdinalIgnoreCase);

    public BackendState(BackendDefinition definition) => Definition = definition;

    /// <summary>The rate-limit reading of one of this backend's deployments; kept across configuration reloads.</summary>
    public DeploymentCapacity CapacityOf(string logicalDeployment) => _capacity.GetOrAdd(logicalDeployment, static _ => new());

    /// <summary>Until when a "down" probe verdict counts (UTC ticks).</summary>
    public long ProbeVerdictValidUntil => Volatile.Read(ref _probeValidUntil);

    /// <summary>The configuration; swapped when configuration reloads (state is kept by backend name).</summary>
    public BackendDefinition Definition { get; internal set; }

    public string Name => Definition.Name;

    /// <summary>The latest throttle over this backend's deployments (for display); routing looks at each deployment's own.</summary>
    public long ThrottledUntil
    {
        get
        {
            long latest = 0;
            foreach (var capacity in _capacity.Values)
            {
                latest = Math.Max(latest, capacity.ThrottledUntil);
            }
            return latest;
        }
    }

    /// <summary>Until when <paramref name="logicalDeployment"/> on this backend is throttled (UTC ticks; 0 when it is not).</summary>
    public long ThrottledUntilFor(string logicalDeployment) => CapacityOf(logicalDeployment).ThrottledUntil;
    public CircuitState Circuit { get { lock (_circuitLock) { return _circuit; } } }
    public long CircuitOpenUntil => Volatile.Read(ref _circuitOpenUntil);
    public HealthStatus ProbeVerdict => _probeVerdict;
    public long ProbeVerdictUntil => Volatile.Read(ref _probeUntil);
    public TimeSpan ProbeLatency => TimeSpan.FromTicks(Volatile.Read(ref _probeLatencyTicks));
    public long ProbeCheckedAt => Volatile.Read(ref _probeCheckedAt);

    /// <summary>Smoothed latency of successful attempts in milliseconds; NaN before the first.</summary>
    public double LatencyMs => Volatile.Read(ref _latencyMs);

    /// <summary>Smoothed time from the start of a streaming attempt to its first body byte, in milliseconds; NaN before the first.</summary>
    public double FirstByteMs => Volatile.Read(ref _firstByteMs);

    /// <summary>This replica's attempts on this backend that have not answered yet (in-flight count, oldest, last answer).</summary>
    public OutstandingAttempts Outstanding { get; } = new();

    /// <summary>Recent times to first byte of this backend's streams (the hedge delay's percentile).</summary>
    public Hedging.FirstByteHistory FirstBytes { get; } = new();

    /// <summary>Recent times to the headers of this backend's non-streaming answers (the hedge delay for those).</summary>
    public Hedging.FirstByteHistory AnswerTimes { get; } = new();

    /// <summary>
    /// Has this backend gone silent for longer than its own recent latency allows (<see cref="OutstandingAttempts.IsOverdue"/>)?
    /// The allowance is <paramref name="options"/>' multiplier × the smoothed time to headers (or to a stream's first
    /// byte, when that is longer: a stream's attempt is outstanding until then), clamped to its bounds.
    /// </summary>
    public bool IsOverdue(long now, Configuration.OverdueOptions options)
    {
        if (!options.Enabled || Outstanding.Count == 0)
        {
            return false;
        }
        var smoothed = LatencyMs;
        var firstByte = FirstByteMs;
        if (!double.IsNaN(firstByte) && (double.IsNaN(smoothed) || firstByte > smoothed))
        {
            smoothed = firstByte;
        }
        return Outstanding.IsOverdue(now, Allowance(smoothed, options.LatencyMultiplier, options.MinDelay, options.MaxDelay));
    }

    /// <summary>The first-byte deadline of a streaming attempt on this backend now.</summary>
    public TimeSpan FirstByteDeadline(Configuration.StreamFirstByteOptions options)
        => TimeSpan.FromTicks(Allowance(FirstByteMs, options.LatencyMultiplier, options.MinDeadline, options.MaxDeadline));

    /// <summary><paramref name="multiplier"/> × <paramref name="smoothedMs"/> within [min, max]; max while nothing was measured.</summary>
    internal static long Allowance(double smoothedMs, double multiplier, TimeSpan min, TimeSpan max)
    {
        if (double.IsNaN(smoothedMs))
        {
            return max.Ticks;
        }
        var ticks = smoothedMs * multiplier * TimeSpan.TicksPerMillisecond;
        return ticks <= min.Ticks ? min.Ticks : ticks >= max.Ticks ? max.Ticks : (long)ticks;
    }

    /// <summary>When the last latency sample was taken (UTC ticks; 0 before the first).</summary>
    public long LatencyMeasuredAt => Volatile.Read(ref _latencyAt);
    public long Requests => Interlocked.Read(ref _requests);
    public long Failures => Interlocked.Read(ref _failures);
    public long Throttles => Interlocked.Read(ref _throttles);
    public long CircuitOpenings => Interlocked.Read(ref _circuitOpenings);

    /// <summary>
    /// Can this backend take a request for <paramref name="deployment"/> at <paramref name="now"/>? Cheap and
    /// lock-free except for an open circuit whose break has ended, where exactly one caller wins the trial (half-open).
    /// </summary>
    public bool IsAvailable(long now, DeploymentCapacity deployment)
        => deployment.ThrottledUntil <= now && IsAvailable(now);

    /// <summary>The backend as a whole (circuit, probe), whatever its deployments' throttles.</summary>
    public bool IsAvailable(long now)
    {
        var verdict = _probeVerdict;
        if (ProbeSaysDown(verdict, now) || ProbeSaysThrottled(verdict, now))
        {
            return false;
        }
        return Volatile.Read(ref _circuitOpenUntil) == 0 || CircuitAllows(now, claim: false);
    }

    /// <summary>
    /// Does the probe say this backend is down (unreachable, erroring, refusing our credentials) at <paramref name="now"/>?
    /// A verdict from a probe that has since gone quiet fades (<see cref="ProbeVerdictValidUntil"/>), so it cannot bench
    /// a backend forever.
    /// </summary>
    public bool ProbeSaysDown(long now) => ProbeSaysDown(_probeVerdict, now);

    private bool ProbeSaysDown(HealthStatus verdict, long now) => verdict.IsDown() && Volatile.Read(ref _probeValidUntil) > now;

    /// <summary>The probe met a 429 whose Retry-After has not passed yet.</summary>
    private bool ProbeSaysThrottled(HealthStatus verdict, long now) => verdict == HealthStatus.Throttled && Volatile.Read(ref _probeUntil) > now;

    /// <summary>The time at which this backend may serve <paramref name="deployment"/> again (0 when it is now).</summary>
    public long AvailableAt(long now, DeploymentCapacity deployment)
    {
        var at = Math.Max(deployment.ThrottledUntil, Volatile.Read(ref _circuitOpenUntil));
        if (_probeVerdict == HealthStatus.Throttled)
        {
            at = Math.Max(at, Volatile.Read(ref _probeUntil));
        }
        return at > now ? at : 0;
    }

    /// <summary>True when the only thing keeping the deployment out is a throttle (ours, shared, or the probe's).</summary>
    public bool IsThrottledOnly(long now, DeploymentCapacity deployment)
        => (deployment.ThrottledUntil > now || ProbeSaysThrottled(_probeVerdict, now))
           && Volatile.Read(ref _circuitOpenUntil) <= now
           && !ProbeSaysDown(_probeVerdict, now);

    /// <summary>Called once a backend is picked (through <see cref="BackendStateUpdater.TryBeginAttempt"/>): claims the half-open trial if the circuit needs one.</summary>
    internal bool TryBeginAttempt(long now)
    {
        if (Volatile.Read(ref _circuitOpenUntil) != 0 && !CircuitAllows(now, claim: true))
        {
            return false;
        }
        Interlocked.Increment(ref _requests);
        return true;
    }

    private bool CircuitAllows(long now, bool claim)
    {
        lock (_circuitLock)
        {
            switch (_circuit)
            {
                case CircuitState.Closed:
                    return true;
                case CircuitState.Open when now >= _circuitOpenUntil:
                    if (claim)
                    {
                        _circuit = CircuitState.HalfOpen;
                        _trialStartedAt = now;
                    }
                    return true;
                case CircuitState.HalfOpen:
                    // One trial at a time; a trial that never reported back (caller vanished) expires.
                    if (now - _trialStartedAt > TimeSpan.TicksPerMinute)
                    {
                        if (claim)
                        {
                            _trialStartedAt = now;
                        }
                        return true;
                    }
                    return false;
                default:
                    return false;
            }
        }
    }

    // ---- writes: only BackendStateUpdater calls these ----

    internal bool ExtendThrottle(string logicalDeployment, long until) => ExtendThrottle(CapacityOf(logicalDeployment), until);

    internal bool ExtendThrottle(DeploymentCapacity deployment, long until)
    {
        Interlocked.Increment(ref _throttles);
        return deployment.ExtendThrottle(until);
    }

    /// <summary>Takes up a throttle another replica published (not counted as our own 429).</summary>
    internal bool ApplySharedThrottle(string logicalDeployment, long until) => CapacityOf(logicalDeployment).ExtendThrottle(until);

    internal void RecordSuccess(long now, TimeSpan latency, double smoothing, long samplingTicks)
    {
        var ms = latency.TotalMilliseconds;
        lock (_circuitLock)
        {
            RollWindow(now, samplingTicks);
            _windowAttempts++;
            _consecutiveFailures = 0;
            if (_circuit != CircuitState.Closed)
            {
                _circuit = CircuitState.Closed;
                Volatile.Write(ref _circuitOpenUntil, 0);
            }
            var old = _latencyMs;
            Volatile.Write(ref _latencyMs, double.IsNaN(old) ? ms : old + (smoothing * (ms - old)));
            Volatile.Write(ref _latencyAt, now);
        }
    }

    /// <summary>A streaming attempt's first body byte came <paramref name="latency"/> after it started.</summary>
    internal void RecordFirstByte(TimeSpan latency, double smoothing)
    {
        // One writer wins a race now and then; the average stays an average.
        FirstBytes.Record(latency);
        var ms = latency.TotalMilliseconds;
        var old = Volatile.Read(ref _firstByteMs);
        Volatile.Write(ref _firstByteMs, double.IsNaN(old) ? ms : old + (smoothing * (ms - old)));
    }

    /// <summary>Records a failure; returns the time the circuit opened until, or 0 when it stays closed.</summary>
    internal long RecordFailure(long now, CircuitBreakerOptionsSnapshot options)
    {
        Interlocked.Increment(ref _failures);
        lock (_circuitLock)
        {
            RollWindow(now, options.SamplingTicks);
            _windowAttempts++;
            _windowFailures++;
            _consecutiveFailures++;
            var trip = _circuit == CircuitState.HalfOpen
                || _consecutiveFailures >= options.ConsecutiveFailures
                || (_windowAttempts >= options.MinimumThroughput && _windowFailures >= options.FailureRatio * _windowAttempts);
            if (!trip || (_circuit == CircuitState.Open && _circuitOpenUntil > now))
            {
                return 0;
            }
            _circuit = CircuitState.Open;
            var until = now + options.BreakTicks;
            Volatile.Write(ref _circuitOpenUntil, until);
            _windowAttempts = _windowFailures = 0;
            _windowStart = now;
            Interlocked.Increment(ref _circuitOpenings);
            return until;
        }
    }

    /// <summary>Takes up a circuit another replica opened.</summary>
    internal bool ApplySharedCircuitOpen(long until, long now)
    {
        lock (_circuitLock)
        {
            if (until <= now || (_circuit == CircuitState.Open && _circuitOpenUntil >= until))
            {
                return false;
            }
            _circuit = CircuitState.Open;
            Volatile.Write(ref _circuitOpenUntil, until);
            return true;
        }
    }

    /// <summary>
    /// The probe found the backend healthy: an open circuit need not wait out its break; the next request is its
    /// trial (half-open), so one live request still decides whether it closes.
    /// </summary>
    internal bool EndBreakEarly(long now)
    {
        lock (_circuitLock)
        {
            if (_circuit != CircuitState.Open || _circuitOpenUntil <= now)
            {
                return false;
            }
            Volatile.Write(ref _circuitOpenUntil, now);
            return true;
        }
    }

    /// <summary>A trial or attempt that ended without a verdict (the caller went away): free the trial slot.</summary>
    internal void AbandonAttempt()
    {
        lock (_circuitLock)
        {
            if (_circuit == CircuitState.HalfOpen)
            {
                _trialStartedAt = 0;
            }
        }
    }

    internal void SetProbeVerdict(HealthStatus verdict, long until, TimeSpan latency, long checkedAt, long validUntil = long.MaxValue)
    {
        Volatile.Write(ref _probeValidUntil, validUntil);
        Volatile.Write(ref _probeUntil, until);
        Volatile.Write(ref _probeLatencyTicks, latency.Ticks);
        Volatile.Write(ref _probeCheckedAt, checkedAt);
        _probeVerdict = verdict;
    }

    private void RollWindow(long now, long samplingTicks)
    {
        if (samplingTicks > 0 && now - _windowStart > samplingTicks)
        {
            _windowStart = now;
            _windowAttempts = 0;
            _windowFailures = 0;
        }
    }
}

/// <summary>Circuit options in ticks, computed once per configuration.</summary>
internal readonly record struct CircuitBreakerOptionsSnapshot(int ConsecutiveFailures, double FailureRatio, int MinimumThroughput, long SamplingTicks, long BreakTicks)
{
    public static CircuitBreakerOptionsSnapshot From(Configuration.CircuitBreakerOptions o)
        => new(o.ConsecutiveFailures, o.FailureRatio, o.MinimumThroughput, o.SamplingDuration.Ticks, o.BreakDuration.Ticks);
}
