using System.Text.Json;
using AoaiAspire.Backends.Upstream;

namespace AoaiAspire.Gateway.Errors;

/// <summary>
/// Error codes the gateway itself uses in the Azure OpenAI error shape. One scheme, Azure OpenAI's own (README
/// "Errors"): where Azure's front end answers with the HTTP status as the code (401, 404 for a path or resource
/// that does not exist, 429) the gateway does too; everywhere else the code is Azure's PascalCase name
/// (<c>BadRequest</c>, <c>DeploymentNotFound</c>, <c>PermissionDenied</c>, <c>InternalServerError</c>,
/// <c>ServiceUnavailable</c>, …), the name of the status where Azure documents none.
/// </summary>
internal static class GatewayErrorCodes
{
    public const string BadRequest = "BadRequest";
    public const string Unauthorized = "401";
    public const string Forbidden = "PermissionDenied";
    public const string NotFound = "404";
    public const string DeploymentNotFound = "DeploymentNotFound";
    public const string MethodNotAllowed = "MethodNotAllowed";
    public const string RequestTimeout = "Timeout";
    public const string PayloadTooLarge = "RequestEntityTooLarge";
    public const string UnsupportedMediaType = "UnsupportedMediaType";
    public const string Throttled = "429";
    public const string Internal = "InternalServerError";
    public const string NoBackendAvailable = "ServiceUnavailable";
    /// <summary>A 503 with a reason of its own, as <see cref="DeploymentNotFound"/> is a 404's: Redis is down and the consumer's quota fails closed.</summary>
    public const string QuotaUnavailable = "QuotaUnavailable";

    /// <summary>The code for an error known only by its status (Kestrel's own rejections, status-code pages).</summary>
    public static string ForStatus(int status) => status switch
    {
        StatusCodes.Status400BadRequest => BadRequest,
        StatusCodes.Status401Unauthorized => Unauthorized,
        StatusCodes.Status403Forbidden => Forbidden,
        StatusCodes.Status404NotFound => NotFound,
        StatusCodes.Status405MethodNotAllowed => MethodNotAllowed,
        StatusCodes.Status408RequestTimeout => RequestTimeout,
        StatusCodes.Status413PayloadTooLarge => PayloadTooLarge,
        StatusCodes.Status415UnsupportedMediaType => UnsupportedMediaType,
        StatusCodes.Status429TooManyRequests => Throttled,
        StatusCodes.Status503ServiceUnavailable => NoBackendAvailable,
        >= 500 => Internal,
        _ => BadRequest,
    };
}

/// <summary>
/// Writes errors the way Azure OpenAI does: <c>{"error":{"code":"…","message":"…"}}</c>, so that SDKs
/// and retry logic in callers treat the gateway's own errors like the service's.
/// </summary>
internal static class GatewayErrors
{
    /// <param name="param">
    /// The request member at fault: written as <c>param</c> with <c>"type":"invalid_request_error"</c>, as Azure OpenAI
    /// writes its own 400 for a member of the wrong type or out of range.
    /// </param>
    public static async Task WriteAsync(HttpContext context, int status, string code, string message, TimeSpan? retryAfter = null, string? param = null)
    {
        var response = context.Response;
        if (response.HasStarted)
        {
            // Too late for a status: end the connection so the caller cannot mistake a cut body for a whole one.
            context.Abort();
            return;
        }
        // Headers already set (quota remaining counts) stay; nothing else has been written yet.
        response.StatusCode = status;
        response.ContentType = "application/json";
        if (retryAfter is { } wait)
        {
            RetryAfter.Write(response.Headers, wait);
        }
        using (var writer = new Utf8JsonWriter(response.BodyWriter))
        {
            AoaiError.Write(writer, code, message, param);
        }
        await response.BodyWriter.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>
    /// The answer when no backend of <paramref name="deployment"/> could take the call: 429 with the soonest
    /// Retry-After when every candidate is throttled, else 503 (with a Retry-After when one is known).
    /// <paramref name="couldNot"/> completes "No backend of deployment '…' …", e.g. "could serve the request".
    /// </summary>
    public static Task WriteNoBackendAsync(HttpContext context, string deployment, LoadBalancing.NoBackend none, long now, string couldNot)
    {
        TimeSpan? retryAfter = none.RetryAt > now ? TimeSpan.FromTicks(none.RetryAt - now) : null;
        if (none.AllThrottled)
        {
            var wait = retryAfter ?? TimeSpan.FromSeconds(1);
            return WriteAsync(context, StatusCodes.Status429TooManyRequests, GatewayErrorCodes.Throttled,
                $"Every backend of deployment '{deployment}' is at its rate limit. Please retry after {Math.Ceiling(wait.TotalSeconds)} seconds.", wait);
        }
        return WriteAsync(context, StatusCodes.Status503ServiceUnavailable, GatewayErrorCodes.NoBackendAvailable,
            $"No backend of deployment '{deployment}' {couldNot} (all are failing, unreachable or unhealthy). Please retry later.", retryAfter);
    }
}
