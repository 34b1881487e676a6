using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;

namespace AoaiAspire.ServiceDefaults.Resilience;

/// <summary>
/// The standard resilience handler's settings, with the defaults of
/// Microsoft.Extensions.Http.Resilience's <c>AddStandardResilienceHandler()</c>. Strategies, outer to
/// inner: concurrency limit, total timeout, retry, circuit breaker, attempt timeout.
/// </summary>
/// <remarks>
/// Bound for every client from <c>ServiceDefaults:Http:Resilience</c> (for example
/// <c>ServiceDefaults__Http__Resilience__Retry__MaxRetryAttempts=5</c>); a client overrides in code
/// with <c>AddStandardResilienceHandler(o =&gt; …)</c>. Named options, one instance per client name,
/// validated at start-up. The pipeline of a client is built once, on its first request.
/// </remarks>
public sealed class HttpStandardResilienceOptions
{
    /// <summary>Configuration section bound for every client.</summary>
    public const string SectionName = "ServiceDefaults:Http:Resilience";

    /// <summary>Requests a client may have in flight at once; more are rejected with <see cref="ConcurrencyLimitRejectedException"/>. Default 1000.</summary>
    public int MaxConcurrentRequests { get; set; } = 1000;

    /// <summary>Time for the whole request, retries and their delays included. Default 30 s.</summary>
    public TimeSpan TotalRequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Retry of transient failures.</summary>
    public HttpRetryOptions Retry { get; set; } = new();

    /// <summary>Circuit breaker over transient failures.</summary>
    public HttpCircuitBreakerOptions CircuitBreaker { get; set; } = new();

    /// <summary>Time for one attempt; a timed-out attempt is retried. Default 10 s.</summary>
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>Retry settings of <see cref="HttpStandardResilienceOptions"/>.</summary>
public sealed class HttpRetryOptions
{
    /// <summary>Retries after the first attempt; 0 turns retry off. Default 3.</summary>
    public int MaxRetryAttempts { get; set; } = 3;

    /// <summary>Base delay of the backoff. Default 2 s.</summary>
    public TimeSpan Delay { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How the delay grows. Default <see cref="DelayBackoffType.Exponential"/>.</summary>
    public DelayBackoffType BackoffType { get; set; } = DelayBackoffType.Exponential;

    /// <summary>Whether delays are jittered. Default true.</summary>
    public bool UseJitter { get; set; } = true;

    /// <summary>Cap on a computed backoff delay; null for none. Default null.</summary>
    public TimeSpan? MaxDelay { get; set; }

    /// <summary>
    /// Whether a response's <c>retry-after-ms</c> or <c>Retry-After</c> header sets the delay instead
    /// of the backoff. Default true. The total timeout still bounds the wait.
    /// </summary>
    public bool ShouldRetryAfterHeader { get; set; } = true;

    /// <summary>Called before each retry delay, with the delay chosen. Not bindable.</summary>
    public Func<OnRetryArguments<HttpResponseMessage>, ValueTask>? OnRetry { get; set; }
}

/// <summary>Circuit breaker settings of <see cref="HttpStandardResilienceOptions"/>.</summary>
public sealed class HttpCircuitBreakerOptions
{
    /// <summary>Share of handled failures among sampled calls that opens the circuit. Default 0.1.</summary>
    public double FailureRatio { get; set; } = 0.1;

    /// <summary>Window the ratio is measured over. Default 30 s.</summary>
    public TimeSpan SamplingDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Calls the window must hold before the circuit may open. Default 100.</summary>
    public int MinimumThroughput { get; set; } = 100;

    /// <summary>How long the circuit stays open. Default 5 s.</summary>
    public TimeSpan BreakDuration { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Called when the circuit opens. Not bindable.</summary>
    public Func<OnCircuitOpenedArguments<HttpResponseMessage>, ValueTask>? OnOpened { get; set; }
}
