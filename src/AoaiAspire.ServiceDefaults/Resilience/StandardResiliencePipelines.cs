using System.Collections.Concurrent;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;

namespace AoaiAspire.ServiceDefaults.Resilience;

/// <summary>
/// One pipeline and one concurrency limiter per client name, shared by every handler instance
/// <c>IHttpClientFactory</c> creates for that name: handlers are recycled every couple of minutes,
/// and a circuit breaker that forgot its state on each recycle would not break.
/// </summary>
internal sealed class StandardResiliencePipelines(
    IOptionsMonitor<HttpStandardResilienceOptions> options,
    TimeProvider timeProvider) : IDisposable
{
    internal static readonly ResiliencePropertyKey<bool> ReplayableKey = new("AoaiAspire.Resilience.RequestIsReplayable");

    private readonly ConcurrentDictionary<string, Lazy<StandardResiliencePipeline>> _pipelines = new(StringComparer.Ordinal);

    public StandardResiliencePipeline Get(string clientName) =>
        _pipelines.GetOrAdd(clientName, name => new Lazy<StandardResiliencePipeline>(() => Build(name))).Value;

    public void Dispose()
    {
        foreach (var pipeline in _pipelines.Values.Where(p => p.IsValueCreated))
        {
            pipeline.Value.Limiter.Dispose();
        }
    }

    private StandardResiliencePipeline Build(string clientName)
    {
        var o = options.Get(clientName);
        var builder = new ResiliencePipelineBuilder<HttpResponseMessage>
        {
            Name = $"{clientName}-standard",
            TimeProvider = timeProvider,
        };

        builder.AddTimeout(new TimeoutStrategyOptions { Name = "TotalRequestTimeout", Timeout = o.TotalRequestTimeout });

        if (o.Retry.MaxRetryAttempts > 0)
        {
            var retry = o.Retry;
            builder.AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                Name = "Retry",
                MaxRetryAttempts = retry.MaxRetryAttempts,
                Delay = retry.Delay,
                BackoffType = retry.BackoffType,
                UseJitter = retry.UseJitter,
                MaxDelay = retry.MaxDelay,
                ShouldHandle = static args => ValueTask.FromResult(
                    args.Context.Properties.GetValue(ReplayableKey, true) && HttpTransientOutcome.IsTransient(args.Outcome)),
                DelayGenerator = retry.ShouldRetryAfterHeader
                    ? args => ValueTask.FromResult(args.Outcome.Result is { } response
                        ? HttpTransientOutcome.GetRetryAfter(response, timeProvider)
                        : null)
                    : null,
                OnRetry = retry.OnRetry,
            });
        }

        var breaker = o.CircuitBreaker;
        builder.AddCircuitBreaker(new CircuitBreakerStrategyOptions<HttpResponseMessage>
        {
            Name = "CircuitBreaker",
            FailureRatio = breaker.FailureRatio,
            SamplingDuration = breaker.SamplingDuration,
            MinimumThroughput = breaker.MinimumThroughput,
            BreakDuration = breaker.BreakDuration,
            ShouldHandle = static args => ValueTask.FromResult(HttpTransientOutcome.IsTransient(args.Outcome)),
            OnOpened = breaker.OnOpened,
        });

        builder.AddTimeout(new TimeoutStrategyOptions { Name = "AttemptTimeout", Timeout = o.AttemptTimeout });

        var limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions
        {
            PermitLimit = o.MaxConcurrentRequests,
            QueueLimit = 0,
        });

        return new StandardResiliencePipeline(builder.Build(), limiter);
    }
}

/// <summary>A client's pipeline and the limiter that sits outside it.</summary>
internal sealed record StandardResiliencePipeline(ResiliencePipeline<HttpResponseMessage> Pipeline, ConcurrencyLimiter Limiter);
