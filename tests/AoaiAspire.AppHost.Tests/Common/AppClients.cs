using System.ClientModel;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;

namespace AoaiAspire.AppHost.Tests.Common;

/// <summary>Calls into the running app: the gateway through the OpenAI SDK, each replica and simulator over HTTP.</summary>
internal static class AppClients
{
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(30);

    public static ChatClient Chat(Uri gateway, string key = RunningAppFixture.CallerKey)
        => new("chat", new ApiKeyCredential(key), new OpenAIClientOptions
        {
            Endpoint = new Uri(gateway, "/openai/v1/"),
            NetworkTimeout = RequestTimeout,
            RetryPolicy = new System.ClientModel.Primitives.ClientRetryPolicy(maxRetries: 0),
        });

    public static async Task<HttpResponseMessage> PostChatAsync(HttpClient gateway, string key = RunningAppFixture.CallerKey, TimeSpan? timeout = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/openai/deployments/chat/chat/completions?api-version=2024-10-21")
        {
            Content = new StringContent("""{"messages":[{"role":"user","content":"Say hello."}],"max_tokens":16}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("api-key", key);
        return await gateway.SendAsync(request).WaitAsync(timeout ?? RequestTimeout);
    }

    /// <summary>GET /admin/backends of one replica (admin key): the backends as that replica sees them.</summary>
    public static async Task<Dictionary<string, JsonElement>> BackendsAsync(HttpClient replica)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/admin/backends");
        request.Headers.Add("api-key", RunningAppFixture.AdminKey);
        using var response = await replica.SendAsync(request).WaitAsync(RequestTimeout);
        response.EnsureSuccessStatusCode();
        using var report = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return report.RootElement.GetProperty("backends").EnumerateArray()
            .ToDictionary(b => b.GetProperty("name").GetString()!, b => b.Clone(), StringComparer.Ordinal);
    }

    public static async Task SetFaultsAsync(HttpClient simulator, string faultsJson)
    {
        using var content = new StringContent(faultsJson, Encoding.UTF8, "application/json");
        using var response = await simulator.PutAsync("/admin/faults", content).WaitAsync(RequestTimeout);
        response.EnsureSuccessStatusCode();
    }

    /// <summary>
    /// A simulator's own counters for its <c>chat</c> deployment (GET /admin/stats): what callers' chat calls did there.
    /// The probe's model-list calls count only at account level, so they do not show here.
    /// </summary>
    public static async Task<(long Requests, long Throttled)> SimulatorCountsAsync(HttpClient simulator)
    {
        using var stats = JsonDocument.Parse(await simulator.GetStringAsync("/admin/stats").WaitAsync(RequestTimeout));
        var chat = stats.RootElement.GetProperty("deployments").GetProperty("chat");
        return (chat.GetProperty("requests").GetInt64(), chat.GetProperty("throttled").GetInt64());
    }
}
