namespace AoaiAspire.Gateway.Availability;

/// <summary>
/// What one backend deployment has left in its current rate-limit minute: taken from the
/// <c>x-ratelimit-remaining-tokens</c> / <c>-requests</c> headers of each response, and lowered by the
/// gateway's own estimate for every request it sends in between, so that bursts are not blind until the
/// next response. A reading older than the limiter's minute is forgotten. Written only through
/// <see cref="BackendStateUpdater"/>; selection reads it.
/// </summary>
internal sealed class DeploymentCapacity
{
    private static readonly long Window = TimeSpan.FromMinutes(1).Ticks;

    private long _throttledUntil;
    private long _tokens = -1;
    private long _requests = -1;
    private long _observedAt;

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

    /// <summary>A response's headers (either may be absent: -1).</summary>
    internal void Observe(long tokens, long requests, long now)
    {
        if (tokens < 0 && requests < 0)
        {
            return;
        }
        Volatile.Write(ref _tokens, tokens);
        Volatile.Write(ref _requests, requests);
        Volatile.Write(ref _observedAt, now);
    }

    /// <summary>A request is on its way: charge its estimate against what is known to be left.</summary>
    internal void Charge(long estimatedTokens)
    {
        if (Volatile.Read(ref _tokens) > 0)
        {
            Interlocked.Add(ref _tokens, -estimatedTokens);
        }
        if (Volatile.Read(ref _requests) > 0)
        {
            Interlocked.Decrement(ref _requests);
        }
    }

    /// <summary>The backend throttled: nothing is left until its reset.</summary>
    internal void Exhausted(long now)
    {
        Volatile.Write(ref _tokens, 0);
        Volatile.Write(ref _observedAt, now);
    }
}
