namespace AoaiAspire.Simulator.Completions;

/// <summary>The inference operations the simulator answers.</summary>
internal enum Operation
{
    ChatCompletions,
    Completions,
    Embeddings,
}

internal static class OperationNames
{
    /// <summary>The operation id AOAI names in its 429 messages, e.g. <c>ChatCompletions_Create</c>.</summary>
    public static string OperationId(this Operation operation) => operation switch
    {
        Operation.ChatCompletions => "ChatCompletions_Create",
        Operation.Completions => "Completions_Create",
        _ => "Embeddings_Create",
    };

    /// <summary>The path segment(s) after the deployment, e.g. <c>chat/completions</c>.</summary>
    public static string Path(this Operation operation) => operation switch
    {
        Operation.ChatCompletions => "chat/completions",
        Operation.Completions => "completions",
        _ => "embeddings",
    };
}
