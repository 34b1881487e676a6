namespace AoaiAspire.Simulator.Completions;

/// <summary>The "model output": plain words, one token each, the same for the same position.</summary>
internal static class GeneratedText
{
    // Only words that are one o200k token with and without their leading space are kept (InferenceRequestTests
    // checks), so that the text of max_tokens words is exactly max_tokens tokens, as usage reports.
    private static readonly string[] Words = new[]
    {
        "the", "system", "each", "request", "to", "a", "good", "region", "and", "tokens",
        "flow", "back", "as", "they", "are", "made", "while", "time", "is", "short",
        "answers", "come", "fast", "from", "many", "cloud", "servers", "in", "order", "sends",
        "of", "for", "with", "that", "this", "on", "at", "by", "it", "be",
        "more", "new", "one", "all", "can", "will", "data", "model", "text", "when",
    }.Where(w => TokenCount.Of(w) == 1 && TokenCount.Of(" " + w) == 1).ToArray();

    /// <summary>Tokens <paramref name="start"/> to <paramref name="start"/> + <paramref name="count"/> of choice <paramref name="choice"/>, each with a leading space but the first.</summary>
    public static string Tokens(int choice, int start, int count)
    {
        var builder = new System.Text.StringBuilder(count * 8);
        for (var i = start; i < start + count; i++)
        {
            if (i > 0)
            {
                builder.Append(' ');
            }

            builder.Append(Words[(i + (choice * 7)) % Words.Length]);
        }

        return builder.ToString();
    }
}
