using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using AoaiAspire.Simulator;
using AoaiAspire.Tests.Common;

namespace AoaiAspire.Tests.Status;

/// <summary>Settings and calls shared by the status tests.</summary>
internal static class StatusTestKit
{
    public const string AdminKey = "admin-key-for-status-tests";
    public const string ChatPath = "/openai/deployments/chat/chat/completions?api-version=2024-10-21";
    public static readonly (string Name, string Key)[] Consumers = [("web-app", "consumer-key-web-app"), ("batch-jobs", "consumer-key-batch-jobs")];

    /// <summary>Backends in front of <paramref name="sims"/>, two consumers with keys, and the admin key unless told otherwise.</summary>
    public static Dictionary<string, string?> Settings(SimulatorHost sims, int[] priorities, string? adminKey = AdminKey)
    {
        var settings = Simulators.GatewaySettings(sims, priorities);
        settings.Remove("Gateway:AllowAnonymous");
        foreach (var (name, key) in Consumers)
        {
            settings[$"Gateway:Consumers:{name}:Keys:0"] = key;
        }
        if (adminKey is not null)
        {
            settings["Gateway:AdminKey"] = adminKey;
        }
        return settings;
    }

    /// <summary>Every secret the configuration holds: upstream keys, consumer keys and the admin key.</summary>
    public static IEnumerable<string> Secrets(SimulatorHost sims)
        => sims.Accounts.Select(a => a.Options.ApiKey!).Concat(Consumers.Select(c => c.Key)).Append(AdminKey);

    public static HttpRequestMessage Chat(string consumerKey, int maxTokens = 5)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, ChatPath)
        {
            Content = new StringContent(JsonSerializer.Serialize(new
            {
                messages = new[] { new { role = "user", content = "Say hello to the status page." } },
                max_tokens = maxTokens,
            }), Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("api-key", consumerKey);
        return request;
    }

    public static async Task<HttpResponseMessage> GetAdminAsync(HttpClient client, string path, string? key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (key is not null)
        {
            request.Headers.Add("api-key", key);
        }
        return await client.SendAsync(request);
    }

    public static async Task<JsonElement> BackendsAsync(HttpClient client)
    {
        using var response = await GetAdminAsync(client, "/admin/backends", AdminKey);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    public static JsonElement Backend(JsonElement report, string name)
        => report.GetProperty("backends").EnumerateArray().Single(b => b.GetProperty("name").GetString() == name);
}
