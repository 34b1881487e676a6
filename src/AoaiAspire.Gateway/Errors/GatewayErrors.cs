using System.Text.Json;

namespace AoaiAspire.Gateway.Errors;

/// <summary>Error codes the gateway itself uses in the Azure OpenAI error shape.</summary>
internal static class GatewayErrorCodes
{
    public const string Unauthorized = "401";
    public const string Forbidden = "403";
    public const string DeploymentNotFound = "DeploymentNotFound";
    public const string NotFound = "404";
    public const string MethodNotAllowed = "405";
    public const string BadRequest = "BadRequest";
    public const string InvalidJson = "InvalidRequestBody";
    public const string PayloadTooLarge = "413";
    public const string UnsupportedMediaType = "415";
    public const string Throttled = "429";
    public const string NoBackendAvailable = "NoBackendAvailable";
    public const string QuotaUnavailable = "QuotaUnavailable";
    public const string UpstreamTimeout = "504";
    public const string Internal = "InternalServerError";
}

/// <summary>
/// Writes errors the way Azure OpenAI does: <c>{"error":{"code":"…","message":"…"}}</c>, so that SDKs
/// and retry logic in callers treat the gateway's own errors like the service's.
/// </summary>
internal static class GatewayErrors
{
    public static async Task WriteAsync(HttpContext context, int status, string code, string message, TimeSpan? retryAfter = null)
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
            var ms = Math.Max(1, (long)Math.Ceiling(wait.TotalMilliseconds));
            response.Headers["retry-after"] = Math.Max(1, (long)Math.Ceiling(wait.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
            response.Headers["retry-after-ms"] = ms.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        using (var writer = new Utf8JsonWriter(response.BodyWriter))
        {
            writer.WriteStartObject();
            writer.WriteStartObject("error");
            writer.WriteString("code", code);
            writer.WriteString("message", message);
            writer.WriteEndObject();
            writer.WriteEndObject();
        }
        await response.BodyWriter.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }
}
