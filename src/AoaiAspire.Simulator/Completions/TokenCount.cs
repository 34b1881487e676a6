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
    /// <remarks>
    /// Texts longer than <see cref="MaxCountedLength"/> characters (the bad-input tests send megabytes) are counted
    /// on their first <see cref="MaxCountedLength"/> characters and scaled by length: a simulator must not spend
    /// seconds of CPU on one request.
    /// </remarks>
    public static int Of(string text) => text.Length <= MaxCountedLength
        ? Sliced(text)
        : (int)Math.Min(int.MaxValue, (long)Sliced(text.AsSpan(0, MaxCountedLength)) * text.Length / MaxCountedLength);

    /// <summary>The longest text counted in full.</summary>
    private const int MaxCountedLength = 64 * 1024;

    /// <summary>Longer texts are counted in slices (cut after a space when there is one): BPE on one huge word is quadratic.</summary>
    private const int SliceLength = 4096;

    private static int Sliced(ReadOnlySpan<char> text)
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
