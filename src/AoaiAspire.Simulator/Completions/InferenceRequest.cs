using System.Text.Json;

namespace AoaiAspire.Simulator.Completions;

/// <summary>What the simulator needs from a request body: its size in tokens and how to answer.</summary>
internal sealed record InferenceRequest(
    Operation Operation,
    string? Model,
    int PromptTokens,
    int? MaxTokens,
    int Choices,
    int ChargedChoices,
    bool Stream,
    bool IncludeUsage)
{
    /// <summary>Tokens generated when a request sets no <c>max_tokens</c>.</summary>
    internal const int DefaultCompletionTokens = 32;

    /// <summary>The most tokens one choice generates, whatever <c>max_tokens</c> says.</summary>
    internal const int MaxCompletionTokens = 4096;

    /// <summary>Tokens per chat message beyond its text (role, separators), as OpenAI's cookbook counts them.</summary>
    internal const int TokensPerMessage = 4;

    /// <summary>Tokens that prime every chat reply.</summary>
    internal const int TokensPerReply = 3;

    /// <summary>Completion tokens generated per choice.</summary>
    public int CompletionTokens => Operation == Operation.Embeddings
        ? 0
        : Math.Clamp(MaxTokens ?? DefaultCompletionTokens, 1, MaxCompletionTokens);

    /// <summary>
    /// The rate-limit charge on arrival, as AOAI estimates it: the prompt plus <c>max_tokens</c> (or the
    /// deployment's default charge) for each of the max(<c>n</c>, <c>best_of</c>) candidates generated.
    /// </summary>
    public int Charge(int defaultMaxTokensCharge)
        => Operation == Operation.Embeddings
            ? PromptTokens
            : (int)Math.Min(int.MaxValue, PromptTokens + ((long)(MaxTokens ?? defaultMaxTokensCharge) * ChargedChoices));

    /// <summary>Reads the body; returns null with an error message when it is not a request the operation accepts.</summary>
    public static InferenceRequest? Parse(Operation operation, JsonElement body, out string? error) => Parse(operation, body, out error, out _);

    /// <summary>Reads the body; returns null with an error message, and the member at fault when one is, when it is not a request the operation accepts.</summary>
    public static InferenceRequest? Parse(Operation operation, JsonElement body, out string? error, out string? param)
    {
        error = null;
        param = null;
        if (body.ValueKind != JsonValueKind.Object)
        {
            error = "The request body must be a JSON object.";
            return null;
        }
        if (RequestChecks.Check(operation, body) is { } wrong)
        {
            (error, param) = wrong;
            return null;
        }

        var model = body.TryGetProperty("model", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
        var maxTokens = ReadInt(body, "max_completion_tokens") ?? ReadInt(body, "max_tokens");
        if (maxTokens is <= 0)
        {
            error = "max_tokens must be at least 1.";
            return null;
        }

        var choices = ReadInt(body, "n") ?? 1;
        var charged = Math.Max(choices, ReadInt(body, "best_of") ?? 1);
        if (choices is < 1 or > 128 || charged > 128)
        {
            error = "n must be between 1 and 128.";
            return null;
        }

        var stream = body.TryGetProperty("stream", out var s) && s.ValueKind == JsonValueKind.True;
        var includeUsage = body.TryGetProperty("stream_options", out var so)
            && so.ValueKind == JsonValueKind.Object
            && so.TryGetProperty("include_usage", out var iu)
            && iu.ValueKind == JsonValueKind.True;

        int promptTokens;
        switch (operation)
        {
            case Operation.ChatCompletions:
                if (!body.TryGetProperty("messages", out var messages) || messages.ValueKind != JsonValueKind.Array || messages.GetArrayLength() == 0)
                {
                    error = "'messages' is a required property and must be a non-empty array.";
                    return null;
                }

                promptTokens = TokensPerReply;
                foreach (var message in messages.EnumerateArray())
                {
                    promptTokens += TokensPerMessage + (message.ValueKind == JsonValueKind.Object && message.TryGetProperty("content", out var content)
                        ? TextTokens(content)
                        : 0);
                }

                break;
            case Operation.Completions:
                promptTokens = body.TryGetProperty("prompt", out var prompt) ? Math.Max(1, TextTokens(prompt)) : 1;
                break;
            default:
                if (!body.TryGetProperty("input", out var input) || input.ValueKind is not (JsonValueKind.String or JsonValueKind.Array))
                {
                    error = "'input' is a required property: a string or an array.";
                    return null;
                }

                promptTokens = Math.Max(1, TextTokens(input));
                stream = false;
                break;
        }

        return new InferenceRequest(operation, model, promptTokens, maxTokens, choices, charged, stream, includeUsage);
    }

    /// <summary>Tokens in a content value: a string, an array of strings or parts (<c>{"type":"text","text":…}</c>), or token ids.</summary>
    private static int TextTokens(JsonElement value)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.String:
                return TokenCount.Of(value.GetString()!);
            case JsonValueKind.Number:
                return 1; // a token id (embeddings and completions accept pre-tokenised input)
            case JsonValueKind.Array:
                var total = 0;
                foreach (var item in value.EnumerateArray())
                {
                    total += TextTokens(item);
                }

                return total;
            case JsonValueKind.Object:
                return value.TryGetProperty("text", out var text) && text.ValueKind == JsonValueKind.String
                    ? TokenCount.Of(text.GetString()!)
                    : 0;
            default:
                return 0;
        }
    }

    private static int? ReadInt(JsonElement body, string name)
        => body.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var i) ? i : null;
}
