using System.Text.Json;

namespace AoaiAspire.Backends.Upstream;

/// <summary>
/// Azure OpenAI's error body, <c>{"error":{"code":"…","message":"…"}}</c>: written by the gateway for its own errors
/// and by the simulator for a backend's, so both look like the service to SDKs and retry logic.
/// </summary>
internal static class AoaiError
{
    public static void Write(Utf8JsonWriter writer, string code, string message)
    {
        writer.WriteStartObject();
        writer.WriteStartObject("error");
        writer.WriteString("code", code);
        writer.WriteString("message", message);
        writer.WriteEndObject();
        writer.WriteEndObject();
    }
}
