namespace AoaiAspire.Simulator.RateLimiting;

/// <summary>
/// The limits of one deployment, counted the way Azure OpenAI counts them: a token budget per one-minute
/// window charged on arrival, and the requests-per-minute limit enforced over 10-second windows.
/// </summary>
/// <remarks>
/// Both windows are fixed windows that open at the first request after the previous one closed (not at a
/// wall-clock boundary): the token count "resets each minute" as AOAI's does, and a burst larger than
/// RPM/6 inside ten seconds is refused even when the minute has room, as Azure OpenAI's short RPM windows do (docs/simulator.md, "Rate limits").
/// One lock guards a handful of integers; the critical section does no allocation and no I/O.
/// </remarks>
internal sealed class DeploymentRateLimiter
{
    internal static readonly TimeSpan TokenWindow = TimeSpan.FromMinutes(1);
    internal static readonly TimeSpan RequestWindow = TimeSpan.FromSeconds(10);

    private readonly Lock _lock = new();
    private readonly TimeProvider _time;
    private long _tokenWindowStart = long.MinValue;
    private long _requestWindowStart = long.MinValue;
    private long _tokensUsed;
    private int _requestsUsed;

    public DeploymentRateLimiter(int tokensPerMinute, int? requestsPerMinute, TimeProvider time)
    {
        _time = time;
        TokensPerMinute = tokensPerMinute;
        RequestsPerMinute = requestsPerMinute ?? (int)Math.Max(1, tokensPerMinute * 6L / 1000);
        RequestsPerWindow = Math.Max(1, RequestsPerMinute / 6);
    }

    public int TokensPerMinute { get; }

    public int RequestsPerMinute { get; }

    /// <summary>Requests allowed in one 10-second window: RPM / 6, at least 1.</summary>
    public int RequestsPerWindow { get; }

    /// <summary>Charges <paramref name="tokens"/> and one request, or refuses both.</summary>
    public RateLimitDecision TryAcquire(int tokens)
    {
        var now = _time.GetTimestamp();
        lock (_lock)
        {
            if (Elapsed(_tokenWindowStart, now) >= TokenWindow)
            {
                _tokenWindowStart = now;
                _tokensUsed = 0;
            }

            if (Elapsed(_requestWindowStart, now) >= RequestWindow)
            {
                _requestWindowStart = now;
                _requestsUsed = 0;
            }

            var resetTokens = TokenWindow - Elapsed(_tokenWindowStart, now);
            var resetRequests = RequestWindow - Elapsed(_requestWindowStart, now);

            if (_requestsUsed >= RequestsPerWindow)
            {
                return new RateLimitDecision(RateLimitKind.Requests, resetRequests, resetTokens, resetRequests, RemainingTokens(), 0);
            }

            if (_tokensUsed + tokens > TokensPerMinute)
            {
                return new RateLimitDecision(
                    RateLimitKind.Tokens, resetTokens, resetTokens, resetRequests, RemainingTokens(), RequestsPerWindow - _requestsUsed);
            }

            _tokensUsed += tokens;
            _requestsUsed++;
            return new RateLimitDecision(
                RateLimitKind.None, TimeSpan.Zero, resetTokens, resetRequests, RemainingTokens(), RequestsPerWindow - _requestsUsed);
        }
    }

    /// <summary>Forgets both windows (<c>POST /admin/reset</c>).</summary>
    public void Reset()
    {
        lock (_lock)
        {
            _tokenWindowStart = long.MinValue;
            _requestWindowStart = long.MinValue;
            _tokensUsed = 0;
            _requestsUsed = 0;
        }
    }

    private int RemainingTokens() => (int)Math.Max(0, TokensPerMinute - _tokensUsed);

    private TimeSpan Elapsed(long start, long now)
        => start == long.MinValue ? TimeSpan.MaxValue : _time.GetElapsedTime(start, now);
}

internal enum RateLimitKind
{
    None,
    Tokens,
    Requests,
}

/// <summary>The outcome of <see cref="DeploymentRateLimiter.TryAcquire"/>; <see cref="RemainingRequests"/> counts the current 10-second window.</summary>
internal readonly record struct RateLimitDecision(
    RateLimitKind LimitedBy,
    TimeSpan RetryAfter,
    TimeSpan ResetTokens,
    TimeSpan ResetRequests,
    int RemainingTokens,
    int RemainingRequests)
{
    public bool Admitted => LimitedBy == RateLimitKind.None;
}
