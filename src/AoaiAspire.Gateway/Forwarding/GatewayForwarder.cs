using System.Buffers;
using System.Diagnostics;
using System.Net.Http.Headers;
using AoaiAspire.Gateway.Configuration;
using AoaiAspire.Gateway.Errors;
using AoaiAspire.Gateway.Health;
using AoaiAspire.Gateway.LoadBalancing;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace AoaiAspire.Gateway.Forwarding;

/// <summary>What one upstream attempt came to.</summary>
internal enum AttemptOutcome
{
    /// <summary>A response went to the caller (success, or a caller error returned unchanged).</summary>
    Completed,
    /// <summary>Throttled, failed or timed out before anything reached the caller: try another backend.</summary>
    Retry,
    /// <summary>The caller went away.</summary>
    CallerGone,
}

/// <summary>A caller's request as the forwarder needs it.</summary>
internal readonly record struct ForwardRequest(DeploymentRoute Route, string Operation, bool DeploymentScoped, string Query, ReadOnlyMemory<byte> Body, string? ContentType);

/// <summary>
/// Sends a caller's request to the backends of its deployment until one answers.
/// </summary>
/// <remarks>
/// For each attempt:
/// 1. select: the best available backend not tried yet (priority group, then policy);
/// 2. send: the buffered body, the caller's headers minus hop-by-hop and credentials, upstream auth;
/// 3. react to the status before anything reaches the caller: 429 benches the backend until its
///    Retry-After and tries the next at once; 5xx, 408, timeouts and connection failures count toward the
///    backend's circuit and try the next; anything else is the answer;
/// 4. stream the answer: status and headers, then the body chunk by chunk with a pooled buffer, flushed
///    per chunk so SSE reaches the caller as it is produced. From the first byte on, no retry.
/// When no backend is left: 429 with the soonest Retry-After if every candidate is throttled, else 503.
/// </remarks>
internal sealed partial class GatewayForwarder(
    UpstreamInvoker upstream,
    UpstreamCredentials credentials,
    BackendSelector selector,
    BackendStateUpdater updater,
    IOptionsMonitor<GatewayOptions> options,
    TimeProvider time,
    ILogger<GatewayForwarder> logger)
{
    private const int CopyBufferSize = 16 * 1024;
    private static readonly string[] AttemptCounts = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

    public async Task ForwardAsync(HttpContext context, ForwardRequest request)
    {
        var gateway = options.CurrentValue;
        var route = request.Route;
        var maxAttempts = gateway.Routing.MaxAttempts == 0 ? route.Candidates.Length : Math.Min(gateway.Routing.MaxAttempts, route.Candidates.Length);
        ulong tried = 0;
        NoBackend none = default;
        for (var attempt = 1; attempt <= maxAttempts; attempt++)
        {
            // 1. Select.
            var index = selector.Select(route, tried, updater.Now, out none);
            if (index < 0)
            {
                break;
            }
            tried |= 1UL << index;

            var outcome = await AttemptAsync(context, request, route.Candidates[index], attempt, gateway).ConfigureAwait(false);
            if (outcome != AttemptOutcome.Retry)
            {
                return;
            }
            if (attempt == maxAttempts)
            {
                selector.Select(route, ulong.MaxValue, updater.Now, out none);
            }
        }
        await WriteNoBackendAsync(context, route, none).ConfigureAwait(false);
    }

    private async Task<AttemptOutcome> AttemptAsync(HttpContext context, ForwardRequest request, BackendCandidate candidate, int attempt, GatewayOptions gateway)
    {
        var state = candidate.State;
        var backend = candidate.Backend;
        var aborted = context.RequestAborted;
        using var attemptCts = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        attemptCts.CancelAfter(gateway.Upstream.FirstByteTimeout);
        var started = time.GetTimestamp();

        // 2. Send.
        HttpResponseMessage response;
        using var upstreamRequest = CreateUpstreamRequest(context, request, candidate, gateway);
        try
        {
            await credentials.ApplyAsync(upstreamRequest, backend, attemptCts.Token).ConfigureAwait(false);
            response = await upstream.Invoker.SendAsync(upstreamRequest, attemptCts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            updater.OnAbandoned(state);
            return AttemptOutcome.CallerGone;
        }
        catch (OperationCanceledException)
        {
            LogAttemptFailed(logger, backend.Name, "timeout waiting for response headers");
            updater.OnFailure(state);
            return AttemptOutcome.Retry;
        }
        catch (HttpRequestException ex)
        {
            LogAttemptFailed(logger, backend.Name, ex.HttpRequestError.ToString());
            updater.OnFailure(state);
            return AttemptOutcome.Retry;
        }
        catch (Azure.Identity.AuthenticationFailedException)
        {
            LogAttemptFailed(logger, backend.Name, "Entra ID token unavailable");
            updater.OnFailure(state);
            return AttemptOutcome.Retry;
        }

        using (response)
        {
            // 3. React before anything reaches the caller.
            var status = (int)response.StatusCode;
            if (status == StatusCodes.Status429TooManyRequests)
            {
                updater.OnThrottled(state, RetryAfter.Parse(response.Headers, time.GetUtcNow()));
                return AttemptOutcome.Retry;
            }
            // 401/403/404 from a backend mean that backend is misconfigured (key, role, deployment name),
            // not that the caller erred: another backend may well serve, so they count as failures too.
            if (status >= 500 || status is StatusCodes.Status408RequestTimeout or StatusCodes.Status401Unauthorized or StatusCodes.Status403Forbidden or StatusCodes.Status404NotFound)
            {
                LogAttemptFailed(logger, backend.Name, status.ToString(System.Globalization.CultureInfo.InvariantCulture));
                updater.OnFailure(state);
                return AttemptOutcome.Retry;
            }
            updater.OnSuccess(state, time.GetElapsedTime(started));

            // 4. Stream the answer.
            var callerResponse = context.Response;
            callerResponse.StatusCode = status;
            CopyResponseHeaders(response, callerResponse);
            callerResponse.Headers[GatewayHeaders.Backend] = backend.Name;
            callerResponse.Headers[GatewayHeaders.Attempts] = attempt < AttemptCounts.Length ? AttemptCounts[attempt] : attempt.ToString(System.Globalization.CultureInfo.InvariantCulture);
            context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();

            var isEventStream = response.Content.Headers.ContentType?.MediaType == "text/event-stream";
            var copy = await CopyBodyAsync(response.Content, callerResponse, isEventStream, attemptCts, gateway.Upstream.StreamIdleTimeout, aborted).ConfigureAwait(false);
            switch (copy)
            {
                case CopyResult.Done:
                    return AttemptOutcome.Completed;
                case CopyResult.CallerGone:
                    return AttemptOutcome.CallerGone;
                default:
                    // The backend failed mid-body. The caller has part of an answer: end the connection so
                    // that it cannot take a cut body for a whole one.
                    LogBodyFailed(logger, backend.Name, copy.ToString());
                    updater.OnFailure(state);
                    context.Abort();
                    return AttemptOutcome.Completed;
            }
        }
    }

    private HttpRequestMessage CreateUpstreamRequest(HttpContext context, ForwardRequest request, BackendCandidate candidate, GatewayOptions gateway)
    {
        // Every call goes upstream Azure-style, with the backend's own deployment name: a v1-style caller's
        // body is sent unchanged (Azure OpenAI ignores 'model' on deployment paths), so nothing is rewritten.
        var baseUri = request.DeploymentScoped ? candidate.DeploymentBase : candidate.OpenAiBase;
        var query = request.Query.Length > 0 ? request.Query : "?api-version=" + gateway.DefaultApiVersion;
        var upstreamRequest = new HttpRequestMessage(HttpMethods.IsGet(context.Request.Method) ? HttpMethod.Get : HttpMethod.Post, baseUri + request.Operation + query)
        {
            Version = System.Net.HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
        };
        if (!request.Body.IsEmpty)
        {
            var content = new ReadOnlyMemoryContent(request.Body);
            content.Headers.TryAddWithoutValidation("Content-Type", request.ContentType ?? "application/json");
            upstreamRequest.Content = content;
        }
        foreach (var header in context.Request.Headers)
        {
            if (!HeaderRules.NotForwardedUpstream.Contains(header.Key))
            {
                upstreamRequest.Headers.TryAddWithoutValidation(header.Key, (IEnumerable<string>)header.Value);
            }
        }
        return upstreamRequest;
    }

    private static void CopyResponseHeaders(HttpResponseMessage response, HttpResponse callerResponse)
    {
        var headers = callerResponse.Headers;
        foreach (var header in response.Headers.NonValidated)
        {
            if (!HeaderRules.NotReturned.Contains(header.Key))
            {
                headers[header.Key] = ToStringValues(header.Value);
            }
        }
        foreach (var header in response.Content.Headers.NonValidated)
        {
            if (!HeaderRules.NotReturned.Contains(header.Key))
            {
                headers[header.Key] = ToStringValues(header.Value);
            }
        }
    }

    private static Microsoft.Extensions.Primitives.StringValues ToStringValues(HeaderStringValues values)
    {
        if (values.Count == 1)
        {
            foreach (var v in values)
            {
                return v;
            }
        }
        return values.ToArray();
    }

    private enum CopyResult { Done, CallerGone, UpstreamFailed, UpstreamIdle }

    private static async Task<CopyResult> CopyBodyAsync(HttpContent content, HttpResponse callerResponse, bool flushEachChunk, CancellationTokenSource attemptCts, TimeSpan idleTimeout, CancellationToken aborted)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
        try
        {
            Stream source;
            try
            {
                source = await content.ReadAsStreamAsync(attemptCts.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException or OperationCanceledException)
            {
                return aborted.IsCancellationRequested ? CopyResult.CallerGone : CopyResult.UpstreamFailed;
            }
            await using (source.ConfigureAwait(false))
            {
                var body = callerResponse.Body;
                await callerResponse.StartAsync(aborted).ConfigureAwait(false);
                while (true)
                {
                    int read;
                    attemptCts.CancelAfter(idleTimeout);
                    try
                    {
                        read = await source.ReadAsync(buffer, attemptCts.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        return aborted.IsCancellationRequested ? CopyResult.CallerGone : CopyResult.UpstreamIdle;
                    }
                    catch (Exception ex) when (ex is HttpRequestException or IOException)
                    {
                        return aborted.IsCancellationRequested ? CopyResult.CallerGone : CopyResult.UpstreamFailed;
                    }
                    if (read == 0)
                    {
                        return CopyResult.Done;
                    }
                    try
                    {
                        await body.WriteAsync(buffer.AsMemory(0, read), aborted).ConfigureAwait(false);
                        if (flushEachChunk)
                        {
                            await body.FlushAsync(aborted).ConfigureAwait(false);
                        }
                    }
                    catch (Exception ex) when (ex is OperationCanceledException or IOException or ObjectDisposedException)
                    {
                        return CopyResult.CallerGone;
                    }
                }
            }
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            return CopyResult.CallerGone;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private Task WriteNoBackendAsync(HttpContext context, DeploymentRoute route, NoBackend none)
    {
        var now = updater.Now;
        TimeSpan? retryAfter = none.RetryAt > now ? TimeSpan.FromTicks(none.RetryAt - now) : null;
        if (none.AllThrottled)
        {
            LogAllThrottled(logger, route.Name);
            return GatewayErrors.WriteAsync(context, StatusCodes.Status429TooManyRequests, GatewayErrorCodes.Throttled,
                $"Every backend of deployment '{route.Name}' is at its rate limit. Please retry after {Math.Ceiling((retryAfter ?? TimeSpan.FromSeconds(1)).TotalSeconds)} seconds.",
                retryAfter ?? TimeSpan.FromSeconds(1));
        }
        LogNoBackend(logger, route.Name);
        return GatewayErrors.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, GatewayErrorCodes.NoBackendAvailable,
            $"No backend of deployment '{route.Name}' could serve the request (all are failing, unreachable or unhealthy). Please retry later.",
            retryAfter);
    }

    [LoggerMessage(1301, LogLevel.Warning, "Attempt on backend {Backend} failed ({Reason}); trying the next backend.")]
    private static partial void LogAttemptFailed(ILogger logger, string backend, string reason);

    [LoggerMessage(1302, LogLevel.Warning, "Backend {Backend} failed while its response was being streamed ({Reason}); the caller's connection was ended.")]
    private static partial void LogBodyFailed(ILogger logger, string backend, string reason);

    [LoggerMessage(1303, LogLevel.Warning, "Every backend of deployment {Deployment} is throttled; answering 429.")]
    private static partial void LogAllThrottled(ILogger logger, string deployment);

    [LoggerMessage(1304, LogLevel.Warning, "No backend of deployment {Deployment} is available; answering 503.")]
    private static partial void LogNoBackend(ILogger logger, string deployment);
}
