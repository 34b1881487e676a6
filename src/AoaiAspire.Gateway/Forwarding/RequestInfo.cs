using System.Text.Json;

namespace AoaiAspire.Gateway.Forwarding;

/// <summary>Which operation a body is for: it decides which members are required and what their items must be.</summary>
internal enum RequestKind
{
    /// <summary>Only the checks every operation shares (the operation is not known, or has no rules of its own: images, speech).</summary>
    Any,
    Chat,
    Completions,
    Embeddings,
    Responses,
}

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

    private enum Field
    {
        None, Model, Stream, MaxTokens, MaxCompletionTokens, N, StreamOptions, Prompt, Messages, Input, MaxOutputTokens, Instructions,
        PreviousResponseId, Conversation, Store, Background, Temperature, TopP, PresencePenalty, FrequencyPenalty, Other,
    }

    /// <summary>The operation's <c>RequestKind</c>, from its path.</summary>
    public static RequestKind KindOf(string operation) => operation switch
    {
        "chat/completions" => RequestKind.Chat,
        "completions" => RequestKind.Completions,
        "embeddings" => RequestKind.Embeddings,
        "responses" => RequestKind.Responses,
        _ => RequestKind.Any,
    };

    /// <summary>Scans <paramref name="json"/> with the checks every operation shares; on failure returns false with a message for the caller.</summary>
    public static bool TryParse(ReadOnlySpan<byte> json, bool needModel, out RequestInfo info, out string? error)
        => TryParse(json, RequestKind.Any, needModel, out info, out error, out _);

    /// <summary>
    /// Scans <paramref name="json"/> for a <paramref name="kind"/> request; on failure returns false with a message for the
    /// caller and, when one member is at fault, its name as Azure OpenAI's <c>param</c> gives it (<c>messages[0].role</c>).
    /// Only failures build strings: a valid body is scanned without allocating (model aside).
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> json, RequestKind kind, bool needModel, out RequestInfo info, out string? error, out string? param)
    {
        info = new RequestInfo { Choices = 1 };
        error = null;
        param = null;
        // The chat messages walk: the index of the message being read, whether it named its role, and whether 'messages' was seen.
        var message = -1;
        var messageHasRole = false;
        var sawMessages = false;
        var sawInput = false;
        var maxTokensField = Field.MaxTokens;
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
                        : reader.ValueTextEquals("max_tokens"u8) ? Field.MaxTokens
                        : reader.ValueTextEquals("max_completion_tokens"u8) ? Field.MaxCompletionTokens
                        : reader.ValueTextEquals("n"u8) ? Field.N
                        : reader.ValueTextEquals("stream_options"u8) ? Field.StreamOptions
                        : reader.ValueTextEquals("messages"u8) ? Field.Messages
                        : reader.ValueTextEquals("input"u8) ? Field.Input
                        : reader.ValueTextEquals("prompt"u8) ? Field.Prompt
                        : kind == RequestKind.Embeddings ? ResponsesField(ref reader)
                        : SamplingField(ref reader);
                    continue;
                }
                if (depth == 1 && reader.TokenType is JsonTokenType.EndArray or JsonTokenType.EndObject)
                {
                    if (field == Field.Messages && kind == RequestKind.Chat && message < 0)
                    {
                        (error, param) = ("'messages' must have at least one message.", "messages");
                        return false;
                    }
                    continue;
                }
                if (depth == 1)
                {
                    sawMessages |= field == Field.Messages && reader.TokenType != JsonTokenType.Null;
                    sawInput |= field == Field.Input && reader.TokenType != JsonTokenType.Null;
                    message = -1;
                    if (field is Field.MaxTokens or Field.MaxCompletionTokens or Field.MaxOutputTokens)
                    {
                        maxTokensField = field;
                    }
                    if (!ReadTopLevelValue(ref reader, field, kind, ref info, out error))
                    {
                        param = ParamOf(field);
                        return false;
                    }
                    if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray && field is not (Field.StreamOptions or Field.Prompt or Field.Messages or Field.Input or Field.Conversation))
                    {
                        reader.Skip();
                    }
                    continue;
                }
                if (field == Field.Messages && kind == RequestKind.Chat && (depth == 2 || (depth == 3 && reader.TokenType == JsonTokenType.PropertyName)))
                {
                    if (!ReadMessageToken(ref reader, depth, ref message, ref messageHasRole, out error, out param))
                    {
                        return false;
                    }
                }
                else if (field == Field.Input && kind == RequestKind.Embeddings && depth is 2 or 3 && !IsEmbeddingsInputToken(reader.TokenType, depth))
                {
                    (error, param) = ($"'input' must be a string, an array of strings, or an array of token arrays; an item is {Describe(reader.TokenType)}.", "input");
                    return false;
                }
                if (field is Field.Prompt or Field.Messages or Field.Input)
                {
                    // Every string inside counts toward the estimate (roles and names too: the framing they stand for).
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
                        (error, param) = ("'conversation.id' must be a string.", "conversation.id");
                        return false;
                    }
                    SetRange(ref reader, out info.ConversationStart, out info.ConversationLength);
                }
                else if (field == Field.StreamOptions && depth == 2 && reader.TokenType == JsonTokenType.PropertyName && reader.ValueTextEquals("include_usage"u8))
                {
                    reader.Read();
                    if (reader.TokenType is not (JsonTokenType.True or JsonTokenType.False))
                    {
                        (error, param) = ("'stream_options.include_usage' must be a boolean.", "stream_options.include_usage");
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
            (error, param) = ($"'{ParamOf(maxTokensField)}' is {info.MaxTokens}; no model produces more than {MaxCompletionTokens} tokens.", ParamOf(maxTokensField));
            return false;
        }
        if ((long)(info.MaxTokens ?? 0) * info.Choices > MaxCompletionTokens * 8L)
        {
            (error, param) = ($"'{ParamOf(maxTokensField)}' × 'n' is {(long)info.MaxTokens!.Value * info.Choices}; at most {MaxCompletionTokens * 8L} completion tokens may be asked for in one request.", "n");
            return false;
        }
        if (needModel && string.IsNullOrEmpty(info.Model))
        {
            (error, param) = ("'model' is required: set it to the deployment name.", "model");
            return false;
        }
        if (kind == RequestKind.Chat && !sawMessages)
        {
            (error, param) = ("'messages' is required: an array of messages.", "messages");
            return false;
        }
        if (kind == RequestKind.Embeddings && !sawInput)
        {
            (error, param) = ("'input' is required: a string or an array of strings.", "input");
            return false;
        }
        return true;
    }

    /// <summary>The roles a chat message may have.</summary>
    private static bool IsKnownRole(ref Utf8JsonReader reader)
        => reader.ValueTextEquals("user"u8) || reader.ValueTextEquals("assistant"u8) || reader.ValueTextEquals("system"u8)
            || reader.ValueTextEquals("tool"u8) || reader.ValueTextEquals("developer"u8) || reader.ValueTextEquals("function"u8);

    /// <summary>
    /// One token inside <c>messages</c>: each item an object with a known string <c>role</c>, and a <c>content</c> that is a
    /// string, an array of parts or null (an assistant message with <c>tool_calls</c>). What is inside parts and tool calls is the backend's.
    /// </summary>
    /// <remarks>A value it reads (role, content) is left as the current token, so the caller counts its text as for any other.</remarks>
    private static bool ReadMessageToken(ref Utf8JsonReader reader, int depth, ref int message, ref bool hasRole, out string? error, out string? param)
    {
        error = param = null;
        if (depth == 2)
        {
            if (reader.TokenType == JsonTokenType.StartObject)
            {
                message++;
                hasRole = false;
                return true;
            }
            if (reader.TokenType == JsonTokenType.EndObject)
            {
                if (!hasRole)
                {
                    (error, param) = ($"'messages[{message}].role' is required.", $"messages[{message}].role");
                    return false;
                }
                return true;
            }
            (error, param) = ($"'messages[{message + 1}]' must be an object with 'role' and 'content', not {Describe(reader.TokenType)}.", $"messages[{message + 1}]");
            return false;
        }
        if (depth != 3 || reader.TokenType != JsonTokenType.PropertyName)
        {
            return true;
        }
        if (reader.ValueTextEquals("role"u8))
        {
            reader.Read();
            if (reader.TokenType != JsonTokenType.String || !IsKnownRole(ref reader))
            {
                (error, param) = (reader.TokenType == JsonTokenType.String
                    ? $"'messages[{message}].role' must be one of 'system', 'developer', 'user', 'assistant', 'tool', 'function'."
                    : $"'messages[{message}].role' must be a string, not {Describe(reader.TokenType)}.", $"messages[{message}].role");
                return false;
            }
            hasRole = true;
        }
        else if (reader.ValueTextEquals("content"u8))
        {
            reader.Read();
            if (reader.TokenType is not (JsonTokenType.String or JsonTokenType.StartArray or JsonTokenType.Null))
            {
                (error, param) = ($"'messages[{message}].content' must be a string, an array of content parts or null, not {Describe(reader.TokenType)}.", $"messages[{message}].content");
                return false;
            }
        }
        return true;
    }

    /// <summary>Embeddings input: a string, or an array of strings, of token ids, or of arrays of token ids.</summary>
    private static bool IsEmbeddingsInputToken(JsonTokenType token, int depth) => depth == 2
        ? token is JsonTokenType.String or JsonTokenType.Number or JsonTokenType.StartArray or JsonTokenType.EndArray
        : token is JsonTokenType.Number or JsonTokenType.EndArray;

    /// <summary>What a wrong value is, for the message.</summary>
    private static string Describe(JsonTokenType token) => token switch
    {
        JsonTokenType.String => "a string",
        JsonTokenType.Number => "a number",
        JsonTokenType.True or JsonTokenType.False => "a boolean",
        JsonTokenType.Null => "null",
        JsonTokenType.StartObject => "an object",
        JsonTokenType.StartArray => "an array",
        _ => token.ToString(),
    };

    /// <summary>The <c>param</c> of a top-level member's error.</summary>
    private static string? ParamOf(Field field) => field switch
    {
        Field.Model => "model",
        Field.Stream => "stream",
        Field.MaxTokens => "max_tokens",
        Field.MaxCompletionTokens => "max_completion_tokens",
        Field.N => "n",
        Field.StreamOptions => "stream_options",
        Field.Messages => "messages",
        Field.Prompt => "prompt",
        Field.Input => "input",
        Field.MaxOutputTokens => "max_output_tokens",
        Field.Instructions => "instructions",
        Field.PreviousResponseId => "previous_response_id",
        Field.Conversation => "conversation",
        Field.Store => "store",
        Field.Background => "background",
        Field.Temperature => "temperature",
        Field.TopP => "top_p",
        Field.PresencePenalty => "presence_penalty",
        Field.FrequencyPenalty => "frequency_penalty",
        _ => null,
    };

    /// <summary>Sampling members (chat, completions, responses), then the Responses API's.</summary>
    private static Field SamplingField(ref Utf8JsonReader reader)
        => reader.ValueTextEquals("temperature"u8) ? Field.Temperature
            : reader.ValueTextEquals("top_p"u8) ? Field.TopP
            : reader.ValueTextEquals("presence_penalty"u8) ? Field.PresencePenalty
            : reader.ValueTextEquals("frequency_penalty"u8) ? Field.FrequencyPenalty
            : ResponsesField(ref reader);

    /// <summary>A number within Azure OpenAI's documented range, or null.</summary>
    private static bool ReadNumber(ref Utf8JsonReader reader, string name, double min, double max, out string? error)
    {
        error = null;
        if (reader.TokenType == JsonTokenType.Null)
        {
            return true;
        }
        if (reader.TokenType != JsonTokenType.Number || !reader.TryGetDouble(out var value) || value < min || value > max)
        {
            error = reader.TokenType == JsonTokenType.Number
                ? $"'{name}' must be a number from {min} to {max}."
                : $"'{name}' must be a number from {min} to {max}, not {Describe(reader.TokenType)}.";
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

    private static bool ReadTopLevelValue(ref Utf8JsonReader reader, Field field, RequestKind kind, ref RequestInfo info, out string? error)
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
            case Field.MaxTokens or Field.MaxCompletionTokens:
                if (reader.TokenType == JsonTokenType.Null)
                {
                    return true;
                }
                if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out var max) || max < 1)
                {
                    error = field == Field.MaxTokens
                        ? "'max_tokens' must be a positive integer no larger than 2147483647."
                        : "'max_completion_tokens' must be a positive integer no larger than 2147483647.";
                    return false;
                }
                info.MaxTokens = max;
                return true;
            case Field.Temperature:
                return ReadNumber(ref reader, "temperature", 0, 2, out error);
            case Field.TopP:
                return ReadNumber(ref reader, "top_p", 0, 1, out error);
            case Field.PresencePenalty:
                return ReadNumber(ref reader, "presence_penalty", -2, 2, out error);
            case Field.FrequencyPenalty:
                return ReadNumber(ref reader, "frequency_penalty", -2, 2, out error);
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
            case Field.Messages when kind == RequestKind.Chat:
                if (reader.TokenType is not (JsonTokenType.StartArray or JsonTokenType.Null))
                {
                    error = $"'messages' must be an array of messages, not {Describe(reader.TokenType)}.";
                    return false;
                }
                return true;
            case Field.Messages or Field.Prompt or Field.Input:
                if (reader.TokenType == JsonTokenType.String)
                {
                    info.PromptBytes += reader.HasValueSequence ? reader.ValueSequence.Length : reader.ValueSpan.Length;
                    info.PromptItems++;
                }
                else if (reader.TokenType is not (JsonTokenType.StartArray or JsonTokenType.Null))
                {
                    var name = field == Field.Messages ? "messages" : field == Field.Prompt ? "prompt" : "input";
                    error = $"'{name}' must be a string or an array, not {Describe(reader.TokenType)}.";
                    return false;
                }
                return true;
            default:
                return true;
        }
    }
}
