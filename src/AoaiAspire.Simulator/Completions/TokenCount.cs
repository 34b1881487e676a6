using AoaiAspire.Backends.Tokens;

namespace AoaiAspire.Simulator.Completions;

/// <summary>
/// Real token counts (<see cref="O200kTokens"/>, the o200k_base vocabulary of the gpt-4o family), so that the
/// simulator's <c>usage</c> means what Azure OpenAI's does.
/// </summary>
internal static class TokenCount
{
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

    private static int Sliced(ReadOnlySpan<char> text) => O200kTokens.Count(text);
}
