using System.Text.Json;

namespace AoaiAspire.Simulator.Completions;

/// <summary>The identity of one response: shared by every chunk of a stream.</summary>
internal readonly record struct ResponseIdentity(string Id, long Created, string Model);

/// <summary>Writes AOAI-shaped response bodies with <see cref="Utf8JsonWriter"/> (no reflection, no intermediate objects).</summary>
internal static class CompletionJson
{
    private static readonly string[] FilterCategories = ["hate", "self_harm", "sexual", "violence"];

    public static ResponseIdentity NewIdentity(Operation operation, string model, TimeProvider time)
    {
        var prefix = operation == Operation.ChatCompletions ? "chatcmpl-" : "cmpl-";
        return new ResponseIdentity(prefix + Guid.NewGuid().ToString("N")[..29], time.GetUtcNow().ToUnixTimeSeconds(), model);
    }

    /// <summary>A complete (non-streamed) chat or text completion.</summary>
    public static void WriteCompletion(Utf8JsonWriter writer, ResponseIdentity identity, InferenceRequest request)
    {
        var chat = request.Operation == Operation.ChatCompletions;
        var tokens = request.CompletionTokens;
        writer.WriteStartObject();
        writer.WriteStartArray("choices");
        for (var i = 0; i < request.Choices; i++)
        {
            writer.WriteStartObject();
            WriteContentFilterResults(writer);
            writer.WriteString("finish_reason", FinishReason(request));
            writer.WriteNumber("index", i);
            writer.WriteNull("logprobs");
            var text = GeneratedText.Tokens(i, 0, tokens);
            if (chat)
            {
                writer.WriteStartObject("message");
                writer.WriteString("content", text);
                writer.WriteNull("refusal");
                writer.WriteString("role", "assistant");
                writer.WriteEndObject();
            }
            else
            {
                writer.WriteString("text", text);
            }

            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        WriteHeader(writer, identity, chat ? "chat.completion" : "text_completion");
        WritePromptFilterResults(writer);
        WriteUsage(writer, request.PromptTokens, tokens * request.Choices);
        writer.WriteEndObject();
    }

    /// <summary>
    /// One chunk of a stream for one choice: the first carries the role (and the prompt filter results),
    /// the last the finish reason; <paramref name="text"/> is the delta.
    /// </summary>
    public static void WriteChunk(Utf8JsonWriter writer, ResponseIdentity identity, Operation operation, int choice, string text, bool first, string? finishReason)
    {
        var chat = operation == Operation.ChatCompletions;
        writer.WriteStartObject();
        writer.WriteStartArray("choices");
        writer.WriteStartObject();
        if (first)
        {
            writer.WriteStartObject("content_filter_results");
            writer.WriteEndObject();
        }
        else
        {
            WriteContentFilterResults(writer);
        }

        if (chat)
        {
            writer.WriteStartObject("delta");
            writer.WriteString("content", text);
            if (first)
            {
                writer.WriteString("role", "assistant");
            }

            writer.WriteEndObject();
        }
        else
        {
            writer.WriteString("text", text);
        }

        if (finishReason is null)
        {
            writer.WriteNull("finish_reason");
        }
        else
        {
            writer.WriteString("finish_reason", finishReason);
        }

        writer.WriteNumber("index", choice);
        writer.WriteNull("logprobs");
        writer.WriteEndObject();
        writer.WriteEndArray();
        WriteHeader(writer, identity, chat ? "chat.completion.chunk" : "text_completion");
        if (first)
        {
            WritePromptFilterResults(writer);
        }

        writer.WriteEndObject();
    }

    /// <summary>The extra chunk sent before <c>[DONE]</c> when <c>stream_options.include_usage</c> is true.</summary>
    public static void WriteUsageChunk(Utf8JsonWriter writer, ResponseIdentity identity, InferenceRequest request)
    {
        writer.WriteStartObject();
        writer.WriteStartArray("choices");
        writer.WriteEndArray();
        WriteHeader(writer, identity, request.Operation == Operation.ChatCompletions ? "chat.completion.chunk" : "text_completion");
        WriteUsage(writer, request.PromptTokens, request.CompletionTokens * request.Choices);
        writer.WriteEndObject();
    }

    /// <summary>Embeddings: a deterministic unit vector of <see cref="EmbeddingDimensions"/> floats per input.</summary>
    public static void WriteEmbeddings(Utf8JsonWriter writer, string model, InferenceRequest request, JsonElement body)
    {
        writer.WriteStartObject();
        writer.WriteStartArray("data");
        var input = body.GetProperty("input");
        var index = 0;
        if (input.ValueKind == JsonValueKind.Array && input.GetArrayLength() > 0 && input[0].ValueKind != JsonValueKind.Number)
        {
            foreach (var item in input.EnumerateArray())
            {
                WriteEmbedding(writer, index++, item.GetRawText());
            }
        }
        else
        {
            WriteEmbedding(writer, 0, input.GetRawText());
        }

        writer.WriteEndArray();
        writer.WriteString("model", model);
        writer.WriteString("object", "list");
        writer.WriteStartObject("usage");
        writer.WriteNumber("prompt_tokens", request.PromptTokens);
        writer.WriteNumber("total_tokens", request.PromptTokens);
        writer.WriteEndObject();
        writer.WriteEndObject();
    }

    internal const int EmbeddingDimensions = 8;

    public static string FinishReason(InferenceRequest request) => request.MaxTokens is null ? "stop" : "length";

    private static void WriteEmbedding(Utf8JsonWriter writer, int index, string text)
    {
        // FNV-1a of the input: the same text always gets the same vector, across processes.
        var hash = 2166136261u;
        foreach (var c in text)
        {
            hash = (hash ^ c) * 16777619u;
        }

        Span<float> vector = stackalloc float[EmbeddingDimensions];
        var norm = 0.0;
        for (var i = 0; i < vector.Length; i++)
        {
            hash = (hash ^ (uint)i) * 16777619u;
            vector[i] = ((hash % 2001) / 1000f) - 1f;
            norm += vector[i] * vector[i];
        }

        norm = Math.Sqrt(norm);
        writer.WriteStartObject();
        writer.WriteStartArray("embedding");
        foreach (var value in vector)
        {
            writer.WriteNumberValue(norm > 0 ? (float)(value / norm) : 0f);
        }

        writer.WriteEndArray();
        writer.WriteNumber("index", index);
        writer.WriteString("object", "embedding");
        writer.WriteEndObject();
    }

    private static void WriteHeader(Utf8JsonWriter writer, ResponseIdentity identity, string objectName)
    {
        writer.WriteNumber("created", identity.Created);
        writer.WriteString("id", identity.Id);
        writer.WriteString("model", identity.Model);
        writer.WriteString("object", objectName);
        writer.WriteString("system_fingerprint", "fp_simulator");
    }

    private static void WriteUsage(Utf8JsonWriter writer, int prompt, int completion)
    {
        writer.WriteStartObject("usage");
        writer.WriteNumber("completion_tokens", completion);
        writer.WriteNumber("prompt_tokens", prompt);
        writer.WriteNumber("total_tokens", prompt + completion);
        writer.WriteEndObject();
    }

    private static void WritePromptFilterResults(Utf8JsonWriter writer)
    {
        writer.WriteStartArray("prompt_filter_results");
        writer.WriteStartObject();
        writer.WriteNumber("prompt_index", 0);
        WriteContentFilterResults(writer);
        writer.WriteEndObject();
        writer.WriteEndArray();
    }

    private static void WriteContentFilterResults(Utf8JsonWriter writer)
    {
        writer.WriteStartObject("content_filter_results");
        foreach (var category in FilterCategories)
        {
            writer.WriteStartObject(category);
            writer.WriteBoolean("filtered", false);
            writer.WriteString("severity", "safe");
            writer.WriteEndObject();
        }

        writer.WriteEndObject();
    }
}
