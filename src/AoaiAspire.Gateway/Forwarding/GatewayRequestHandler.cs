using AoaiAspire.Gateway.Admission;
using AoaiAspire.Gateway.Affinity;
using AoaiAspire.Gateway.Configuration;
using AoaiAspire.Gateway.Consumers;
using AoaiAspire.Gateway.Errors;
using AoaiAspire.Gateway.Quotas;
using AoaiAspire.Gateway.Responses;
using AoaiAspire.Gateway.Telemetry;
using AoaiAspire.Gateway.Tokens;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace AoaiAspire.Gateway.Forwarding;

/// <summary>
/// A request the gateway refuses itself: the status and Azure OpenAI error code and message the caller gets, the
/// reason counted in telemetry, the deployment when one is known, and the body member at fault (Azure OpenAI's
/// <c>param</c>) when one is. Built only when refusing, so the path of an admitted request allocates nothing for it.
/// </summary>
internal readonly record struct Rejection(int Status, string Code, string Message, string Reason, TimeSpan? RetryAfter = null, string? Deployment = null, string? Param = null)
{
    /// <summary>The caller went away while the body was read: nothing to answer, nothing to count.</summary>
    public static readonly Rejection CallerGone = new(0, "", "", "");
}

/// <summary>
/// A caller's request through the gateway, one step per method. Each step returns the request's next piece or a
/// <see cref="Rejection"/>; <see cref="RejectAsync"/> is the one place that answers a refusal and counts it.
/// </summary>
/// <remarks>
/// 1. route: api-version and method for the path;
/// 2. authenticate: the gateway key (never sent upstream, see HeaderRules), then the consumer's concurrency limit;
/// 3. operation: a known operation with the content type it takes;
/// 4. read and parse: the body buffered within the limit, its JSON scanned once and checked (<see cref="RequestInfo"/>);
/// 5. resolve: the deployment's route and the consumer's right to call it (and, for Responses, the owner of a named object);
///    a body refused in step 4 is answered here, after a 404 or 403 (Azure OpenAI's order), or in step 4 when no deployment is known;
/// 6. admit: the consumer's quota charged with the estimate;
/// 7. forward: <see cref="GatewayForwarder"/>, which holds the request in the admission queue when no backend can take it
///    yet but one will within the consumer's patience (<see cref="AdmissionQueue"/>);
/// 8. account: the quota corrected with the real usage, the usage ledger, the request's telemetry.
/// </remarks>
internal sealed class GatewayRequestHandler(
    ConsumerDirectory consumers,
    BackendRegistry registry,
    IOptionsMonitor<GatewayOptions> options,
    IConsumerQuotas quotas,
    AffinityDirectory affinity,
    GatewayForwarder forwarder,
    AdmissionQueue admission,
    UsageLedger ledger,
    GatewayTelemetry telemetry,
    TimeProvider time,
    ILoggerFactory loggers)
{
    /// <summary>Operations forwarded; anything else is refused here rather than sent to a backend.</summary>
    private static readonly HashSet<string> Operations = new(StringComparer.Ordinal)
    {
        "chat/completions", "completions", "embeddings", "images/generations",
        "audio/transcriptions", "audio/translations", "audio/speech", "responses",
    };

    /// <summary>Operations whose body is JSON; other operations (audio) take multipart forms.</summary>
    private static readonly HashSet<string> JsonOperations = new(StringComparer.Ordinal) { "chat/completions", "completions", "embeddings", "images/generations", "audio/speech", "responses" };

    private readonly ILogger _authenticationLog = loggers.CreateLogger(GatewayEndpoints.AuthenticationLog.Category);

    public TimeProvider Time => time;

    /// <param name="accountPath">For the Responses API: the account-wide path sent upstream (<c>v1/responses</c>, or <c>responses</c> for the preview path).</param>
    public async Task HandleAsync(HttpContext context, string? deployment, string operation, string? accountPath = null)
    {
        var arrivedAt = time.GetTimestamp();
        var isModels = operation == "models";
        // 1. Route.
        if (CheckRoute(context, deployment, isModels) is { } badRoute)
        {
            await RejectAsync(context, badRoute).ConfigureAwait(false);
            return;
        }
        // 2. Authenticate.
        if (Authenticate(context, out var refused) is not { } consumer)
        {
            await RejectAsync(context, refused).ConfigureAwait(false);
            return;
        }
        if (Enter(consumer) is { } busy)
        {
            await RejectAsync(context, busy).ConfigureAwait(false);
            return;
        }
        try
        {
            if (isModels)
            {
                await GatewayEndpoints.WriteModelsAsync(context, registry.Catalog, consumer).ConfigureAwait(false);
                return;
            }
            await HandleAuthenticatedAsync(context, deployment, operation, consumer, arrivedAt, accountPath).ConfigureAwait(false);
        }
        finally
        {
            consumer.Exit();
        }
    }

    private async Task HandleAuthenticatedAsync(HttpContext context, string? deployment, string operation, Consumer consumer, long arrivedAt, string? accountPath)
    {
        // 3. Operation.
        var contentType = context.Request.ContentType;
        var isJson = contentType is null || contentType.Contains("json", StringComparison.OrdinalIgnoreCase);
        if (CheckOperation(deployment, operation, isJson, contentType) is { } badOperation)
        {
            await RejectAsync(context, badOperation).ConfigureAwait(false);
            return;
        }

        // 4. Read and parse.
        var gateway = options.CurrentValue;
        var (body, unreadable) = await ReadBodyAsync(context, gateway.MaxRequestBodySize).ConfigureAwait(false);
        if (unreadable is { } cannotRead)
        {
            await RejectAsync(context, cannotRead).ConfigureAwait(false);
            return;
        }
        using (body)
        {
            var badBody = Parse(body, isJson, operation, deployment, out var info);
            if (badBody is { } unreadableBody && (unreadableBody.Param == "model" || (deployment ?? info.Model) is null))
            {
                await RejectAsync(context, unreadableBody).ConfigureAwait(false);
                return;
            }

            // 5. Resolve. As on Azure OpenAI, an unknown deployment (404) or one the key may not call (403) is said before
            // a member of the wrong type (400); either way nothing has been charged or sent yet.
            if (Resolve(deployment ?? info.Model!, consumer, out var route) is { } unresolved)
            {
                await RejectAsync(context, unresolved).ConfigureAwait(false);
                return;
            }
            if (badBody is { } wrongMember)
            {
                await RejectAsync(context, wrongMember with { Deployment = route.Name }).ConfigureAwait(false);
                return;
            }
            // Responses: the backend that holds a named previous response or conversation must serve it.
            ResponsesCall? stateful = null;
            if (operation == ResponsesEndpoints.CreateOperation)
            {
                stateful = ResponsesCall.ForCreate(affinity, info, body.Span, route, consumer.Name, accountPath ?? ResponsesEndpoints.V1Path);
                if (stateful.Refusal is { } refusal)
                {
                    await RejectAsync(context, new Rejection(refusal.Status, refusal.Code, refusal.Message, "bad_request", Deployment: route.Name)).ConfigureAwait(false);
                    return;
                }
            }

            // 6. Admit: the consumer's quota is charged with the estimate now and corrected with the real usage after.
            var estimate = isJson ? TokenEstimator.Estimate(info, operation == "embeddings", gateway.Tokens.DefaultCompletionTokens) : 0;
            if (Admit(context.Response, consumer, route, estimate, out var decision) is { } overQuota)
            {
                await RejectAsync(context, overQuota).ConfigureAwait(false);
                return;
            }

            // 7. Forward.
            var usageMode = !info.Stream ? UsageMode.Json
                : info.IncludeUsage == true || stateful is not null ? UsageMode.StreamCallerAsked
                : info.IncludeUsage is null && !info.HasStreamOptions && operation is "chat/completions" or "completions" ? UsageMode.StreamGatewayAsked
                : UsageMode.StreamNone;
            var request = new ForwardRequest(route, operation, context.Request.QueryString.Value ?? "", body.Memory, contentType, consumer.Name,
                estimate, isJson ? TokenEstimator.PromptTokens(info) : 0, usageMode, arrivedAt, decision.RemainingTokens, decision.RemainingRequests)
            {
                Stateful = stateful,
                PriorityClass = consumer.Priority,
                MaxQueueWait = consumer.MaxQueueWait ?? admission.Options.MaxQueueWait,
            };
            ForwardResult result;
            try
            {
                result = await forwarder.ForwardAsync(context, request).ConfigureAwait(false);
            }
            finally
            {
                stateful?.Release();
            }

            // 8. Account.
            quotas.Correct(decision.Reservation, result.Answered ? result.Usage.TotalTokens : 0);
            Account(context, operation, route.Name, consumer, result, arrivedAt, result.Answered ? result.Usage : default);
        }
    }

    /// <summary>Step 1: what Azure OpenAI answers for a deployment path without api-version (README "api-version"), and the method.</summary>
    public static Rejection? CheckRoute(HttpContext context, string? deployment, bool isModels)
    {
        // The query is scanned, not parsed into a collection; only a query with escapes takes the framework's decoding parse.
        var query = context.Request.QueryString.Value;
        if (deployment is not null && !HasQueryParameter(query, "api-version")
            && !(query is not null && query.AsSpan().IndexOfAny('%', '+') >= 0 && context.Request.Query.ContainsKey("api-version")))
        {
            return new Rejection(StatusCodes.Status404NotFound, GatewayErrorCodes.NotFound,
                "Resource not found. Azure-style paths need an 'api-version' query parameter (or use the v1 API, /openai/v1/..., which takes none).", "missing_api_version");
        }
        var method = context.Request.Method;
        if (isModels ? !HttpMethods.IsGet(method) : !HttpMethods.IsPost(method))
        {
            context.Response.Headers.Allow = isModels ? "GET" : "POST";
            return new Rejection(StatusCodes.Status405MethodNotAllowed, GatewayErrorCodes.MethodNotAllowed,
                $"Method {method} is not allowed here; use {(isModels ? "GET" : "POST")}.", "method_not_allowed");
        }
        return null;
    }

    /// <summary>Whether a query string (<c>?a=1&amp;b</c>) names a parameter (compared as written, not unescaped), without parsing it into a collection.</summary>
    internal static bool HasQueryParameter(string? query, string name)
    {
        var rest = query.AsSpan();
        if (rest.StartsWith('?'))
        {
            rest = rest[1..];
        }
        while (!rest.IsEmpty)
        {
            var end = rest.IndexOf('&');
            var pair = end < 0 ? rest : rest[..end];
            var equals = pair.IndexOf('=');
            var key = equals < 0 ? pair : pair[..equals];
            if (key.Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
            rest = end < 0 ? default : rest[(end + 1)..];
        }
        return false;
    }

    /// <summary>Step 2: the caller's consumer; a failure is logged with where it came from, never with the key.</summary>
    public Consumer? Authenticate(HttpContext context, out Rejection rejection)
    {
        var consumer = consumers.Authenticate(context.Request);
        if (consumer is not null)
        {
            rejection = default;
            return consumer;
        }
        GatewayEndpoints.AuthenticationLog.Failed(_authenticationLog,
            ConsumerDirectory.PresentedKey(context.Request).IsEmpty ? "no key" : "unknown key", context.Connection.RemoteIpAddress?.ToString() ?? "?");
        rejection = new Rejection(StatusCodes.Status401Unauthorized, GatewayErrorCodes.Unauthorized,
            "Access denied due to a missing or invalid key. Send a gateway key in the 'api-key' header or as 'Authorization: Bearer <key>'.", "unauthorized");
        return null;
    }

    /// <summary>Step 2, continued: a slot under the consumer's concurrency limit (released with <see cref="Consumer.Exit"/>).</summary>
    public static Rejection? Enter(Consumer consumer)
        => consumer.TryEnter() ? null : new Rejection(StatusCodes.Status429TooManyRequests, GatewayErrorCodes.Throttled,
            $"Consumer '{consumer.Name}' already has {consumer.MaxConcurrentRequests} requests in flight, its limit. Please retry after 1 second.",
            "consumer_concurrency", TimeSpan.FromSeconds(1));

    /// <summary>Step 3: an operation the gateway forwards, with a content type it takes.</summary>
    private static Rejection? CheckOperation(string? deployment, string operation, bool isJson, string? contentType)
    {
        if (operation == ResponsesEndpoints.CreateOperation && deployment is not null)
        {
            // Azure OpenAI serves the Responses API account-wide only (deployment in 'model'): there is no such path.
            return new Rejection(StatusCodes.Status404NotFound, GatewayErrorCodes.NotFound,
                "The Responses API has no deployment path: POST /openai/v1/responses with the deployment in 'model'.", "unknown_operation");
        }
        if (!Operations.Contains(operation))
        {
            return new Rejection(StatusCodes.Status404NotFound, GatewayErrorCodes.NotFound, $"Operation '{operation}' is not supported by the gateway.", "unknown_operation");
        }
        if (!isJson && JsonOperations.Contains(operation))
        {
            return new Rejection(StatusCodes.Status415UnsupportedMediaType, GatewayErrorCodes.UnsupportedMediaType,
                $"'{operation}' takes a JSON body (Content-Type: application/json), not '{contentType}'.", "unsupported_media_type");
        }
        if (!isJson && deployment is null)
        {
            return new Rejection(StatusCodes.Status415UnsupportedMediaType, GatewayErrorCodes.UnsupportedMediaType,
                "v1-style calls take a JSON body with 'model'; use the Azure-style path for other content types.", "unsupported_media_type");
        }
        return null;
    }

    /// <summary>Step 4: the body, buffered within the gateway's limit.</summary>
    private static async ValueTask<(BufferedBody Body, Rejection? Rejection)> ReadBodyAsync(HttpContext context, long limit)
    {
        BufferedBody body;
        bool tooLarge;
        try
        {
            (body, tooLarge) = await BufferedBody.ReadAsync(context.Request, limit, context.RequestAborted).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is BadHttpRequestException or IOException or OperationCanceledException)
        {
            // The caller's upload broke (bad framing, too slow, cut off): its mistake, answered here, not logged as an error.
            if (context.RequestAborted.IsCancellationRequested)
            {
                return (default, Rejection.CallerGone);
            }
            var status = ex is BadHttpRequestException bad ? bad.StatusCode : StatusCodes.Status400BadRequest;
            return (default, new Rejection(status, GatewayErrorCodes.ForStatus(status), $"The request body could not be read: {ex.Message}",
                status == StatusCodes.Status413PayloadTooLarge ? "too_large" : "bad_request"));
        }
        if (tooLarge)
        {
            body.Dispose();
            return (default, new Rejection(StatusCodes.Status413PayloadTooLarge, GatewayErrorCodes.PayloadTooLarge,
                $"The request body is larger than the gateway's limit of {limit} bytes.", "too_large"));
        }
        return (body, null);
    }

    /// <summary>
    /// Step 4, continued: the JSON body scanned once for what the gateway needs, and checked: wrong types of the members it
    /// reads or walks are refused here, before any backend or quota is spent (README "Bad input", docs/bad-input.md).
    /// </summary>
    private static Rejection? Parse(in BufferedBody body, bool isJson, string operation, string? deployment, out RequestInfo info)
    {
        info = default;
        if (!isJson)
        {
            return null;
        }
        if (body.Length == 0)
        {
            return new Rejection(StatusCodes.Status400BadRequest, GatewayErrorCodes.BadRequest, "The request body is empty.", "bad_request");
        }
        return RequestInfo.TryParse(body.Span, RequestInfo.KindOf(operation), needModel: deployment is null, out info, out var error, out var param)
            ? null
            : new Rejection(StatusCodes.Status400BadRequest, GatewayErrorCodes.BadRequest, error!, "bad_request", Param: param);
    }

    /// <summary>Step 5: the deployment's route, and the consumer's right to call it.</summary>
    private Rejection? Resolve(string deployment, Consumer consumer, out DeploymentRoute route)
    {
        if (!registry.Catalog.Routes.TryGetValue(deployment, out route!))
        {
            return new Rejection(StatusCodes.Status404NotFound, GatewayErrorCodes.DeploymentNotFound,
                $"The API deployment '{deployment}' does not exist on this gateway.", "unknown_deployment");
        }
        return consumer.MayCall(route.Name) ? null
            : new Rejection(StatusCodes.Status403Forbidden, GatewayErrorCodes.Forbidden, $"This key may not call deployment '{route.Name}'.", "forbidden");
    }

    /// <summary>Step 6: the consumer's quota charged with the estimate; refused, the remaining counts go to the caller.</summary>
    private Rejection? Admit(HttpResponse response, Consumer consumer, DeploymentRoute route, long estimate, out QuotaDecision decision)
    {
        decision = quotas.TryAdmit(consumer.Name, route.Name, estimate);
        var wait = Math.Max(1, Math.Ceiling(decision.RetryAfter.TotalSeconds));
        if (decision.Uncountable)
        {
            return new Rejection(StatusCodes.Status503ServiceUnavailable, GatewayErrorCodes.QuotaUnavailable,
                $"Consumer '{consumer.Name}' has a rate limit that cannot be counted right now (the gateway's shared quota store is unreachable). Please retry after {wait} seconds.",
                "consumer_quota_uncountable", decision.RetryAfter);
        }
        if (decision.Admitted)
        {
            return null;
        }
        QuotaHeaders.SetRemaining(response.Headers, decision.RemainingTokens, decision.RemainingRequests);
        return new Rejection(StatusCodes.Status429TooManyRequests, GatewayErrorCodes.Throttled,
            $"Consumer '{consumer.Name}' has exceeded its rate limit for deployment '{route.Name}'. Please retry after {wait} seconds.",
            "consumer_quota", decision.RetryAfter);
    }

    /// <summary>Step 8: the usage ledger (or why no backend served), and the request's telemetry.</summary>
    public void Account(HttpContext context, string operation, string deployment, Consumer consumer, in ForwardResult result, long arrivedAt, Usage usage)
    {
        if (result.Backend is { } backend)
        {
            ledger.Record(backend, deployment, consumer.Name, result.Usage, result.UsageEstimated);
        }
        else
        {
            telemetry.Rejected((result.Unserved ?? default).RejectReason, deployment);
        }
        telemetry.RequestEnded(context.Features.Get<IHttpActivityFeature>()?.Activity, operation, deployment, result.Backend, consumer.Name,
            context.Response.StatusCode, usage.PromptTokens, usage.CompletionTokens, time.GetElapsedTime(arrivedAt), result.Upstream);
    }

    /// <summary>The one place a refusal is answered (Azure OpenAI's error shape) and counted.</summary>
    public Task RejectAsync(HttpContext context, in Rejection rejection)
    {
        if (rejection.Status == 0)
        {
            return Task.CompletedTask;
        }
        telemetry.Rejected(rejection.Reason, rejection.Deployment);
        return GatewayErrors.WriteAsync(context, rejection.Status, rejection.Code, rejection.Message, rejection.RetryAfter, rejection.Param);
    }
}
