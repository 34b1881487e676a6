using System.Text.Json;

namespace AoaiAspire.Simulator.Responses;

/// <summary>Writes Responses API objects in the shapes Azure OpenAI's v1 API returns.</summary>
internal static class ResponseJson
{
    public static string NewResponseId() => "resp_" + Guid.NewGuid().ToString("N") + Guid.NewGuid().ToString("N")[..16];
    public static string NewItemId(string prefix) => prefix + "_" + Guid.NewGuid().ToString("N");

    /// <summary>The message item id of a response's output (stable for the response).</summary>
    public static string MessageId(StoredResponse response) => "msg_" + response.Id["resp_".Length..];

    /// <summary>The response object; <paramref name="status"/> overrides the stored one (stream events before completion).</summary>
    public static void WriteResponse(Utf8JsonWriter writer, StoredResponse response, long nowUnixMs, string? status = null, bool withOutput = true)
    {
        status ??= response.Status(nowUnixMs);
        var done = status == "completed";
        writer.WriteStartObject();
        writer.WriteString("id", response.Id);
        writer.WriteString("object", "response");
        writer.WriteNumber("created_at", response.CreatedAt);
        writer.WriteString("status", status);
        writer.WriteBoolean("background", response.Background);
        writer.WriteNull("error");
        writer.WriteNull("incomplete_details");
        WriteStringOrNull(writer, "instructions", response.Instructions);
        if (response.MaxOutputTokens is { } max)
        {
            writer.WriteNumber("max_output_tokens", max);
        }
        else
        {
            writer.WriteNull("max_output_tokens");
        }
        writer.WriteString("model", response.Model);
        writer.WriteStartArray("output");
        if (withOutput && done)
        {
            WriteMessageItem(writer, response, response.Text, "completed");
        }
        writer.WriteEndArray();
        writer.WriteBoolean("parallel_tool_calls", true);
        WriteStringOrNull(writer, "previous_response_id", response.PreviousResponseId);
        if (response.Conversation is { } conversation)
        {
            writer.WriteStartObject("conversation");
            writer.WriteString("id", conversation);
            writer.WriteEndObject();
        }
        writer.WriteStartObject("reasoning");
        writer.WriteNull("effort");
        writer.WriteNull("summary");
        writer.WriteEndObject();
        writer.WriteBoolean("store", response.Store);
        writer.WriteNumber("temperature", 1.0);
        writer.WriteStartObject("text");
        writer.WriteStartObject("format");
        writer.WriteString("type", "text");
        writer.WriteEndObject();
        writer.WriteEndObject();
        writer.WriteString("tool_choice", "auto");
        writer.WriteStartArray("tools");
        writer.WriteEndArray();
        writer.WriteNumber("top_p", 1.0);
        writer.WriteString("truncation", "disabled");
        if (done)
        {
            writer.WriteStartObject("usage");
            writer.WriteNumber("input_tokens", response.InputTokens);
            writer.WriteStartObject("input_tokens_details");
            writer.WriteNumber("cached_tokens", response.CachedTokens);
            writer.WriteEndObject();
            writer.WriteNumber("output_tokens", response.OutputTokens);
            writer.WriteStartObject("output_tokens_details");
            writer.WriteNumber("reasoning_tokens", response.ReasoningTokens);
            writer.WriteEndObject();
            writer.WriteNumber("total_tokens", response.InputTokens + response.OutputTokens);
            writer.WriteEndObject();
        }
        else
        {
            writer.WriteNull("usage");
        }
        writer.WriteNull("user");
        writer.WriteStartObject("metadata");
        writer.WriteEndObject();
        writer.WriteEndObject();
    }

    public static void WriteMessageItem(Utf8JsonWriter writer, StoredResponse response, string text, string status, bool withContent = true)
    {
        writer.WriteStartObject();
        writer.WriteString("id", MessageId(response));
        writer.WriteString("type", "message");
        writer.WriteString("status", status);
        writer.WriteString("role", "assistant");
        writer.WriteStartArray("content");
        if (withContent)
        {
            WriteTextPart(writer, text);
        }
        writer.WriteEndArray();
        writer.WriteEndObject();
    }

    public static void WriteTextPart(Utf8JsonWriter writer, string text)
    {
        writer.WriteStartObject();
        writer.WriteString("type", "output_text");
        writer.WriteString("text", text);
        writer.WriteStartArray("annotations");
        writer.WriteEndArray();
        writer.WriteEndObject();
    }

    public static void WriteDeleted(Utf8JsonWriter writer, string id)
    {
        writer.WriteStartObject();
        writer.WriteString("id", id);
        writer.WriteString("object", "response");
        writer.WriteBoolean("deleted", true);
        writer.WriteEndObject();
    }

    public static void WriteInputItems(Utf8JsonWriter writer, StoredResponse response)
    {
        writer.WriteStartObject();
        writer.WriteString("object", "list");
        writer.WriteStartArray("data");
        // Newest first, as the API lists them by default (order=desc).
        for (var i = response.Input.Count - 1; i >= 0; i--)
        {
            var (id, role, text) = response.Input[i];
            writer.WriteStartObject();
            writer.WriteString("id", id);
            writer.WriteString("type", "message");
            writer.WriteString("status", "completed");
            writer.WriteString("role", role);
            writer.WriteStartArray("content");
            writer.WriteStartObject();
            writer.WriteString("type", "input_text");
            writer.WriteString("text", text);
            writer.WriteEndObject();
            writer.WriteEndArray();
            writer.WriteEndObject();
        }
        writer.WriteEndArray();
        WriteStringOrNull(writer, "first_id", response.Input.Count > 0 ? response.Input[^1].Id : null);
        WriteStringOrNull(writer, "last_id", response.Input.Count > 0 ? response.Input[0].Id : null);
        writer.WriteBoolean("has_more", false);
        writer.WriteEndObject();
    }

    public static void WriteConversation(Utf8JsonWriter writer, string id, long createdAt)
    {
        writer.WriteStartObject();
        writer.WriteString("id", id);
        writer.WriteString("object", "conversation");
        writer.WriteNumber("created_at", createdAt);
        writer.WriteStartObject("metadata");
        writer.WriteEndObject();
        writer.WriteEndObject();
    }

    private static void WriteStringOrNull(Utf8JsonWriter writer, string name, string? value)
    {
        if (value is null)
        {
            writer.WriteNull(name);
        }
        else
        {
            writer.WriteString(name, value);
        }
    }
}
