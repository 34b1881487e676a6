using Polly;

namespace AoaiAspire.ServiceDefaults.Resilience;

/// <summary>
/// Thrown by the standard resilience handler when a client already has
/// <see cref="HttpStandardResilienceOptions.MaxConcurrentRequests"/> requests in flight. Plays the
/// part of Polly.RateLimiting's <c>RateLimiterRejectedException</c>, a package the feed lacks.
/// </summary>
public sealed class ConcurrencyLimitRejectedException : ExecutionRejectedException
{
    /// <summary>Creates the exception with a default message.</summary>
    public ConcurrencyLimitRejectedException()
        : base("The HttpClient's concurrency limit was reached; the request was not sent.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public ConcurrencyLimitRejectedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and an inner exception.</summary>
    public ConcurrencyLimitRejectedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
