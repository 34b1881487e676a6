using Microsoft.ML.Tokenizers;

namespace AoaiAspire.Backends.Tokens;

/// <summary>
/// Real token counts with the o200k_base tiktoken vocabulary of the gpt-4o family (Microsoft.ML.Tokenizers; the
/// vocabulary ships in its data package, nothing is downloaded). The one counter of the gateway (streams whose caller
/// refused usage) and the simulator (the usage it reports).
/// </summary>
internal static class O200kTokens
{
    /// <summary>Longer texts are counted in slices (cut after a space when there is one): BPE on one huge word is quadratic.</summary>
    private const int SliceLength = 4096;

    private static readonly TiktokenTokenizer Tokenizer = TiktokenTokenizer.CreateForModel("gpt-4o");

    /// <summary>Tokens of <paramref name="text"/>.</summary>
    public static int Count(ReadOnlySpan<char> text)
    {
        var tokens = 0;
        while (text.Length > SliceLength)
        {
            var cut = text[..SliceLength].LastIndexOf(' ');
            cut = cut > 0 ? cut : SliceLength;
            tokens += Tokenizer.CountTokens(text[..cut]);
            text = text[cut..];
        }
        return tokens + (text.IsEmpty ? 0 : Tokenizer.CountTokens(text));
    }
}
