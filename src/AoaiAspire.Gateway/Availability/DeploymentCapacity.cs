namespace AoaiAspire.Gateway.Availability;

/// <summary>
/// What one backend deployment has left in its current rate-limit minute: taken from the
/// <c>x-ratelimit-remaining-tokens</c> / <c>-requests</c> headers of each response, and lowered by the
/// gateway's own estimate for every request it sends in between, so that bursts are not blind until the
/// next response. A reading older than the limiter's minute is forgotten. Written only through
/// <see cref="BackendStateUpdater"/>; selection reads it.
/// </summary>
/// <remarks>
/// It also estimates when the deployment's token minute began, so that the admission queue can size what it keeps
/// back for higher priority classes by the time left in it (<see cref="WindowEndsAt"/>). Azure OpenAI sends no reset
/// time with a success, so the start is learned: a reading higher than the one before (of a request sent later) means
/// the count was reset in between, and the minute is taken to have begun when that request was sent; so is a reading
/// of a request sent after the estimated minute had ended. The estimate is never earlier than the true start, so the
/// time left is never under-estimated.
/// </remarks>
internal sealed class DeploymentCapacity
{
    internal static readonly long Window = TimeSpan.FromMinutes(1).Ticks;

    private readonly Lock _windowLock = new();
    private long _throttledUntil;
    private long _tokens = -1;
    private long _requests = -1;
    private long _observedAt;
    private long _charged;

    // The learned token minute, guarded by _windowLock (a few integers, written once per response that carries a reading).
    private long _windowStart;
    private long _lastReading = -1;
    private long _lastReadingSentAt;

    /// <summary>
    /// UTC ticks until which this deployment is benched after a 429 (ours or another replica's). Azure OpenAI's
    /// limits are per deployment, so a throttled chat deployment leaves the account's embeddings alone.
    /// </summary>
    public long ThrottledUntil => Volatile.Read(ref _throttledUntil);

    /// <summary>Benches the deployment until <paramref name="until"/> unless it already is longer; true when it changed.</summary>
    internal bool ExtendThrottle(long until)
    {
        long current;
        do
        {
            current = Volatile.Read(ref _throttledUntil);
            if (current >= until)
            {
                return false;
            }
        }
        while (Interlocked.CompareExchange(ref _throttledUntil, until, current) != current);
        return true;
    }

    /// <summary>Tokens left, or -1 when unknown.</summary>
    public long RemainingTokens(long now) => Fresh(now) ? Volatile.Read(ref _tokens) : -1;

    /// <summary>Requests left, or -1 when unknown.</summary>
    public long RemainingRequests(long now) => Fresh(now) ? Volatile.Read(ref _requests) : -1;

    private bool Fresh(long now) => now - Volatile.Read(ref _observedAt) < Window;

    /// <summary>
    /// When the deployment's current token minute is estimated to end (UTC ticks), or 0 when no minute is known or the
    /// known one is over (the next request opens a new one).
    /// </summary>
    public long WindowEndsAt(long now)
    {
        var start = Volatile.Read(ref _windowStart);
        return start != 0 && now < start + Window ? start + Window : 0;
    }

    /// <summary>
    /// A response's headers (either may be absent: -1) to a request sent at <paramref name="sentAt"/> (UTC ticks; 0 when
    /// not known, which leaves the minute's estimate alone). The reading is as of that request's arrival: the estimates
    /// charged for requests sent since (<paramref name="chargedThrough"/>, the running total once its own was added;
    /// 0 when not known) come off it, so a slow answer does not hand back tokens the requests after it have taken.
    /// </summary>
    internal void Observe(long tokens, long requests, long now, long sentAt = 0, long chargedThrough = 0)
    {
        if (tokens < 0 && requests < 0)
        {
            return;
        }
        var reading = tokens;
        if (tokens > 0 && chargedThrough > 0)
        {
            tokens = Math.Max(0, tokens - Math.Max(0, Volatile.Read(ref _charged) - chargedThrough));
        }
        Volatile.Write(ref _tokens, tokens);
        Volatile.Write(ref _requests, requests);
        Volatile.Write(ref _observedAt, now);
        if (tokens < 0 || sentAt <= 0)
        {
            return;
        }
        lock (_windowLock)
        {
            // Only a request sent after the last one read can show a reset: an older one's reading is older news.
            if (sentAt < _lastReadingSentAt)
            {
                return;
            }
            if (_windowStart == 0 || reading > _lastReading || sentAt >= _windowStart + Window)
            {
                Volatile.Write(ref _windowStart, sentAt);
            }
            _lastReading = reading;
            _lastReadingSentAt = sentAt;
        }
    }

    /// <summary>
    /// A request is on its way: charge its estimate against what is known to be left. Returns the running total of
    /// estimates charged, this one included (see <see cref="Observe"/>).
    /// </summary>
    internal long Charge(long estimatedTokens)
    {
        var through = Interlocked.Add(ref _charged, Math.Max(0, estimatedTokens));
        if (Volatile.Read(ref _tokens) > 0)
        {
            Interlocked.Add(ref _tokens, -estimatedTokens);
        }
        if (Volatile.Read(ref _requests) > 0)
        {
            Interlocked.Decrement(ref _requests);
        }
        return through;
    }

    /// <summary>The backend throttled: nothing is left until its reset.</summary>
    internal void Exhausted(long now)
    {
        Volatile.Write(ref _tokens, 0);
        Volatile.Write(ref _observedAt, now);
    }
}
