using Polly;

namespace AoaiAspire.ServiceDefaults.Resilience;

/// <summary>
/// Microsoft.Extensions.Http.Resilience's standard handler rebuilt on Polly.Core: each request takes
/// a concurrency permit (Polly.RateLimiting is not in the feed, so the limiter is applied here),
/// then runs through the client's pipeline — total timeout, retry, circuit breaker, attempt timeout.
/// </summary>
/// <remarks>
/// Every attempt sends the same <see cref="HttpRequestMessage"/>; a request whose body cannot be
/// serialized twice is sent once (see <see cref="HttpTransientOutcome.IsReplayable"/>). Polly disposes
/// the responses of attempts it retries.
/// </remarks>
internal sealed class StandardResilienceHandler(StandardResiliencePipeline pipeline) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        using var lease = pipeline.Limiter.AttemptAcquire();
        if (!lease.IsAcquired)
        {
            throw new ConcurrencyLimitRejectedException();
        }

        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        context.Properties.Set(StandardResiliencePipelines.ReplayableKey, HttpTransientOutcome.IsReplayable(request.Content));
        try
        {
            return await pipeline.Pipeline.ExecuteAsync(
                static (ctx, state) => new ValueTask<HttpResponseMessage>(state.Handler.SendCoreAsync(state.Request, ctx.CancellationToken)),
                context,
                (Handler: this, Request: request));
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        using var lease = pipeline.Limiter.AttemptAcquire();
        if (!lease.IsAcquired)
        {
            throw new ConcurrencyLimitRejectedException();
        }

        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        context.Properties.Set(StandardResiliencePipelines.ReplayableKey, HttpTransientOutcome.IsReplayable(request.Content));
        try
        {
            return pipeline.Pipeline.Execute(
                static (ctx, state) => state.Handler.SendCore(state.Request, ctx.CancellationToken),
                context,
                (Handler: this, Request: request));
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    private Task<HttpResponseMessage> SendCoreAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        base.SendAsync(request, cancellationToken);

    private HttpResponseMessage SendCore(HttpRequestMessage request, CancellationToken cancellationToken) =>
        base.Send(request, cancellationToken);
}
