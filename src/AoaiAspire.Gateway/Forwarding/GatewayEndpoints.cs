using System.Text.Json;
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

/// <summary>The caller-facing routes: Azure style and OpenAI v1 style, and the models list.</summary>
internal static partial class GatewayEndpoints
{
    /// <summary>Operations forwarded; anything else is refused here rather than sent to a backend.</summary>
    private static readonly HashSet<string> Operations = new(StringComparer.Ordinal)
    {
        "chat/completions", "completions", "embeddings", "images/generations",
        "audio/transcriptions", "audio/translations", "audio/speech", "responses",
    };

    /// <summary>Operations whose body is JSON; other operations (audio) take multipart forms.</summary>
    private static readonly HashSet<string> JsonOperations = new(StringComparer.Ordinal) { "chat/completions", "completions", "embeddings", "images/generations", "audio/speech", "responses" };

    public static IEndpointRouteBuilder MapGateway(this IEndpointRouteBuilder endpoints)
    {
        endpoints.Map("/openai/deployments/{deployment}/{**operation}", (HttpContext context, string deployment, string? operation)
            => HandleAsync(context, deployment, operation ?? ""));
        endpoints.Map("/openai/v1/{**operation}", (HttpContext context, string? operation) => HandleAsync(context, null, operation ?? ""));
        endpoints.Map("/v1/{**operation}", (HttpContext context, string? operation) => HandleAsync(context, null, operation ?? ""));
        endpoints.Map("/openai/models", (HttpContext context) => HandleAsync(context, null, "models"));
        return endpoints;
    }

    /// <param name="accountPath">For the Responses API: the account-wide path sent upstream (<c>v1/responses</c>, or <c>responses</c> for the preview path).</param>
    internal static async Task HandleAsync(HttpContext context, string? deployment, string operation, string? accountPath = null)
    {
        var services = context.RequestServices;
        var telemetry = services.GetRequiredService<GatewayTelemetry>();
        var time = services.GetRequiredService<TimeProvider>();
        var arrivedAt = time.GetTimestamp();
        var isModels = operation == "models";
        var method = context.Request.Method;
        if (deployment is not null && !context.Request.Query.ContainsKey("api-version"))
        {
            // What Azure OpenAI answers for a deployment path without api-version (README "api-version").
            telemetry.Rejected("missing_api_version");
            await GatewayErrors.WriteAsync(context, StatusCodes.Status404NotFound, GatewayErrorCodes.NotFound,
                "Resource not found. Azure-style paths need an 'api-version' query parameter (or use the v1 API, /openai/v1/..., which takes none).").ConfigureAwait(false);
            return;
        }
        if (isModels ? !HttpMethods.IsGet(method) : !HttpMethods.IsPost(method))
        {
            context.Response.Headers.Allow = isModels ? "GET" : "POST";
            telemetry.Rejected("method_not_allowed");
            await GatewayErrors.WriteAsync(context, StatusCodes.Status405MethodNotAllowed, GatewayErrorCodes.MethodNotAllowed,
                $"Method {method} is not allowed here; use {(isModels ? "GET" : "POST")}.").ConfigureAwait(false);
            return;
        }

        // Authenticate the caller. Its key never goes upstream (HeaderRules).
        var consumer = services.GetRequiredService<ConsumerDirectory>().Authenticate(context.Request);
        if (consumer is null)
        {
            // Counted (telemetry) and logged with where it came from, never with the key.
            AuthenticationLog.Failed(services.GetRequiredService<ILoggerFactory>().CreateLogger(AuthenticationLog.Category),
                ConsumerDirectory.PresentedKey(context.Request).IsEmpty ? "no key" : "unknown key", context.Connection.RemoteIpAddress?.ToString() ?? "?");
            telemetry.Rejected("unauthorized");
            await GatewayErrors.WriteAsync(context, StatusCodes.Status401Unauthorized, GatewayErrorCodes.Unauthorized,
                "Access denied due to a missing or invalid key. Send a gateway key in the 'api-key' header or as 'Authorization: Bearer <key>'.").ConfigureAwait(false);
            return;
        }

        if (!consumer.TryEnter())
        {
            telemetry.Rejected("consumer_concurrency");
            await GatewayErrors.WriteAsync(context, StatusCodes.Status429TooManyRequests, GatewayErrorCodes.Throttled,
                $"Consumer '{consumer.Name}' already has {consumer.MaxConcurrentRequests} requests in flight, its limit. Please retry after 1 second.",
                TimeSpan.FromSeconds(1)).ConfigureAwait(false);
            return;
        }
        try
        {
            await HandleAuthenticatedAsync(context, deployment, operation, consumer, telemetry, time, arrivedAt, accountPath).ConfigureAwait(false);
        }
        finally
        {
            consumer.Exit();
        }
    }

    private static async Task HandleAuthenticatedAsync(HttpContext context, string? deployment, string operation, Consumer consumer, GatewayTelemetry telemetry, TimeProvider time, long arrivedAt, string? accountPath)
    {
        var services = context.RequestServices;
        var isModels = operation == "models";
        var catalog = services.GetRequiredService<BackendRegistry>().Catalog;
        if (isModels)
        {
            await WriteModelsAsync(context, catalog, consumer).ConfigureAwait(false);
            return;
        }
        if (operation == ResponsesEndpoints.CreateOperation && deployment is not null)
        {
            // Azure OpenAI serves the Responses API account-wide only (deployment in 'model'): there is no such path.
            telemetry.Rejected("unknown_operation");
            await GatewayErrors.WriteAsync(context, StatusCodes.Status404NotFound, GatewayErrorCodes.NotFound,
                "The Responses API has no deployment path: POST /openai/v1/responses with the deployment in 'model'.").ConfigureAwait(false);
            return;
        }
        if (!Operations.Contains(operation))
        {
            telemetry.Rejected("unknown_operation");
            await GatewayErrors.WriteAsync(context, StatusCodes.Status404NotFound, GatewayErrorCodes.NotFound,
                $"Operation '{operation}' is not supported by the gateway.").ConfigureAwait(false);
            return;
        }

        var gateway = services.GetRequiredService<IOptionsMonitor<GatewayOptions>>().CurrentValue;
        var contentType = context.Request.ContentType;
        var isJson = contentType is null || contentType.Contains("json", StringComparison.OrdinalIgnoreCase);
        if (!isJson && JsonOperations.Contains(operation))
        {
            telemetry.Rejected("unsupported_media_type");
            await GatewayErrors.WriteAsync(context, StatusCodes.Status415UnsupportedMediaType, GatewayErrorCodes.UnsupportedMediaType,
                $"'{operation}' takes a JSON body (Content-Type: application/json), not '{contentType}'.").ConfigureAwait(false);
            return;
        }

        BufferedBody body;
        bool tooLarge;
        try
        {
            (body, tooLarge) = await BufferedBody.ReadAsync(context.Request, gateway.MaxRequestBodySize, context.RequestAborted).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is BadHttpRequestException or IOException or OperationCanceledException)
        {
            // The caller's upload broke (bad framing, too slow, cut off): its mistake, answered here, not logged as an error.
            if (context.RequestAborted.IsCancellationRequested)
            {
                return;
            }
            var status = ex is BadHttpRequestException bad ? bad.StatusCode : StatusCodes.Status400BadRequest;
            telemetry.Rejected(status == StatusCodes.Status413PayloadTooLarge ? "too_large" : "bad_request");
            await GatewayErrors.WriteAsync(context, status, GatewayErrorCodes.ForStatus(status),
                $"The request body could not be read: {ex.Message}").ConfigureAwait(false);
            return;
        }
        using (body)
        {
            if (tooLarge)
            {
                telemetry.Rejected("too_large");
                await GatewayErrors.WriteAsync(context, StatusCodes.Status413PayloadTooLarge, GatewayErrorCodes.PayloadTooLarge,
                    $"The request body is larger than the gateway's limit of {gateway.MaxRequestBodySize} bytes.").ConfigureAwait(false);
                return;
            }
            RequestInfo info = default;
            if (isJson)
            {
                if (body.Length == 0)
                {
                    telemetry.Rejected("bad_request");
                    await GatewayErrors.WriteAsync(context, StatusCodes.Status400BadRequest, GatewayErrorCodes.BadRequest, "The request body is empty.").ConfigureAwait(false);
                    return;
                }
                if (!RequestInfo.TryParse(body.Span, needModel: deployment is null, out info, out var error))
                {
                    telemetry.Rejected("bad_request");
                    await GatewayErrors.WriteAsync(context, StatusCodes.Status400BadRequest, GatewayErrorCodes.InvalidJson, error!).ConfigureAwait(false);
                    return;
                }
            }
            else if (deployment is null)
            {
                telemetry.Rejected("unsupported_media_type");
                await GatewayErrors.WriteAsync(context, StatusCodes.Status415UnsupportedMediaType, GatewayErrorCodes.UnsupportedMediaType,
                    "v1-style calls take a JSON body with 'model'; use the Azure-style path for other content types.").ConfigureAwait(false);
                return;
            }

            deployment ??= info.Model!;
            if (!catalog.Routes.TryGetValue(deployment, out var route))
            {
                telemetry.Rejected("unknown_deployment");
                await GatewayErrors.WriteAsync(context, StatusCodes.Status404NotFound, GatewayErrorCodes.DeploymentNotFound,
                    $"The API deployment '{deployment}' does not exist on this gateway.").ConfigureAwait(false);
                return;
            }
            if (!consumer.MayCall(route.Name))
            {
                telemetry.Rejected("forbidden");
                await GatewayErrors.WriteAsync(context, StatusCodes.Status403Forbidden, GatewayErrorCodes.Forbidden,
                    $"This key may not call deployment '{route.Name}'.").ConfigureAwait(false);
                return;
            }

            // Responses: the backend that holds a named previous response or conversation must serve it.
            ResponsesCall? stateful = null;
            if (operation == ResponsesEndpoints.CreateOperation)
            {
                stateful = ResponsesCall.ForCreate(services.GetRequiredService<Affinity.AffinityDirectory>(), info, body.Span, route, consumer.Name, accountPath ?? ResponsesEndpoints.V1Path);
                if (stateful.Refusal is { } refusal)
                {
                    telemetry.Rejected("bad_request", route.Name);
                    await GatewayErrors.WriteAsync(context, refusal.Status, refusal.Code, refusal.Message).ConfigureAwait(false);
                    return;
                }
            }

            // Admit: the consumer's quota is charged with the estimate now and corrected with the real usage after.
            var embeddings = operation == "embeddings";
            var estimate = isJson ? TokenEstimator.Estimate(info, embeddings, gateway.Tokens.DefaultCompletionTokens) : 0;
            var quotas = services.GetRequiredService<IConsumerQuotas>();
            var decision = quotas.TryAdmit(consumer.Name, route.Name, estimate);
            if (decision.Uncountable)
            {
                telemetry.Rejected("consumer_quota_uncountable");
                await GatewayErrors.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, GatewayErrorCodes.QuotaUnavailable,
                    $"Consumer '{consumer.Name}' has a rate limit that cannot be counted right now (the gateway's shared quota store is unreachable). Please retry after {Math.Max(1, Math.Ceiling(decision.RetryAfter.TotalSeconds))} seconds.",
                    decision.RetryAfter).ConfigureAwait(false);
                return;
            }
            if (!decision.Admitted)
            {
                SetRemaining(context.Response, decision);
                telemetry.Rejected("consumer_quota");
                await GatewayErrors.WriteAsync(context, StatusCodes.Status429TooManyRequests, GatewayErrorCodes.Throttled,
                    $"Consumer '{consumer.Name}' has exceeded its rate limit for deployment '{route.Name}'. Please retry after {Math.Max(1, Math.Ceiling(decision.RetryAfter.TotalSeconds))} seconds.",
                    decision.RetryAfter).ConfigureAwait(false);
                return;
            }

            var usageMode = !info.Stream ? UsageMode.Json
                : info.IncludeUsage == true || stateful is not null ? UsageMode.StreamCallerAsked
                : info.IncludeUsage is null && !info.HasStreamOptions && operation is "chat/completions" or "completions" ? UsageMode.StreamGatewayAsked
                : UsageMode.StreamNone;
            var request = new ForwardRequest(route, operation, context.Request.QueryString.Value ?? "", body.Memory, contentType, consumer.Name,
                estimate, isJson ? TokenEstimator.PromptTokens(info) : 0, usageMode, arrivedAt, decision.RemainingTokens, decision.RemainingRequests)
            {
                Stateful = stateful,
            };
            ForwardResult result;
            try
            {
                result = await services.GetRequiredService<GatewayForwarder>().ForwardAsync(context, request).ConfigureAwait(false);
            }
            finally
            {
                stateful?.Release();
            }

            // Account.
            quotas.Correct(decision.Reservation, result.Answered ? result.Usage.TotalTokens : 0);
            if (result.Backend is { } backend)
            {
                services.GetRequiredService<UsageLedger>().Record(backend, route.Name, consumer.Name, result.Usage, result.UsageEstimated);
            }
            else
            {
                telemetry.Rejected(context.Response.StatusCode == StatusCodes.Status429TooManyRequests ? "all_throttled" : "no_backend", route.Name);
            }
            telemetry.RequestEnded(context.Features.Get<IHttpActivityFeature>()?.Activity, operation, route.Name, result.Backend, consumer.Name,
                context.Response.StatusCode, result.Answered ? result.Usage.PromptTokens : 0, result.Answered ? result.Usage.CompletionTokens : 0,
                time.GetElapsedTime(arrivedAt), result.Upstream);
        }
    }

    internal static partial class AuthenticationLog
    {
        public const string Category = "AoaiAspire.Gateway.Authentication";

        [LoggerMessage(1701, LogLevel.Warning, "Caller authentication failed ({Reason}) from {RemoteAddress}.")]
        public static partial void Failed(ILogger logger, string reason, string remoteAddress);
    }

    private static void SetRemaining(HttpResponse response, in QuotaDecision decision)
    {
        if (decision.RemainingTokens is { } tokens)
        {
            response.Headers["x-ratelimit-remaining-tokens"] = tokens.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        if (decision.RemainingRequests is { } requests)
        {
            response.Headers["x-ratelimit-remaining-requests"] = requests.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    private static async Task WriteModelsAsync(HttpContext context, BackendCatalog catalog, Consumer consumer)
    {
        context.Response.ContentType = "application/json";
        await using var writer = new Utf8JsonWriter(context.Response.BodyWriter);
        writer.WriteStartObject();
        writer.WriteString("object", "list");
        writer.WriteStartArray("data");
        foreach (var name in catalog.DeploymentNames)
        {
            if (!consumer.MayCall(name))
            {
                continue;
            }
            writer.WriteStartObject();
            writer.WriteString("id", name);
            writer.WriteString("object", "model");
            writer.WriteNumber("created", 0);
            writer.WriteString("owned_by", "aoai-aspire");
            writer.WriteEndObject();
        }
        writer.WriteEndArray();
        writer.WriteEndObject();
    }
}
