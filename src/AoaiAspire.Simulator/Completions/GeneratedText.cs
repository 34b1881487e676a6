namespace AoaiAspire.Simulator.Completions;

/// <summary>The "model output": plain words, one token each, the same for the same position.</summary>
internal static class GeneratedText
{
    private static readonly string[] Words =
    [
        "the", "gateway", "routes", "each", "request", "to", "a", "healthy", "region", "and",
        "tokens", "flow", "back", "as", "they", "are", "produced", "while", "quota", "remains",
        "simulated", "answers", "arrive", "quickly", "from", "azure", "openai", "deployments", "in", "order",
    ];

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
