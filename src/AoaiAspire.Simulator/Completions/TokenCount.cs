using Microsoft.ML.Tokenizers;

namespace AoaiAspire.Simulator.Completions;

/// <summary>
/// Real token counts: the o200k_base tiktoken vocabulary of the gpt-4o family (Microsoft.ML.Tokenizers, data
/// shipped in its package, no download), so that the simulator's <c>usage</c> means what Azure OpenAI's does.
/// </summary>
internal static class TokenCount
{
    private static readonly TiktokenTokenizer Tokenizer = TiktokenTokenizer.CreateForModel("gpt-4o");

    /// <summary>Tokens of <paramref name="text"/> as the model counts them.</summary>
    public static int Of(string text) => text.Length == 0 ? 0 : Tokenizer.CountTokens(text);
}
