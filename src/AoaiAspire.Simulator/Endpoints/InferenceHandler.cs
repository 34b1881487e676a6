using System.Buffers;
using System.Text.Json;
using AoaiAspire.Simulator.Completions;
using AoaiAspire.Simulator.Faults;
using AoaiAspire.Simulator.Hosting;
using AoaiAspire.Simulator.Latency;
using AoaiAspire.Simulator.RateLimiting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

namespace AoaiAspire.Simulator.Endpoints;

/// <summary>Answers the inference operations and the model list, as one Azure OpenAI account would.</summary>
/// <remarks>
/// Steps, numbered as in the code:
/// 1. find the account by the port; count the request; a <c>Down</c> account drops it;
/// 2. common headers; method; authentication;
/// 3. parse the body; find the deployment (path, else the body's <c>model</c>) and check its kind;
/// 4. faults: extra latency, then one draw among drop / 500 / 503 / timeout, then <c>ForceThrottle</c>;
/// 5. rate limits: charge the estimate on arrival, 429 when over;
/// 6. simulated latency and the answer (JSON, or an SSE stream flushed chunk by chunk).
/// Faults are read once per request from <see cref="SimulatedAccount.Faults"/>, so a change applies to the next request.
/// </remarks>
internal sealed partial class InferenceHandler(AccountDirectory accounts, ILogger logger, CancellationToken stopping)
{
    private static ReadOnlySpan<byte> DataPrefix => "data: "u8;
    private static ReadOnlySpan<byte> EventEnd => "\n\n"u8;
    private static ReadOnlySpan<byte> Done => "data: [DONE]\n\n"u8;

    /// <summary>
    /// What every call meets first: the account its port belongs to (404 if none), the request counted, a down
    /// account dropping it, the common headers, the method, and auth. Null when the answer has been given.
    /// </summary>
    internal async Task<SimulatedAccount?> AdmitAsync(HttpContext context, string method)
    {
        var account = accounts.Resolve(context);
        if (account is null)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return null;
        }

        account.Stats.OnRequest();
        if (account.Faults.Down)
        {
            account.Stats.OnFailed();
            context.Abort();
            return null;
        }

        AoaiResponses.WriteCommonHeaders(context, account);
        if (!HttpMethods.Equals(context.Request.Method, method))
        {
            await MethodNotAllowedAsync(context, method);
            return null;
        }

        return await AuthorizeAsync(context, account) ? account : null;
    }

    public async Task HandleAsync(HttpContext context, Operation operation)
    {
        // 1. and 2.
        if (await AdmitAsync(context, HttpMethods.Post) is not { } account)
        {
            return;
        }
        var faults = account.Faults;
        if (context.GetRouteValue("deployment") is not null && !context.Request.Query.ContainsKey("api-version"))
        {
            // Azure OpenAI answers a deployment path without api-version with a bare "Resource not found".
            await AoaiResponses.WriteErrorAsync(context, StatusCodes.Status404NotFound, "404", "Resource not found");
            return;
        }

        // 3.
        JsonDocument document;
        try
        {
            document = await JsonDocument.ParseAsync(context.Request.Body, default, context.RequestAborted);
        }
        catch (JsonException)
        {
            await AoaiResponses.WriteErrorAsync(context, StatusCodes.Status400BadRequest, "BadRequest",
                "We could not parse the JSON body of your request. The API expects a JSON payload, but what was sent was not valid JSON.");
            return;
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            return;
        }

        using (document)
        {
            var body = document.RootElement;
            var deploymentName = context.GetRouteValue("deployment") as string
                ?? (body.ValueKind == JsonValueKind.Object && body.TryGetProperty("model", out var model) && model.ValueKind == JsonValueKind.String ? model.GetString() : null);
            if (string.IsNullOrEmpty(deploymentName))
            {
                await AoaiResponses.WriteErrorAsync(context, StatusCodes.Status400BadRequest, "BadRequest",
                    "'model' is a required property: name the deployment.");
                return;
            }

            if (!account.Deployments.TryGetValue(deploymentName, out var deployment))
            {
                await AoaiResponses.WriteDeploymentNotFoundAsync(context);
                return;
            }

            deployment.Stats.OnRequest();
            if ((deployment.Options.Kind == DeploymentKind.Embeddings) != (operation == Operation.Embeddings))
            {
                await AoaiResponses.WriteErrorAsync(context, StatusCodes.Status400BadRequest, "OperationNotSupported",
                    $"The {operation.Path()} operation does not work with the specified model, {deployment.Options.Model}. Please choose different model and try again.");
                return;
            }

            InferenceRequest? request;
            string? error;
            string? param = null;
            try
            {
                request = InferenceRequest.Parse(operation, body, out error, out param);
            }
            catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or FormatException)
            {
                // Text that is not Unicode (an escaped lone surrogate) or not UTF-8: the caller's mistake, as Azure OpenAI says.
                request = null;
                error = $"The request body has invalid text: {ex.Message}";
            }
            if (request is null)
            {
                await AoaiResponses.WriteErrorAsync(context, StatusCodes.Status400BadRequest, "BadRequest", error!, param);
                return;
            }

            using var cancellation = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping);
            try
            {
                await ServeAsync(context, account, deployment, faults, request, body, cancellation.Token);
            }
            catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
            {
                // The client went away or the host is stopping: there is nobody to answer.
            }
        }
    }

    /// <summary><c>GET /openai/models</c>: the deployments, for a cheap health probe. Faults (<c>ForceThrottle</c> included) apply; rate limits do not.</summary>
    public async Task HandleModelsAsync(HttpContext context)
    {
        if (await AdmitAsync(context, HttpMethods.Get) is not { } account)
        {
            return;
        }
        var faults = account.Faults;

        using var cancellation = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping);
        try
        {
            if (await InjectFaultAsync(context, account, null, faults, cancellation.Token))
            {
                return;
            }

            // ForceThrottle means "every request is throttled", the probe's cheap call included, so a
            // health probe can be tested against a throttled account. Rate limits still do not apply here.
            if (faults.ForceThrottle is { } forced)
            {
                account.Stats.OnThrottled();
                SimulatorLog.Throttled(logger, account.Name, "(models)", "ForceThrottle", forced);
                var decision = new RateLimitDecision(RateLimitKind.Tokens, forced, forced, forced, 0, 0);
                await AoaiResponses.WriteThrottledAsync(context, "Models_List", forced, decision, tokenLimit: true);
                return;
            }

            await AoaiResponses.WriteJsonAsync(context, account, WriteModels, cancellation.Token);
            account.Stats.OnSucceeded(0, 0);
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
        }
    }

    private async Task ServeAsync(
        HttpContext context, SimulatedAccount account, SimulatedDeployment deployment, FaultOptions faults, InferenceRequest request, JsonElement body, CancellationToken cancellationToken)
    {
        // 4.
        if (await InjectFaultAsync(context, account, deployment, faults, cancellationToken))
        {
            return;
        }

        var operationId = request.Operation.OperationId();
        if (faults.ForceThrottle is { } forced)
        {
            OnThrottled(account, deployment, "ForceThrottle", forced);
            var decision = new RateLimitDecision(RateLimitKind.Tokens, forced, forced, forced, 0, 0);
            await AoaiResponses.WriteThrottledAsync(context, operationId, forced, decision, tokenLimit: true);
            return;
        }

        // 5.
        var admission = deployment.Limiter.TryAcquire(request.Charge(deployment.Options.DefaultMaxTokensCharge));
        if (!admission.Admitted)
        {
            OnThrottled(account, deployment, admission.LimitedBy == RateLimitKind.Tokens ? "Tokens" : "Requests", admission.RetryAfter);
            await AoaiResponses.WriteThrottledAsync(context, operationId, admission.RetryAfter, admission, admission.LimitedBy == RateLimitKind.Tokens);
            return;
        }

        AoaiResponses.WriteRemainingHeaders(context, admission);

        // 6.
        var options = account.Options;
        var model = deployment.Options.Model;
        if (request.Operation == Operation.Embeddings)
        {
            await SimulatedLatency.DelayAsync(SimulatedLatency.Embeddings(account.Random, options.LatencyScale), account.Time, cancellationToken);
            await AoaiResponses.WriteJsonAsync(
                context, (model, request, body), static (w, s) => CompletionJson.WriteEmbeddings(w, s.model, s.request, s.body), cancellationToken);
            OnSucceeded(account, deployment, request.PromptTokens, 0);
            return;
        }

        var identity = CompletionJson.NewIdentity(request.Operation, model, account.Time);
        if (request.Stream)
        {
            await StreamAsync(context, account, identity, request, cancellationToken);
        }
        else
        {
            var latency = SimulatedLatency.Completion(account.Random, options.LatencyScale, request.CompletionTokens);
            await SimulatedLatency.DelayAsync(latency, account.Time, cancellationToken);
            await AoaiResponses.WriteJsonAsync(
                context, (identity, request), static (w, s) => CompletionJson.WriteCompletion(w, s.identity, s.request), cancellationToken);
        }

        OnSucceeded(account, deployment, request.PromptTokens, request.CompletionTokens * request.Choices);
    }

    /// <summary>Streams the completion: a role chunk, content chunks every interval, the usage chunk if asked, <c>[DONE]</c>; flushed after each.</summary>
    private static async Task StreamAsync(HttpContext context, SimulatedAccount account, ResponseIdentity identity, InferenceRequest request, CancellationToken cancellationToken)
    {
        var response = context.Response;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        var output = response.BodyWriter;
        var buffer = new ArrayBufferWriter<byte>(1024);
        using var writer = new Utf8JsonWriter(buffer);

        void WriteEvent(Action<Utf8JsonWriter> write)
        {
            buffer.ResetWrittenCount();
            writer.Reset(buffer);
            write(writer);
            writer.Flush();
            output.Write(DataPrefix);
            output.Write(buffer.WrittenSpan);
            output.Write(EventEnd);
        }

        for (var choice = 0; choice < request.Choices; choice++)
        {
            WriteEvent(w => CompletionJson.WriteChunk(w, identity, request.Operation, choice, "", first: true, finishReason: null));
        }

        await output.FlushAsync(cancellationToken);

        var options = account.Options;
        var total = request.CompletionTokens;
        var finishReason = CompletionJson.FinishReason(request);
        for (var start = 0; start < total; start += options.TokensPerChunk)
        {
            var delay = SimulatedLatency.StreamChunk(account.Random, options.LatencyScale, options.StreamChunkInterval);
            await SimulatedLatency.DelayAsync(delay, account.Time, cancellationToken);
            var count = Math.Min(options.TokensPerChunk, total - start);
            var last = start + count >= total;
            for (var choice = 0; choice < request.Choices; choice++)
            {
                var text = GeneratedText.Tokens(choice, start, count);
                WriteEvent(w => CompletionJson.WriteChunk(w, identity, request.Operation, choice, text, first: false, last ? finishReason : null));
            }

            await output.FlushAsync(cancellationToken);
        }

        if (request.IncludeUsage)
        {
            WriteEvent(w => CompletionJson.WriteUsageChunk(w, identity, request));
        }

        output.Write(Done);
        await output.FlushAsync(cancellationToken);
    }

    /// <summary>Applies <see cref="FaultOptions.ExtraLatency"/> and the drawn fault; true when the request has been answered (or dropped).</summary>
    internal async Task<bool> InjectFaultAsync(HttpContext context, SimulatedAccount account, SimulatedDeployment? deployment, FaultOptions faults, CancellationToken cancellationToken)
    {
        await SimulatedLatency.DelayAsync(faults.ExtraLatency, account.Time, cancellationToken);
        var fault = FaultInjector.Pick(faults, account.Random);
        if (fault == FaultKind.None)
        {
            return false;
        }

        account.Stats.OnFailed();
        deployment?.Stats.OnFailed();
        SimulatorLog.FaultInjected(logger, account.Name, fault);
        switch (fault)
        {
            case FaultKind.Drop:
                context.Abort();
                break;
            case FaultKind.ServerError:
                await AoaiResponses.WriteErrorAsync(context, StatusCodes.Status500InternalServerError, "InternalServerError", AoaiResponses.ServerErrorMessage);
                break;
            case FaultKind.ServiceUnavailable:
                await AoaiResponses.WriteErrorAsync(context, StatusCodes.Status503ServiceUnavailable, "ServiceUnavailable", AoaiResponses.ServiceUnavailableMessage);
                break;
            default:
                await SimulatedLatency.DelayAsync(faults.TimeoutDuration, account.Time, cancellationToken);
                await AoaiResponses.WriteErrorAsync(context, StatusCodes.Status408RequestTimeout, "Timeout", "The operation was timeout.");
                break;
        }

        return true;
    }

    /// <summary>
    /// <c>api-key</c>, or <c>Authorization: Bearer</c> with any non-empty token (or exactly
    /// <see cref="SimulatedAccountOptions.ExpectedBearerToken"/>). Accounts with <see cref="SimulatedAccountOptions.RequireBearerToken"/> refuse keys.
    /// </summary>
    private static async Task<bool> AuthorizeAsync(HttpContext context, SimulatedAccount account)
    {
        var options = account.Options;
        var headers = context.Request.Headers;
        var apiKey = headers["api-key"].ToString();
        var authorization = headers.Authorization.ToString();
        var bearer = authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? authorization["Bearer ".Length..].Trim() : "";

        if (apiKey.Length > 0)
        {
            if (options.RequireBearerToken)
            {
                await AoaiResponses.WriteErrorAsync(context, StatusCodes.Status401Unauthorized, "AuthenticationTypeDisabled",
                    "Key based authentication is disabled for this resource.");
                return false;
            }

            if (options.ApiKey is null || string.Equals(apiKey, options.ApiKey, StringComparison.Ordinal))
            {
                return true;
            }
        }
        else if (bearer.Length > 0)
        {
            if (options.ExpectedBearerToken is null || string.Equals(bearer, options.ExpectedBearerToken, StringComparison.Ordinal))
            {
                return true;
            }

            await AoaiResponses.WriteErrorAsync(context, StatusCodes.Status401Unauthorized, "401",
                "Unauthorized. Access token is missing, invalid, audience is incorrect (https://cognitiveservices.azure.com), or have expired.");
            return false;
        }

        await AoaiResponses.WriteErrorAsync(context, StatusCodes.Status401Unauthorized, "401", AoaiResponses.InvalidKeyMessage);
        return false;
    }

    private static Task MethodNotAllowedAsync(HttpContext context, string allowed)
    {
        context.Response.Headers.Allow = allowed;
        return AoaiResponses.WriteErrorAsync(context, StatusCodes.Status405MethodNotAllowed, "MethodNotAllowed",
            $"The {context.Request.Method} method is not allowed here; use {allowed}.");
    }

    private void OnThrottled(SimulatedAccount account, SimulatedDeployment deployment, string limitedBy, TimeSpan retryAfter)
    {
        account.Stats.OnThrottled();
        deployment.Stats.OnThrottled();
        SimulatorLog.Throttled(logger, account.Name, deployment.Name, limitedBy, retryAfter);
    }

    private static void OnSucceeded(SimulatedAccount account, SimulatedDeployment deployment, int prompt, int completion)
    {
        account.Stats.OnSucceeded(prompt, completion);
        deployment.Stats.OnSucceeded(prompt, completion);
    }

    private static void WriteModels(Utf8JsonWriter writer, SimulatedAccount account)
    {
        var created = account.Time.GetUtcNow().ToUnixTimeSeconds();
        writer.WriteStartObject();
        writer.WriteStartArray("data");
        foreach (var deployment in account.Deployments.Values)
        {
            writer.WriteStartObject();
            writer.WriteString("id", deployment.Name);
            writer.WriteString("model", deployment.Options.Model);
            writer.WriteString("object", "model");
            writer.WriteNumber("created", created);
            writer.WriteString("owned_by", "system");
            writer.WriteString("status", "succeeded");
            writer.WriteStartObject("capabilities");
            var chat = deployment.Options.Kind == DeploymentKind.Chat;
            writer.WriteBoolean("chat_completion", chat);
            writer.WriteBoolean("completion", chat);
            writer.WriteBoolean("embeddings", !chat);
            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteString("object", "list");
        writer.WriteEndObject();
    }
}
