using AoaiAspire.Gateway.Forwarding;

namespace AoaiAspire.Gateway.Tokens;

/// <summary>
/// Estimates a request's token charge the way Azure OpenAI's rate limiter does before it has run the
/// model: prompt size plus <c>max_tokens</c>, times <c>n</c>. The prompt is counted as UTF-8 bytes / 4 (about
/// 4 characters a token for English) plus a few tokens of framing per message: a real count
/// (<see cref="TokenCounter"/>) measured about ten times as costly per request (README "Tokens"). The real
/// <c>usage</c> corrects it afterwards (quotas, capacity).
/// </summary>
internal static class TokenEstimator
{
    /// <summary>Framing tokens per chat message (role, separators), as OpenAI's counting guide gives.</summary>
    public const int TokensPerMessage = 4;

    /// <summary>Prompt tokens of the request (the part <c>usage.prompt_tokens</c> reports).</summary>
    public static long PromptTokens(in RequestInfo info)
        => ((info.PromptBytes + 3) / 4) + (info.PromptItems * (long)TokensPerMessage) + 3;

    /// <summary>
    /// The charge: prompt plus the completion budget (<c>max_tokens</c>, or <paramref name="defaultCompletionTokens"/>
    /// when the caller sets none) for each of the <c>n</c> choices; embeddings are prompt only.
    /// </summary>
    public static long Estimate(in RequestInfo info, bool embeddings, int defaultCompletionTokens)
    {
        var prompt = embeddings ? (info.PromptBytes + 3) / 4 : PromptTokens(info);
        return embeddings ? Math.Max(1, prompt) : prompt + ((long)(info.MaxTokens ?? defaultCompletionTokens) * Math.Max(1, info.Choices));
    }
}
