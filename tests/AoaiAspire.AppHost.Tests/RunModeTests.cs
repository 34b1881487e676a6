using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using AoaiAspire.AppHost.Tests.Common;

namespace AoaiAspire.AppHost.Tests;

/// <summary>The composed app really running: simulated regions behind two gateway replicas, Redis, the probe.</summary>
public sealed class RunModeTests(RunningAppFixture fixture) : IClassFixture<RunningAppFixture>
{
    private const string ChatPath = "/openai/deployments/chat/chat/completions?api-version=2024-10-21";
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task GatewayAnswersAChatCompletionForTheCallerKey()
    {
        using var gateway = fixture.App.CreateHttpClient("gateway", "http");

        using var response = await PostChatAsync(gateway, RunningAppFixture.CallerKey);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.NotEmpty(body.RootElement.GetProperty("choices").EnumerateArray());
    }

    [Fact]
    public async Task GatewayRejectsAnUnknownCallerKey()
    {
        using var gateway = fixture.App.CreateHttpClient("gateway", "http");

        using var response = await PostChatAsync(gateway, "not-a-key");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task RedisConnectionStringIsExposedAndRedisAnswers()
    {
        await fixture.App.ResourceNotifications.WaitForResourceHealthyAsync("redis").WaitAsync(RunningAppFixture.StartTimeout);

        var connectionString = await fixture.App.GetConnectionStringAsync("redis");

        Assert.NotNull(connectionString);
        Assert.NotEmpty(connectionString);
        Assert.Equal("+PONG", await PingRedisAsync(connectionString));
    }

    [Fact]
    public async Task ThrottledRegionStopsReceivingTrafficWhileTheGatewayKeepsAnswering()
    {
        using var gateway = fixture.App.CreateHttpClient("gateway", "http");
        using var eastus = fixture.App.CreateHttpClient("sim-eastus", "http");
        using var eastus2 = fixture.App.CreateHttpClient("sim-eastus2", "http");
        using var canadaeast = fixture.App.CreateHttpClient("sim-canadaeast", "http");

        await SetFaultsAsync(eastus, """{"ForceThrottle":"00:00:30"}""");
        try
        {
            // Let every gateway replica meet eastus's 429 (or hear of it through Redis) before counting:
            // eastus and eastus2 share priority 1, so 20 requests reach eastus from each replica all but surely.
            await SendChatsAsync(gateway, 20);
            var eastusBefore = await RequestCountAsync(eastus);
            var othersBefore = await RequestCountAsync(eastus2) + await RequestCountAsync(canadaeast);

            await SendChatsAsync(gateway, 20);

            Assert.Equal(eastusBefore, await RequestCountAsync(eastus));
            Assert.True(await RequestCountAsync(eastus2) + await RequestCountAsync(canadaeast) >= othersBefore + 20,
                "the other regions should have served every request");
        }
        finally
        {
            await SetFaultsAsync(eastus, "{}");
        }
    }

    private static async Task<HttpResponseMessage> PostChatAsync(HttpClient gateway, string callerKey)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, ChatPath)
        {
            Content = new StringContent(
                """{"messages":[{"role":"user","content":"Say hello."}],"max_tokens":16}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("api-key", callerKey);
        return await gateway.SendAsync(request).WaitAsync(RequestTimeout);
    }

    private static async Task SendChatsAsync(HttpClient gateway, int count)
    {
        for (var i = 0; i < count; i++)
        {
            using var response = await PostChatAsync(gateway, RunningAppFixture.CallerKey);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
    }

    private static async Task SetFaultsAsync(HttpClient simulator, string faultsJson)
    {
        using var content = new StringContent(faultsJson, Encoding.UTF8, "application/json");
        using var response = await simulator.PutAsync("/admin/faults", content).WaitAsync(RequestTimeout);
        response.EnsureSuccessStatusCode();
    }

    /// <summary>Sum of the "requests" counters in GET /admin/stats, wherever the simulator nests them.</summary>
    private static async Task<long> RequestCountAsync(HttpClient simulator)
    {
        using var stats = JsonDocument.Parse(await simulator.GetStringAsync("/admin/stats").WaitAsync(RequestTimeout));
        return SumRequests(stats.RootElement);

        static long SumRequests(JsonElement element) => element.ValueKind switch
        {
            JsonValueKind.Object => element.EnumerateObject().Sum(p =>
                string.Equals(p.Name, "requests", StringComparison.OrdinalIgnoreCase) && p.Value.ValueKind == JsonValueKind.Number
                    ? p.Value.GetInt64()
                    : SumRequests(p.Value)),
            JsonValueKind.Array => element.EnumerateArray().Sum(SumRequests),
            _ => 0,
        };
    }

    /// <summary>AUTH (when the connection string has a password) and PING over RESP; returns the PING reply line.</summary>
    private static async Task<string> PingRedisAsync(string connectionString)
    {
        var parts = connectionString.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var hostAndPort = parts[0];
        var colon = hostAndPort.LastIndexOf(':');
        var host = hostAndPort[..colon];
        var port = int.Parse(hostAndPort[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        var password = parts.Skip(1)
            .Where(p => p.StartsWith("password=", StringComparison.OrdinalIgnoreCase))
            .Select(p => p["password=".Length..])
            .FirstOrDefault();

        using var tcp = new TcpClient();
        await tcp.ConnectAsync(host, port).WaitAsync(RequestTimeout);
        await using var stream = tcp.GetStream();
        var commands = new StringBuilder();
        if (!string.IsNullOrEmpty(password))
        {
            commands.Append(Resp("AUTH", password));
        }

        commands.Append(Resp("PING"));
        await stream.WriteAsync(Encoding.UTF8.GetBytes(commands.ToString()));

        var expectedLines = string.IsNullOrEmpty(password) ? 1 : 2;
        var received = new StringBuilder();
        var buffer = new byte[256];
        while (received.ToString().Split("\r\n", StringSplitOptions.RemoveEmptyEntries).Length < expectedLines)
        {
            var read = await stream.ReadAsync(buffer).AsTask().WaitAsync(RequestTimeout);
            if (read == 0)
            {
                break;
            }

            received.Append(Encoding.UTF8.GetString(buffer, 0, read));
        }

        return received.ToString().Split("\r\n", StringSplitOptions.RemoveEmptyEntries)[^1];

        static string Resp(params string[] words)
        {
            var command = new StringBuilder().Append('*').Append(words.Length).Append("\r\n");
            foreach (var word in words)
            {
                command.Append('$').Append(Encoding.UTF8.GetByteCount(word)).Append("\r\n").Append(word).Append("\r\n");
            }

            return command.ToString();
        }
    }
}
