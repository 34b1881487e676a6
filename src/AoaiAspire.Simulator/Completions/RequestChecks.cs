using System.Text.Json;

namespace AoaiAspire.Simulator.Completions;

/// <summary>
/// The 400s Azure OpenAI answers for members of the wrong type or out of range, before a model runs: the message
/// and the member at fault (<c>param</c>, e.g. <c>messages[0].role</c>). The gateway refuses the same bodies itself
/// (docs/bad-input.md), so a client sees the same answer with or without the gateway.
/// </summary>
internal static class RequestChecks
{
    /// <summary>Null when the body's members have the types and ranges the operation takes, else the error and its param.</summary>
    public static (string Message, string Param)? Check(Operation operation, JsonElement body)
    {
        if ((Integer(body, "max_tokens", 1, int.MaxValue) ?? Integer(body, "max_completion_tokens", 1, int.MaxValue) ?? Integer(body, "n", 1, 128)
            ?? Boolean(body, "stream")) is { } basic)
        {
            return basic;
        }
        if (operation != Operation.Embeddings && Sampling(body) is { } sampling)
        {
            return sampling;
        }
        return operation switch
        {
            Operation.ChatCompletions => Messages(body),
            Operation.Embeddings => EmbeddingsInput(body),
            _ => body.TryGetProperty("prompt", out var prompt) && prompt.ValueKind is not (JsonValueKind.String or JsonValueKind.Array or JsonValueKind.Null)
                ? ($"'prompt' must be a string or an array, not {Describe(prompt)}.", "prompt")
                : null,
        };
    }

    /// <summary><c>temperature</c> 0–2, <c>top_p</c> 0–1, the penalties -2–2 (chat, completions, responses).</summary>
    public static (string Message, string Param)? Sampling(JsonElement body)
        => Number(body, "temperature", 0, 2) ?? Number(body, "top_p", 0, 1) ?? Number(body, "presence_penalty", -2, 2) ?? Number(body, "frequency_penalty", -2, 2);

    private static (string, string)? Messages(JsonElement body)
    {
        if (!body.TryGetProperty("messages", out var messages) || messages.ValueKind == JsonValueKind.Null)
        {
            return ("'messages' is required: an array of messages.", "messages");
        }
        if (messages.ValueKind != JsonValueKind.Array)
        {
            return ($"'messages' must be an array of messages, not {Describe(messages)}.", "messages");
        }
        if (messages.GetArrayLength() == 0)
        {
            return ("'messages' must have at least one message.", "messages");
        }
        var index = 0;
        foreach (var message in messages.EnumerateArray())
        {
            if (message.ValueKind != JsonValueKind.Object)
            {
                return ($"'messages[{index}]' must be an object with 'role' and 'content', not {Describe(message)}.", $"messages[{index}]");
            }
            if (!message.TryGetProperty("role", out var role))
            {
                return ($"'messages[{index}].role' is required.", $"messages[{index}].role");
            }
            if (role.ValueKind != JsonValueKind.String)
            {
                return ($"'messages[{index}].role' must be a string, not {Describe(role)}.", $"messages[{index}].role");
            }
            if (role.GetString() is not ("system" or "developer" or "user" or "assistant" or "tool" or "function"))
            {
                return ($"'messages[{index}].role' must be one of 'system', 'developer', 'user', 'assistant', 'tool', 'function'.", $"messages[{index}].role");
            }
            if (message.TryGetProperty("content", out var content) && content.ValueKind is not (JsonValueKind.String or JsonValueKind.Array or JsonValueKind.Null))
            {
                return ($"'messages[{index}].content' must be a string, an array of content parts or null, not {Describe(content)}.", $"messages[{index}].content");
            }
            index++;
        }
        return null;
    }

    private static (string, string)? EmbeddingsInput(JsonElement body)
    {
        if (!body.TryGetProperty("input", out var input) || input.ValueKind == JsonValueKind.Null)
        {
            return ("'input' is required: a string or an array of strings.", "input");
        }
        if (input.ValueKind == JsonValueKind.String)
        {
            return null;
        }
        if (input.ValueKind != JsonValueKind.Array)
        {
            return ($"'input' must be a string or an array, not {Describe(input)}.", "input");
        }
        foreach (var item in input.EnumerateArray())
        {
            var ok = item.ValueKind is JsonValueKind.String or JsonValueKind.Number
                || (item.ValueKind == JsonValueKind.Array && item.EnumerateArray().All(t => t.ValueKind == JsonValueKind.Number));
            if (!ok)
            {
                return ($"'input' must be a string, an array of strings, or an array of token arrays; an item is {Describe(item)}.", "input");
            }
        }
        return null;
    }

    private static (string, string)? Integer(JsonElement body, string name, int min, int max)
        => body.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null
            && (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out var i) || i < min || i > max)
            ? (max == int.MaxValue ? $"'{name}' must be a positive integer no larger than 2147483647." : $"'{name}' must be an integer from {min} to {max}.", name)
            : null;

    private static (string, string)? Boolean(JsonElement body, string name)
        => body.TryGetProperty(name, out var value) && value.ValueKind is not (JsonValueKind.True or JsonValueKind.False or JsonValueKind.Null)
            ? ($"'{name}' must be a boolean.", name)
            : null;

    private static (string, string)? Number(JsonElement body, string name, double min, double max)
        => body.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null
            && (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out var d) || !double.IsFinite(d) || d < min || d > max)
            ? (value.ValueKind == JsonValueKind.Number ? $"'{name}' must be a number from {min} to {max}." : $"'{name}' must be a number from {min} to {max}, not {Describe(value)}.", name)
            : null;

    private static string Describe(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        JsonValueKind.Object => "an object",
        _ => "an array",
    };
}
