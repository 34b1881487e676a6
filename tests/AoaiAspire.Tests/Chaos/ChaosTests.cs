using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AoaiAspire.Simulator;
using AoaiAspire.Tests.Common;
using AoaiAspire.Tests.Gateway;

namespace AoaiAspire.Tests.Chaos;

/// <summary>
/// Faults never lose or corrupt a response: the caller gets the complete answer or a clear error, never a
/// truncated body that looks whole, and never a 500 from the gateway itself. Bounded and on loopback.
/// </summary>
public sealed class ChaosTests
{
    private const string ChatPath = "/openai/deployments/chat/chat/completions?api-version=2024-10-21";

    [Fact]
    public async Task DropsErrorsAndHangsOnOneRegionAreAbsorbedAndEveryBodyIsComplete()
    {
        var flaky = Simulators.Account("flaky");
        flaky.Faults = new FaultOptions { DropRate = 0.3, ServerErrorRate = 0.2, ServiceUnavailableRate = 0.1, TimeoutRate = 0.1, TimeoutDuration = TimeSpan.FromSeconds(30) };
        await using var sims = await SimulatorHost.StartAsync([flaky, Simulators.Account("steady")]);
        var settings = Simulators.GatewaySettings(sims, 1, 2);
        // Long enough for the steady region on a busy two-core machine, short against the flaky one's 30 s hangs.
        settings["Gateway:Upstream:FirstByteTimeout"] = "00:00:03";
        settings["Gateway:CircuitBreaker:ConsecutiveFailures"] = "1000"; // keep the flaky region in play
        settings["Gateway:CircuitBreaker:MinimumThroughput"] = "100000";
        var logs = new LogCapture();
        await using var gateway = await GatewayTestHost.StartAsync(settings, logs: logs);

        using var inFlight = new SemaphoreSlim(16);
        var responses = await Task.WhenAll(Enumerable.Range(0, 120).Select(async i =>
        {
            await inFlight.WaitAsync();
            using var release = new Releaser(inFlight);
            using var response = await gateway.Client.PostAsync(ChatPath, GatewayRoutingTests.Chat(maxTokens: 5 + (i % 7)));
            var json = await response.Content.ReadFromJsonAsync<JsonElement>();
            return (response.StatusCode, Json: json, MaxTokens: 5 + (i % 7));
        }));

        Assert.True(responses.All(r => r.StatusCode == HttpStatusCode.OK), string.Join("\n", logs.Since(0, Microsoft.Extensions.Logging.LogLevel.Warning).Where(l => !l.Message.Contains("backend flaky", StringComparison.Ordinal)).Take(30).Select(l => l.ToString())));
        Assert.All(responses, r =>
        {
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            // Complete: the whole document parsed, with its usage and the promised number of tokens.
            Assert.Equal(r.MaxTokens, r.Json.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
            Assert.False(string.IsNullOrEmpty(r.Json.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()));
        });
        Assert.True(sims["flaky"].Stats.Failed > 10, "faults happened");
    }

    private sealed class Releaser(SemaphoreSlim semaphore) : IDisposable
    {
        public void Dispose() => semaphore.Release();
    }

    [Theory]
    [InlineData(Misbehaviour.CutJsonBody)]
    [InlineData(Misbehaviour.CutChunkedBody)]
    public async Task BackendDyingMidBodyEndsTheCallersResponseWithAnErrorNotATruncatedBody(Misbehaviour misbehaviour)
    {
        await using var backend = await MisbehavingBackend.StartAsync(misbehaviour);
        await using var gateway = await GatewayTestHost.StartAsync(GatewayTestHost.Backends(("dying", backend.Endpoint, "key", 1)));

        using var response = await gateway.Client.SendAsync(new HttpRequestMessage(HttpMethod.Post, ChatPath) { Content = GatewayRoutingTests.Chat() }, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var error = await Record.ExceptionAsync(() => response.Content.ReadAsStringAsync(TestDeadline.Token));
        Assert.True(error is IOException or HttpRequestException { InnerException: IOException }, $"expected a broken body, got {error?.GetType().Name ?? "a complete one"}");

        // The gateway is unharmed.
        using var next = await gateway.Client.GetAsync("/alive");
        Assert.Equal(HttpStatusCode.OK, next.StatusCode);
    }

    [Fact]
    public async Task BackendDyingMidStreamEndsTheCallersStreamWithAnErrorBeforeDone()
    {
        await using var backend = await MisbehavingBackend.StartAsync(Misbehaviour.CutStream);
        await using var gateway = await GatewayTestHost.StartAsync(GatewayTestHost.Backends(("dying", backend.Endpoint, "key", 1)));

        using var response = await gateway.Client.SendAsync(new HttpRequestMessage(HttpMethod.Post, ChatPath) { Content = GatewayRoutingTests.Chat(stream: true) }, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(TestDeadline.Token));
        var lines = new List<string>();
        var error = await Record.ExceptionAsync(async () =>
        {
            while (await reader.ReadLineAsync(TestDeadline.Token) is { } line)
            {
                lines.Add(line);
            }
        });
        Assert.IsAssignableFrom<IOException>(error);
        Assert.Contains(lines, l => l.StartsWith("data: {", StringComparison.Ordinal));
        Assert.DoesNotContain("data: [DONE]", lines);
    }

    [Fact]
    public async Task EveryRegionFailingGivesAClear503NeverA500()
    {
        var a = Simulators.Account("a");
        a.Faults = new FaultOptions { ServerErrorRate = 1 };
        var b = Simulators.Account("b");
        b.Faults = new FaultOptions { Down = true };
        await using var sims = await SimulatorHost.StartAsync([a, b]);
        await using var gateway = await GatewayTestHost.StartAsync(Simulators.GatewaySettings(sims, 1, 2));

        for (var i = 0; i < 10; i++)
        {
            using var response = await gateway.Client.PostAsync(ChatPath, GatewayRoutingTests.Chat());
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            var json = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal("ServiceUnavailable", json.GetProperty("error").GetProperty("code").GetString());
        }
    }
}
