using System.Text.Json;

namespace AoaiAspire.Gateway.Forwarding;

/// <summary>
/// What the gateway needs from a JSON request body, found in one allocation-free pass that also
/// validates it: the v1-style <c>model</c>, streaming, and the inputs of the token estimate.
/// </summary>
internal struct RequestInfo
{
    /// <summary>The body's <c>model</c> (the logical deployment for v1-style calls).</summary>
    public string? Model;
    public bool Stream;
    /// <summary>Whether the caller set <c>stream_options.include_usage</c>; null when absent.</summary>
    public bool? IncludeUsage;
    /// <summary>Whether the body has a <c>stream_options</c> member at all.</summary>
    public bool HasStreamOptions;
    /// <summary><c>max_tokens</c> or <c>max_completion_tokens</c>; null when absent.</summary>
    public int? MaxTokens;
    /// <summary><c>n</c> (choices), at least 1.</summary>
    public int Choices;
    /// <summary>UTF-8 bytes of the text in <c>messages</c>, <c>prompt</c> and <c>input</c>.</summary>
    public long PromptBytes;
    /// <summary>Number of chat messages or inputs.</summary>
    public int PromptItems;

    // Responses API members (POST /responses). Ids are kept as ranges of the body, so the scan allocates nothing.

    /// <summary>Where the <c>model</c> string token (quotes included) is in the body, for rewriting it per backend; length 0 when absent.</summary>
    public int ModelTokenStart, ModelTokenLength;
    /// <summary>The raw text of <c>previous_response_id</c> in the body; length 0 when absent (or escaped, which no real id is).</summary>
    public int PreviousResponseIdStart, PreviousResponseIdLength;
    /// <summary>The raw text of <c>conversation</c> (a string, or the object's <c>id</c>); length 0 when absent.</summary>
    public int ConversationStart, ConversationLength;
    /// <summary><c>store</c>; null when absent (the API's default is true).</summary>
    public bool? Store;
    /// <summary><c>background</c>.</summary>
    public bool Background;

    /// <summary>
    /// The largest completion any deployed model offers (o-series: 100,000) with room to spare. A request over it
    /// cannot be served by any backend; refusing it here keeps it from benching every backend with a 429 that
    /// its charge, larger than a whole minute's tokens, would earn.
    /// </summary>
    public const int MaxCompletionTokens = 131_072;

    private enum Field { None, Model, Stream, MaxTokens, N, StreamOptions, Prompt, MaxOutputTokens, Instructions, PreviousResponseId, Conversation, Store, Background, Other }

    /// <summary>Scans <paramref name="json"/>; on failure returns false with a message for the caller.</summary>
    public static bool TryParse(ReadOnlySpan<byte> json, bool needModel, out RequestInfo info, out string? error)
    {
        info = new RequestInfo { Choices = 1 };
        error = null;
        if (!System.Text.Unicode.Utf8.IsValid(json))
        {
            error = "The request body is not valid UTF-8.";
            return false;
        }
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 64 });
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                error = "The request body must be a JSON object.";
                return false;
            }
            var field = Field.None;
            while (reader.Read())
            {
                var depth = reader.CurrentDepth;
                if (depth == 1 && reader.TokenType == JsonTokenType.PropertyName)
                {
                    field = reader.ValueTextEquals("model"u8) ? Field.Model
                        : reader.ValueTextEquals("stream"u8) ? Field.Stream
                        : reader.ValueTextEquals("max_tokens"u8) || reader.ValueTextEquals("max_completion_tokens"u8) ? Field.MaxTokens
                        : reader.ValueTextEquals("n"u8) ? Field.N
                        : reader.ValueTextEquals("stream_options"u8) ? Field.StreamOptions
                        : reader.ValueTextEquals("messages"u8) || reader.ValueTextEquals("prompt"u8) || reader.ValueTextEquals("input"u8) ? Field.Prompt
                        : ResponsesField(ref reader);
                    continue;
                }
                if (depth == 1 && reader.TokenType is JsonTokenType.EndArray or JsonTokenType.EndObject)
                {
                    continue;
                }
                if (depth == 1)
                {
                    if (!ReadTopLevelValue(ref reader, field, ref info, out error))
                    {
                        return false;
                    }
                    if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray && field is not (Field.StreamOptions or Field.Prompt or Field.Conversation))
                    {
                        reader.Skip();
                    }
                    continue;
                }
                if (field == Field.Prompt)
                {
                    if (reader.TokenType == JsonTokenType.String)
                    {
                        info.PromptBytes += reader.HasValueSequence ? reader.ValueSequence.Length : reader.ValueSpan.Length;
                        if (depth == 2)
                        {
                            info.PromptItems++;
                        }
                    }
                    else if (depth == 2 && reader.TokenType == JsonTokenType.StartObject)
                    {
                        info.PromptItems++;
                    }
                }
                else if (field == Field.Conversation && depth == 2 && reader.TokenType == JsonTokenType.PropertyName && reader.ValueTextEquals("id"u8))
                {
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.String)
                    {
                        error = "'conversation.id' must be a string.";
                        return false;
                    }
                    SetRange(ref reader, out info.ConversationStart, out info.ConversationLength);
                }
                else if (field == Field.StreamOptions && depth == 2 && reader.TokenType == JsonTokenType.PropertyName && reader.ValueTextEquals("include_usage"u8))
                {
                    reader.Read();
                    if (reader.TokenType is not (JsonTokenType.True or JsonTokenType.False))
                    {
                        error = "'stream_options.include_usage' must be a boolean.";
                        return false;
                    }
                    info.IncludeUsage = reader.TokenType == JsonTokenType.True;
                }
            }
        }
        catch (JsonException ex)
        {
            error = $"The request body is not valid JSON: {ex.Message}";
            return false;
        }
        catch (InvalidOperationException ex)
        {
            // Escaped text that is not Unicode (a lone surrogate such as \uD800) is read as an invalid string.
            error = $"The request body has text that is not valid Unicode: {ex.Message}";
            return false;
        }
        if (info.MaxTokens > MaxCompletionTokens)
        {
            error = $"'max_tokens' is {info.MaxTokens}; no model produces more than {MaxCompletionTokens} tokens.";
            return false;
        }
        if ((long)(info.MaxTokens ?? 0) * info.Choices > MaxCompletionTokens * 8L)
        {
            error = $"'max_tokens' × 'n' is {(long)info.MaxTokens!.Value * info.Choices}; at most {MaxCompletionTokens * 8L} completion tokens may be asked for in one request.";
            return false;
        }
        if (needModel && string.IsNullOrEmpty(info.Model))
        {
            error = "'model' is required: set it to the deployment name.";
            return false;
        }
        return true;
    }

    /// <summary>The Responses API's members; looked at only for names the chat members did not match.</summary>
    private static Field ResponsesField(ref Utf8JsonReader reader)
        => reader.ValueTextEquals("max_output_tokens"u8) ? Field.MaxOutputTokens
            : reader.ValueTextEquals("instructions"u8) ? Field.Instructions
            : reader.ValueTextEquals("previous_response_id"u8) ? Field.PreviousResponseId
            : reader.ValueTextEquals("conversation"u8) ? Field.Conversation
            : reader.ValueTextEquals("store"u8) ? Field.Store
            : reader.ValueTextEquals("background"u8) ? Field.Background
            : Field.Other;

    /// <summary>The raw text of the string the reader is at (no range for an escaped one: no real id has escapes).</summary>
    private static void SetRange(ref Utf8JsonReader reader, out int start, out int length)
    {
        if (reader.ValueIsEscaped || reader.HasValueSequence)
        {
            start = length = 0;
            return;
        }
        start = (int)reader.TokenStartIndex + 1;
        length = reader.ValueSpan.Length;
    }

    private static bool ReadBoolean(ref Utf8JsonReader reader, string name, out bool? value, out string? error)
    {
        error = null;
        value = null;
        if (reader.TokenType is JsonTokenType.True or JsonTokenType.False)
        {
            value = reader.TokenType == JsonTokenType.True;
            return true;
        }
        if (reader.TokenType == JsonTokenType.Null)
        {
            return true;
        }
        error = $"'{name}' must be a boolean.";
        return false;
    }

    private static bool ReadTopLevelValue(ref Utf8JsonReader reader, Field field, ref RequestInfo info, out string? error)
    {
        error = null;
        switch (field)
        {
            case Field.Model:
                if (reader.TokenType == JsonTokenType.Null)
                {
                    return true;
                }
                if (reader.TokenType != JsonTokenType.String)
                {
                    error = "'model' must be a string.";
                    return false;
                }
                info.Model = reader.GetString();
                info.ModelTokenStart = (int)reader.TokenStartIndex;
                info.ModelTokenLength = (int)(reader.BytesConsumed - reader.TokenStartIndex);
                if (info.Model is { Length: > 256 })
                {
                    error = "'model' is too long.";
                    return false;
                }
                return true;
            case Field.Stream:
                if (reader.TokenType is JsonTokenType.True or JsonTokenType.False)
                {
                    info.Stream = reader.TokenType == JsonTokenType.True;
                    return true;
                }
                if (reader.TokenType == JsonTokenType.Null)
                {
                    return true;
                }
                error = "'stream' must be a boolean.";
                return false;
            case Field.MaxTokens:
                if (reader.TokenType == JsonTokenType.Null)
                {
                    return true;
                }
                if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out var max) || max < 1)
                {
                    error = "'max_tokens' must be a positive integer no larger than 2147483647.";
                    return false;
                }
                info.MaxTokens = max;
                return true;
            case Field.N:
                if (reader.TokenType == JsonTokenType.Null)
                {
                    return true;
                }
                if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out var n) || n is < 1 or > 128)
                {
                    error = "'n' must be an integer from 1 to 128.";
                    return false;
                }
                info.Choices = n;
                return true;
            case Field.StreamOptions:
                info.HasStreamOptions = true;
                if (reader.TokenType is not (JsonTokenType.StartObject or JsonTokenType.Null))
                {
                    error = "'stream_options' must be an object.";
                    return false;
                }
                return true;
            case Field.MaxOutputTokens:
                if (reader.TokenType == JsonTokenType.Null)
                {
                    return true;
                }
                if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out var maxOutput) || maxOutput < 1)
                {
                    error = "'max_output_tokens' must be a positive integer no larger than 2147483647.";
                    return false;
                }
                info.MaxTokens = maxOutput;
                return true;
            case Field.Instructions:
                if (reader.TokenType == JsonTokenType.String)
                {
                    info.PromptBytes += reader.HasValueSequence ? reader.ValueSequence.Length : reader.ValueSpan.Length;
                    info.PromptItems++;
                    return true;
                }
                if (reader.TokenType == JsonTokenType.Null)
                {
                    return true;
                }
                error = "'instructions' must be a string.";
                return false;
            case Field.PreviousResponseId:
                if (reader.TokenType == JsonTokenType.String)
                {
                    SetRange(ref reader, out info.PreviousResponseIdStart, out info.PreviousResponseIdLength);
                    return true;
                }
                if (reader.TokenType == JsonTokenType.Null)
                {
                    return true;
                }
                error = "'previous_response_id' must be a string.";
                return false;
            case Field.Conversation:
                if (reader.TokenType == JsonTokenType.String)
                {
                    SetRange(ref reader, out info.ConversationStart, out info.ConversationLength);
                    return true;
                }
                if (reader.TokenType is JsonTokenType.Null or JsonTokenType.StartObject)
                {
                    return true;
                }
                error = "'conversation' must be a string or an object with an 'id'.";
                return false;
            case Field.Store:
                return ReadBoolean(ref reader, "store", out info.Store, out error);
            case Field.Background:
                if (!ReadBoolean(ref reader, "background", out var background, out error))
                {
                    return false;
                }
                info.Background = background == true;
                return true;
            case Field.Prompt:
                if (reader.TokenType == JsonTokenType.String)
                {
                    info.PromptBytes += reader.ValueSpan.Length;
                    info.PromptItems++;
                }
                else if (reader.TokenType is not (JsonTokenType.StartArray or JsonTokenType.Null))
                {
                    error = "'messages', 'prompt' and 'input' must be strings or arrays.";
                    return false;
                }
                return true;
            default:
                return true;
        }
    }
}
