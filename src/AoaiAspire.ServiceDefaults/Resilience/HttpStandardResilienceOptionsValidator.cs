using Microsoft.Extensions.Options;

namespace AoaiAspire.ServiceDefaults.Resilience;

/// <summary>
/// Checks the ranges Polly itself enforces, plus the two rules of the standard handler (an attempt
/// fits in the total timeout; the breaker samples at least two attempts' worth), and names the
/// configuration key in each message so a bad setting fails at start-up, not on the first request.
/// </summary>
internal sealed class HttpStandardResilienceOptionsValidator : IValidateOptions<HttpStandardResilienceOptions>
{
    private static readonly TimeSpan MinTimeout = TimeSpan.FromMilliseconds(10);
    private static readonly TimeSpan MinBreakerWindow = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan OneDay = TimeSpan.FromDays(1);

    public ValidateOptionsResult Validate(string? name, HttpStandardResilienceOptions options)
    {
        var prefix = HttpStandardResilienceOptions.SectionName + ":";
        var client = string.IsNullOrEmpty(name) ? "" : $" (HttpClient '{name}')";
        var failures = new List<string>();

        void Check(bool ok, string key, string rule)
        {
            if (!ok)
            {
                failures.Add($"{prefix}{key}{client} {rule}.");
            }
        }

        Check(options.MaxConcurrentRequests >= 1, "MaxConcurrentRequests", "must be at least 1");
        Check(options.TotalRequestTimeout >= MinTimeout && options.TotalRequestTimeout <= OneDay, "TotalRequestTimeout", "must be between 10 ms and 1 day");
        Check(options.AttemptTimeout >= MinTimeout && options.AttemptTimeout <= OneDay, "AttemptTimeout", "must be between 10 ms and 1 day");
        Check(options.AttemptTimeout <= options.TotalRequestTimeout, "AttemptTimeout", $"({options.AttemptTimeout}) must not exceed TotalRequestTimeout ({options.TotalRequestTimeout})");

        var retry = options.Retry;
        if (retry is null)
        {
            failures.Add($"{prefix}Retry{client} must be set.");
        }
        else
        {
            Check(retry.MaxRetryAttempts >= 0, "Retry:MaxRetryAttempts", "must be 0 or more");
            Check(retry.Delay >= TimeSpan.Zero && retry.Delay <= OneDay, "Retry:Delay", "must be between 0 and 1 day");
            Check(retry.MaxDelay is null || (retry.MaxDelay >= TimeSpan.Zero && retry.MaxDelay <= OneDay), "Retry:MaxDelay", "must be between 0 and 1 day");
            Check(Enum.IsDefined(retry.BackoffType), "Retry:BackoffType", "must be Constant, Linear or Exponential");
        }

        var breaker = options.CircuitBreaker;
        if (breaker is null)
        {
            failures.Add($"{prefix}CircuitBreaker{client} must be set.");
        }
        else
        {
            Check(breaker.FailureRatio > 0 && breaker.FailureRatio <= 1, "CircuitBreaker:FailureRatio", "must be greater than 0 and at most 1");
            Check(breaker.MinimumThroughput >= 2, "CircuitBreaker:MinimumThroughput", "must be at least 2");
            Check(breaker.SamplingDuration >= MinBreakerWindow && breaker.SamplingDuration <= OneDay, "CircuitBreaker:SamplingDuration", "must be between 500 ms and 1 day");
            Check(breaker.BreakDuration >= MinBreakerWindow && breaker.BreakDuration <= OneDay, "CircuitBreaker:BreakDuration", "must be between 500 ms and 1 day");
            Check(breaker.SamplingDuration >= 2 * options.AttemptTimeout, "CircuitBreaker:SamplingDuration", $"({breaker.SamplingDuration}) must be at least twice AttemptTimeout ({options.AttemptTimeout})");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
