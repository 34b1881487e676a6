using System.Net.Http.Headers;
using System.Text;
using AoaiAspire.Simulator;

namespace AoaiAspire.Tests.Simulator;

/// <summary>Accounts and requests the simulator tests share: no latency, a fixed seed, a key.</summary>
internal static class SimulatorTestAccounts
{
    public const string ApiKey = "test-key";
    public const string ChatPath = "openai/deployments/chat/chat/completions?api-version=2024-10-21";
    public const string EmbeddingsPath = "openai/deployments/embeddings/embeddings?api-version=2024-10-21";
    public const string SimpleChat = """{"messages":[{"role":"user","content":"Say hello to the gateway."}],"max_tokens":5}""";

    public static SimulatedAccountOptions Account(string name = "test", Action<SimulatedAccountOptions>? configure = null)
    {
        var account = new SimulatedAccountOptions
        {
            Name = name,
            Region = name,
            ApiKey = ApiKey,
            LatencyScale = 0,
            Seed = 42,
            Deployments =
            {
                ["chat"] = new SimulatedDeploymentOptions { Model = "gpt-4o-mini", TokensPerMinute = 100_000, RequestsPerMinute = 6_000 },
                ["embeddings"] = new SimulatedDeploymentOptions { Model = "text-embedding-3-small", Kind = DeploymentKind.Embeddings, TokensPerMinute = 100_000 },
            },
        };
        configure?.Invoke(account);
        return account;
    }

    public static async Task<(SimulatorHost Host, HttpClient Client)> StartAsync(Action<SimulatedAccountOptions>? configure = null, TimeProvider? time = null)
    {
        var host = await SimulatorHost.StartAsync([Account(configure: configure)], timeProvider: time);
        var client = new HttpClient { BaseAddress = host.Accounts[0].Endpoint };
        return (host, client);
    }

    public static HttpRequestMessage Post(string path, string json, string? apiKey = ApiKey)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        if (apiKey is not null)
        {
            request.Headers.Add("api-key", apiKey);
        }

        return request;
    }

    public static HttpRequestMessage PostBearer(string path, string json, string token)
    {
        var request = Post(path, json, apiKey: null);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return request;
    }

    public static string Header(this HttpResponseMessage response, string name)
        => response.Headers.TryGetValues(name, out var values) ? string.Join(",", values) : "";
}
