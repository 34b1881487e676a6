using System.Text.Json;

namespace AoaiAspire.Backends.Upstream;

/// <summary>
/// Azure OpenAI's error body, <c>{"error":{"code":"…","message":"…"}}</c>: written by the gateway for its own errors
/// and by the simulator for a backend's, so both look like the service to SDKs and retry logic. With a
/// <c>param</c>, also <c>"param"</c> and <c>"type":"invalid_request_error"</c>, as Azure OpenAI names a member at fault.
/// </summary>
internal static class AoaiError
{
    public static void Write(Utf8JsonWriter writer, string code, string message, string? param = null)
    {
        writer.WriteStartObject();
        writer.WriteStartObject("error");
        writer.WriteString("code", code);
        writer.WriteString("message", message);
        if (param is not null)
        {
            writer.WriteString("param", param);
            writer.WriteString("type", "invalid_request_error");
        }
        writer.WriteEndObject();
        writer.WriteEndObject();
    }
}
