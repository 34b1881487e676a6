using AoaiAspire.Gateway.Configuration;
using Microsoft.Extensions.Options;

namespace AoaiAspire.Gateway.Availability;

/// <summary>What changed in a backend's state, for listeners (shared state, telemetry, the status page).</summary>
internal enum BackendStateChangeKind
{
    Throttled,
    CircuitOpened,
    CircuitClosed,
    ProbeVerdictChanged,
}

/// <summary>Who saw a change first.</summary>
internal enum BackendStateChangeSource
{
    /// <summary>This replica's own traffic.</summary>
    Local,
    /// <summary>Another replica, through shared state.</summary>
    Peer,
    /// <summary>The health probe.</summary>
    Probe,
}

/// <summary>A change, with <see cref="Until"/> in UTC ticks where it applies, and who saw it.</summary>
internal readonly record struct BackendStateChange(string Backend, BackendStateChangeKind Kind, long Until, BackendStateChangeSource Source, string? Deployment = null);

/// <summary>
/// The one writer of a backend's availability (<see cref="BackendState"/>, its <see cref="DeploymentCapacity"/>
/// per deployment and its <see cref="OutstandingAttempts"/>): live-traffic observations (passive), probe verdicts
/// (active) and changes other replicas published all go through here, so the rules live in one place. Everything
/// else (selection, the status page, telemetry) only reads.
/// </summary>
internal sealed partial class BackendStateUpdater
{
    private readonly TimeProvider _time;
    private readonly IOptionsMonitor<GatewayOptions> _options;
    private readonly ILogger<BackendStateUpdater> _logger;

    public BackendStateUpdater(TimeProvider time, IOptionsMonitor<GatewayOptions> options, ILogger<BackendStateUpdater> logger)
    {
        _time = time;
        _options = options;
        _logger = logger;
    }

    /// <summary>Raised after a change worth telling others about. Handlers must be quick and must not throw.</summary>
    public event Action<BackendStateChange>? Changed;

    public long Now => _time.GetUtcNow().UtcTicks;

    /// <summary>
    /// Called once a backend is picked: claims the half-open trial if its circuit needs one, and counts the request.
    /// Static because it needs neither clock nor options, so selection can call it without holding the updater.
    /// </summary>
    public static bool TryBeginAttempt(BackendState state, long now) => state.TryBeginAttempt(now);

    /// <summary>
    /// An attempt on <paramref name="candidate"/> starts: its estimate is charged against what the deployment is known
    /// to have left, and it is outstanding until <see cref="OnAnswered"/>, <see cref="OnFirstByte"/> or <see cref="OnAttemptEnded"/>.
    /// </summary>
    public OutstandingAttempt OnAttemptStarted(BackendCandidate candidate, long estimatedTokens)
    {
        var chargedThrough = candidate.Capacity.Charge(estimatedTokens);
        return candidate.State.Outstanding.Begin(Now) with { ChargedThrough = chargedThrough };
    }

    /// <summary>The backend answered the attempt (its response headers, or a fast failure such as a refused connection).</summary>
    public void OnAnswered(BackendState state, OutstandingAttempt attempt) => state.Outstanding.End(attempt, Now, answered: true);

    /// <summary>A streaming attempt's first body byte came <paramref name="latency"/> after it started: it has answered.</summary>
    public void OnFirstByte(BackendState state, OutstandingAttempt attempt, TimeSpan latency, double smoothing)
    {
        state.Outstanding.End(attempt, Now, answered: true);
        state.RecordFirstByte(latency, smoothing);
    }

    /// <summary>The attempt ended without an answer (a timeout, or the caller went away).</summary>
    public void OnAttemptEnded(BackendState state, OutstandingAttempt attempt) => state.Outstanding.End(attempt, Now, answered: false);

    /// <summary>
    /// A response's <c>x-ratelimit-remaining-tokens</c> / <c>-requests</c> (either may be absent: -1), to an attempt
    /// sent at <paramref name="sentAt"/> (UTC ticks, <see cref="OutstandingAttempt.StartedAt"/>; 0 when not known).
    /// </summary>
    public void OnRemainingCapacity(DeploymentCapacity capacity, long remainingTokens, long remainingRequests, long sentAt = 0, long chargedThrough = 0)
        => capacity.Observe(remainingTokens, remainingRequests, Now, sentAt, chargedThrough);

    /// <summary>
    /// A 429 for <paramref name="deployment"/> on <paramref name="state"/>: nothing is left of its minute, and the
    /// deployment is benched until its Retry-After, capped.
    /// </summary>
    public long OnThrottled(BackendState state, string deployment, TimeSpan? retryAfter)
    {
        var routing = _options.CurrentValue.Routing;
        var wait = retryAfter ?? routing.DefaultThrottleDuration;
        if (wait > routing.MaxThrottleDuration)
        {
            Log.ThrottleCapped(_logger, state.Name, wait, routing.MaxThrottleDuration);
            wait = routing.MaxThrottleDuration;
        }
        if (wait <= TimeSpan.Zero)
        {
            wait = TimeSpan.FromMilliseconds(100);
        }
        var now = Now;
        var capacity = state.CapacityOf(deployment);
        capacity.Exhausted(now);
        var until = now + wait.Ticks;
        if (state.ExtendThrottle(capacity, until))
        {
            Log.Throttled(_logger, state.Name, deployment, wait);
            Changed?.Invoke(new(state.Name, BackendStateChangeKind.Throttled, until, BackendStateChangeSource.Local, deployment));
        }
        return until;
    }

    /// <param name="fullAnswer">A non-streaming answer: its time also feeds <see cref="BackendState.AnswerTimes"/>.</param>
    public void OnSuccess(BackendState state, TimeSpan latency, bool fullAnswer = false)
    {
        if (fullAnswer)
        {
            state.AnswerTimes.Record(latency);
        }
        var options = _options.CurrentValue;
        var wasOpen = state.CircuitOpenUntil != 0;
        state.RecordSuccess(Now, latency, options.Routing.LatencySmoothing, options.CircuitBreaker.SamplingDuration.Ticks);
        if (wasOpen)
        {
            Log.CircuitClosed(_logger, state.Name);
            Changed?.Invoke(new(state.Name, BackendStateChangeKind.CircuitClosed, 0, BackendStateChangeSource.Local));
        }
    }

    public void OnFailure(BackendState state)
    {
        var until = state.RecordFailure(Now, CircuitBreakerOptionsSnapshot.From(_options.CurrentValue.CircuitBreaker));
        if (until != 0)
        {
            Log.CircuitOpened(_logger, state.Name, _options.CurrentValue.CircuitBreaker.BreakDuration);
            Changed?.Invoke(new(state.Name, BackendStateChangeKind.CircuitOpened, until, BackendStateChangeSource.Local));
        }
    }

    public void OnAbandoned(BackendState state) => state.AbandonAttempt();

    /// <summary>
    /// A hedged attempt lost its race (the other backend's first byte came first): abandoned, not a failure, and its
    /// wait is kept as a lower bound of this backend's time to first byte.
    /// </summary>
    /// <param name="overtaken">
    /// It was the first attempt: given the hedge delay (its own recent percentile) and then overtaken by the hedge. That
    /// counts toward its circuit as a timeout would, so a region that stops answering is left out after a few
    /// overtaken calls, instead of getting new ones as soon as its held attempts are cancelled (nothing outstanding
    /// would make it look fine). A hedge that loses to the first attempt is not the hedge backend's fault.
    /// </param>
    public void OnLostRace(BackendState state, TimeSpan waited, bool stream = true, bool overtaken = false)
    {
        state.AbandonAttempt();
        (stream ? state.FirstBytes : state.AnswerTimes).Record(waited);
        if (overtaken)
        {
            OnFailure(state);
        }
    }

    /// <summary>The health probe's verdict (active health), kept apart from what live traffic shows.</summary>
    public void OnProbeVerdict(BackendState state, HealthStatus verdict, long until, TimeSpan latency, long checkedAt)
    {
        var previous = state.ProbeVerdict;
        state.SetProbeVerdict(verdict, until, latency, checkedAt, checkedAt + _options.CurrentValue.Routing.ProbeVerdictLifetime.Ticks);
        if (verdict == HealthStatus.Healthy && state.EndBreakEarly(Now))
        {
            Log.BreakEndedByProbe(_logger, state.Name);
        }
        if (previous != verdict)
        {
            Log.ProbeVerdictChanged(_logger, state.Name, previous, verdict);
            Changed?.Invoke(new(state.Name, BackendStateChangeKind.ProbeVerdictChanged, until, BackendStateChangeSource.Probe));
        }
    }

    /// <summary>Another replica saw a 429 for this backend's deployment.</summary>
    public void OnPeerThrottled(BackendState state, string deployment, long until)
    {
        if (state.ApplySharedThrottle(deployment, until))
        {
            Changed?.Invoke(new(state.Name, BackendStateChangeKind.Throttled, until, BackendStateChangeSource.Peer, deployment));
        }
    }

    /// <summary>Another replica opened this backend's circuit.</summary>
    public void OnPeerCircuitOpened(BackendState state, long until)
    {
        if (state.ApplySharedCircuitOpen(until, Now))
        {
            Changed?.Invoke(new(state.Name, BackendStateChangeKind.CircuitOpened, until, BackendStateChangeSource.Peer));
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1001, LogLevel.Information, "Deployment {Deployment} on backend {Backend} throttled for {Duration}.")]
        public static partial void Throttled(ILogger logger, string backend, string deployment, TimeSpan duration);

        [LoggerMessage(1002, LogLevel.Warning, "Backend {Backend} asked for a Retry-After of {RetryAfter}; benched for the cap {Cap} (Gateway:Routing:MaxThrottleDuration).")]
        public static partial void ThrottleCapped(ILogger logger, string backend, TimeSpan retryAfter, TimeSpan cap);

        [LoggerMessage(1003, LogLevel.Warning, "Circuit of backend {Backend} opened for {BreakDuration}.")]
        public static partial void CircuitOpened(ILogger logger, string backend, TimeSpan breakDuration);

        [LoggerMessage(1004, LogLevel.Information, "Circuit of backend {Backend} closed.")]
        public static partial void CircuitClosed(ILogger logger, string backend);

        [LoggerMessage(1006, LogLevel.Information, "Probe found backend {Backend} healthy: its circuit's break ends now; the next request is the trial.")]
        public static partial void BreakEndedByProbe(ILogger logger, string backend);

        [LoggerMessage(1005, LogLevel.Information, "Probe verdict of backend {Backend}: {Previous} -> {Verdict}.")]
        public static partial void ProbeVerdictChanged(ILogger logger, string backend, HealthStatus previous, HealthStatus verdict);
    }
}
