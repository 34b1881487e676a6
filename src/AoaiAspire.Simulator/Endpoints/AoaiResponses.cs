using System.Buffers;
using System.Globalization;
using System.Text.Json;
using AoaiAspire.Backends.Upstream;
using AoaiAspire.Simulator.RateLimiting;
using Microsoft.AspNetCore.Http;

namespace AoaiAspire.Simulator.Endpoints;

/// <summary>Headers and error bodies shaped as Azure OpenAI sends them (docs/simulator.md, "Responses").</summary>
internal static class AoaiResponses
{
    public const string ServerErrorMessage = "The server had an error while processing your request. Sorry about that!";
    public const string ServiceUnavailableMessage = "The service is temporarily unable to process your request. Please try again later.";
    public const string InvalidKeyMessage =
        "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.";

    /// <summary>The headers every inference response carries: region and request ids (the caller's echoed).</summary>
    public static void WriteCommonHeaders(HttpContext context, SimulatedAccount account)
    {
        var headers = context.Response.Headers;
        var requestId = Guid.NewGuid().ToString();
        headers["x-ms-region"] = account.Region;
        headers["apim-request-id"] = requestId;
        headers["x-request-id"] = requestId;
        if (context.Request.Headers.TryGetValue("x-ms-client-request-id", out var clientRequestId))
        {
            headers["x-ms-client-request-id"] = clientRequestId;
        }
    }

    public static void WriteRemainingHeaders(HttpContext context, in RateLimitDecision decision)
    {
        var headers = context.Response.Headers;
        headers["x-ratelimit-remaining-tokens"] = decision.RemainingTokens.ToString(CultureInfo.InvariantCulture);
        headers["x-ratelimit-remaining-requests"] = decision.RemainingRequests.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>A 429 as AOAI sends it: Retry-After in whole seconds (rounded up, at least 1) and in milliseconds.</summary>
    public static Task WriteThrottledAsync(HttpContext context, string operationId, TimeSpan retryAfter, in RateLimitDecision decision, bool tokenLimit)
    {
        var seconds = WholeSeconds(retryAfter);
        var headers = context.Response.Headers;
        RetryAfter.Write(headers, retryAfter);
        headers["x-ratelimit-reset-tokens"] = WholeSeconds(decision.ResetTokens).ToString(CultureInfo.InvariantCulture);
        headers["x-ratelimit-reset-requests"] = WholeSeconds(decision.ResetRequests).ToString(CultureInfo.InvariantCulture);
        WriteRemainingHeaders(context, decision);

        var apiVersion = context.Request.Query["api-version"].ToString();
        var message = string.Create(
            CultureInfo.InvariantCulture,
            $"Requests to the {operationId} Operation under Azure OpenAI API version {(apiVersion.Length > 0 ? apiVersion : "v1")} have exceeded {(tokenLimit ? "token rate limit" : "call rate limit")} of your current OpenAI S0 pricing tier. Please retry after {seconds} seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.");
        return WriteErrorAsync(context, StatusCodes.Status429TooManyRequests, "429", message);
    }

    public const string DeploymentNotFoundMessage =
        "The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.";

    /// <summary>A 404 <c>DeploymentNotFound</c>, as Azure OpenAI answers for a deployment the account does not have.</summary>
    public static Task WriteDeploymentNotFoundAsync(HttpContext context)
        => WriteErrorAsync(context, StatusCodes.Status404NotFound, "DeploymentNotFound", DeploymentNotFoundMessage);

    /// <summary>Writes <c>{"error":{"code":…,"message":…}}</c>; with <paramref name="param"/>, also <c>param</c> and <c>"type":"invalid_request_error"</c>, as Azure OpenAI names a member at fault.</summary>
    public static async Task WriteErrorAsync(HttpContext context, int status, string code, string message, string? param = null)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            AoaiError.Write(writer, code, message, param);
        }

        context.Response.ContentLength = buffer.WrittenCount;
        await context.Response.Body.WriteAsync(buffer.WrittenMemory, context.RequestAborted);
    }

    /// <summary>Writes a JSON body produced by <paramref name="write"/>.</summary>
    public static async Task WriteJsonAsync<TState>(HttpContext context, TState state, Action<Utf8JsonWriter, TState> write, CancellationToken cancellationToken)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            write(writer, state);
        }

        context.Response.ContentType = "application/json";
        context.Response.ContentLength = buffer.WrittenCount;
        await context.Response.Body.WriteAsync(buffer.WrittenMemory, cancellationToken);
    }

    internal static long WholeSeconds(TimeSpan value) => RetryAfter.WholeSeconds(value);
}
