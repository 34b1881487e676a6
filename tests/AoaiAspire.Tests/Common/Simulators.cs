using AoaiAspire.Simulator;

namespace AoaiAspire.Tests.Common;

/// <summary>Simulated regions for integration tests: instant by default, one upstream key each.</summary>
internal static class Simulators
{
    public static SimulatedAccountOptions Account(string name, double latencyScale = 0, int tokensPerMinute = 1_000_000, int? requestsPerMinute = 100_000) => new()
    {
        Name = name,
        Region = name,
        ApiKey = "upstream-key-" + name,
        LatencyScale = latencyScale,
        Seed = 7,
        Deployments =
        {
            ["chat"] = new SimulatedDeploymentOptions { TokensPerMinute = tokensPerMinute, RequestsPerMinute = requestsPerMinute },
            ["embeddings"] = new SimulatedDeploymentOptions { Model = "text-embedding-3-small", Kind = DeploymentKind.Embeddings, TokensPerMinute = tokensPerMinute, RequestsPerMinute = requestsPerMinute },
        },
    };

    /// <summary>Gateway settings for the given accounts with priorities.</summary>
    public static Dictionary<string, string?> GatewaySettings(SimulatorHost host, params int[] priorities)
        => GatewayTestHost.Backends([.. host.Accounts.Select((a, i) => (a.Name, a.Endpoint, a.Options.ApiKey, priorities.Length > i ? priorities[i] : 1))]);
}
