using System.Text.Json;

namespace AoaiAspire.Gateway.Tokens;

/// <summary>Tokens a response reported in its <c>usage</c>.</summary>
internal readonly record struct Usage(long PromptTokens, long CompletionTokens)
{
    public long TotalTokens => PromptTokens + CompletionTokens;

    /// <summary>Input tokens served from the prompt cache (<c>input_tokens_details.cached_tokens</c>, or <c>prompt_tokens_details</c>), part of <see cref="PromptTokens"/>.</summary>
    public long CachedTokens { get; init; }

    /// <summary>Output tokens spent on reasoning (<c>output_tokens_details.reasoning_tokens</c>, or <c>completion_tokens_details</c>), part of <see cref="CompletionTokens"/>.</summary>
    public long ReasoningTokens { get; init; }

    /// <summary>
    /// Reads <c>prompt_tokens</c> and <c>completion_tokens</c> (chat, completions, embeddings) or <c>input_tokens</c>
    /// and <c>output_tokens</c> (Responses API), with the cached and reasoning counts of their details objects, from the
    /// object that starts at <paramref name="usageObject"/> (text after it is ignored).
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> usageObject, out Usage usage)
    {
        usage = default;
        long prompt = -1, completion = 0, cached = 0, reasoning = 0;
        var reader = new Utf8JsonReader(usageObject, isFinalBlock: false, state: default);
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }
            while (reader.Read())
            {
                if (reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == 0)
                {
                    break;
                }
                if (reader.TokenType == JsonTokenType.PropertyName && reader.CurrentDepth == 1)
                {
                    var isPrompt = reader.ValueTextEquals("prompt_tokens"u8) || reader.ValueTextEquals("input_tokens"u8);
                    var isCompletion = !isPrompt && (reader.ValueTextEquals("completion_tokens"u8) || reader.ValueTextEquals("output_tokens"u8));
                    var details = isPrompt || isCompletion ? 0
                        : reader.ValueTextEquals("input_tokens_details"u8) || reader.ValueTextEquals("prompt_tokens_details"u8) ? 1
                        : reader.ValueTextEquals("output_tokens_details"u8) || reader.ValueTextEquals("completion_tokens_details"u8) ? 2
                        : 0;
                    if (!reader.Read())
                    {
                        return false;
                    }
                    if (details != 0 && reader.TokenType == JsonTokenType.StartObject)
                    {
                        if (!ReadDetail(ref reader, details == 1 ? "cached_tokens"u8 : "reasoning_tokens"u8, out var detail))
                        {
                            return false;
                        }
                        if (details == 1)
                        {
                            cached = detail;
                        }
                        else
                        {
                            reasoning = detail;
                        }
                    }
                    else if (reader.TokenType == JsonTokenType.Number && (isPrompt || isCompletion))
                    {
                        if (isPrompt)
                        {
                            prompt = reader.GetInt64();
                        }
                        else
                        {
                            completion = reader.GetInt64();
                        }
                    }
                    else if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray && !reader.TrySkip())
                    {
                        return false;
                    }
                }
            }
        }
        catch (JsonException)
        {
            return false;
        }
        if (prompt < 0)
        {
            return false;
        }
        usage = new Usage(prompt, completion) { CachedTokens = cached, ReasoningTokens = reasoning };
        return true;
    }

    /// <summary>Reads one number member of a details object the reader is at the start of; leaves the reader at its end.</summary>
    private static bool ReadDetail(ref Utf8JsonReader reader, ReadOnlySpan<byte> name, out long value)
    {
        value = 0;
        var depth = reader.CurrentDepth;
        while (reader.Read())
        {
            if (reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == depth)
            {
                return true;
            }
            if (reader.TokenType == JsonTokenType.PropertyName && reader.CurrentDepth == depth + 1)
            {
                var wanted = reader.ValueTextEquals(name);
                if (!reader.Read())
                {
                    return false;
                }
                if (wanted && reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var n))
                {
                    value = n;
                }
                else if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray && !reader.TrySkip())
                {
                    return false;
                }
            }
        }
        return false;
    }

    /// <summary>Finds <c>"usage":{…}</c> in <paramref name="json"/> (the last occurrence) and reads it.</summary>
    public static bool TryFind(ReadOnlySpan<byte> json, out Usage usage)
    {
        usage = default;
        var at = json.LastIndexOf("\"usage\""u8);
        if (at < 0)
        {
            return false;
        }
        var rest = json[(at + 7)..];
        var colon = rest.IndexOf((byte)':');
        if (colon < 0)
        {
            return false;
        }
        rest = rest[(colon + 1)..].TrimStart(" \t\r\n"u8);
        return rest.Length > 0 && rest[0] == (byte)'{' && TryRead(rest, out usage);
    }
}
