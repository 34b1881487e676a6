using System.Text;

namespace AoaiAspire.Bench.LoadGeneration;

/// <summary>The one request a scenario sends, again and again: a small chat completion, streamed or not.</summary>
internal sealed class ChatRequest
{
    public const string Deployment = "chat";
    public const string ApiVersion = "2024-10-21";
    public const string Path = "openai/deployments/" + Deployment + "/chat/completions?api-version=" + ApiVersion;

    private ChatRequest(byte[] body, bool stream, int maxTokens, int promptTokens)
    {
        Body = body;
        Stream = stream;
        MaxTokens = maxTokens;
        PromptTokens = promptTokens;
    }

    public byte[] Body { get; }

    /// <summary>The caller's key (a consumer of the gateway); null sends <see cref="HttpSender.ApiKey"/>.</summary>
    public string? ApiKey { get; private init; }

    /// <summary>The same request (same body, not copied) sent with another caller's key.</summary>
    public ChatRequest WithApiKey(string apiKey) => new(Body, Stream, MaxTokens, PromptTokens) { ApiKey = apiKey };
    public bool Stream { get; }
    public int MaxTokens { get; }

    /// <summary>Prompt tokens as the simulator counts them (3 per reply + 4 per message + the text's real o200k tokens).</summary>
    public int PromptTokens { get; }

    /// <summary>Tokens one successful call uses: what the deployment charges and what <c>usage.total_tokens</c> reports.</summary>
    public int TokensPerCall => PromptTokens + MaxTokens;

    public static ChatRequest Create(int maxTokens, bool stream = false, string prompt = "Say hello to the benchmark.")
    {
        var streamPart = stream ? ",\"stream\":true,\"stream_options\":{\"include_usage\":true}" : "";
        var json = $"{{\"messages\":[{{\"role\":\"user\",\"content\":\"{prompt}\"}}],\"max_tokens\":{maxTokens}{streamPart}}}";
        return new ChatRequest(Encoding.UTF8.GetBytes(json), stream, maxTokens, 3 + 4 + AoaiAspire.Simulator.Completions.TokenCount.Of(prompt));
    }
}
