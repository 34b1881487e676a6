namespace AoaiAspire.Simulator;

/// <summary>What an account serves when the configuration names nothing.</summary>
internal static class SimulatorDefaults
{
    public const string AccountName = "sim";

    /// <summary><c>chat</c> (gpt-4o-mini) and <c>embeddings</c> (text-embedding-3-small), 30,000 TPM each.</summary>
    public static Dictionary<string, SimulatedDeploymentOptions> Deployments() => new(StringComparer.OrdinalIgnoreCase)
    {
        ["chat"] = new() { Model = "gpt-4o-mini" },
        ["embeddings"] = new() { Model = "text-embedding-3-small", Kind = DeploymentKind.Embeddings },
    };

    public static SimulatedAccountOptions Account() => new() { Name = AccountName, Deployments = Deployments() };
}
