using System.Text.Json;

namespace AoaiAspire.Gateway.Tokens;

/// <summary>Tokens a response reported in its <c>usage</c>.</summary>
internal readonly record struct Usage(long PromptTokens, long CompletionTokens)
{
    public long TotalTokens => PromptTokens + CompletionTokens;

    /// <summary>
    /// Reads <c>prompt_tokens</c> and <c>completion_tokens</c> from the object that starts at
    /// <paramref name="usageObject"/> (text after it is ignored).
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> usageObject, out Usage usage)
    {
        usage = default;
        long prompt = -1, completion = 0;
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
                    var isPrompt = reader.ValueTextEquals("prompt_tokens"u8);
                    var isCompletion = !isPrompt && reader.ValueTextEquals("completion_tokens"u8);
                    if (!reader.Read())
                    {
                        return false;
                    }
                    if (reader.TokenType == JsonTokenType.Number && (isPrompt || isCompletion))
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
        usage = new Usage(prompt, completion);
        return true;
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
