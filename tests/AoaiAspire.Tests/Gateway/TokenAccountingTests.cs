using System.Net;
using System.Text;
using System.Text.Json;
using AoaiAspire.Gateway.Tokens;
using AoaiAspire.Simulator;
using AoaiAspire.Tests.Common;
using Microsoft.Extensions.DependencyInjection;

namespace AoaiAspire.Tests.Gateway;

/// <summary>Usage read from responses and streams, and routing that spends capacity before it runs out.</summary>
public sealed class TokenAccountingTests
{
    private const string ChatPath = "/openai/deployments/chat/chat/completions?api-version=2024-10-21";

    private static StringContent StreamingChat(bool? includeUsage)
    {
        var body = new Dictionary<string, object?>
        {
            ["messages"] = new[] { new { role = "user", content = "Count my tokens, please." } },
            ["max_tokens"] = 12,
            ["stream"] = true,
        };
        if (includeUsage is { } value)
        {
            body["stream_options"] = new { include_usage = value };
        }
        return new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");
    }

    private static async Task<List<string>> ReadEventsAsync(HttpResponseMessage response)
    {
        var events = new List<string>();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(TestDeadline.Token));
        while (await reader.ReadLineAsync(TestDeadline.Token) is { } line)
        {
            if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                events.Add(line[6..]);
            }
        }
        return events;
    }

    [Fact]
    public async Task StreamingCallerThatDidNotAskForUsageGetsNoUsageChunkWhileTheGatewayCountsTheTokens()
    {
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("a")]);
        await using var gateway = await GatewayTestHost.StartAsync(Simulators.GatewaySettings(sims));

        using var response = await gateway.Client.PostAsync(ChatPath, StreamingChat(includeUsage: null));
        var events = await ReadEventsAsync(response);

        Assert.Equal("[DONE]", events[^1]);
        Assert.DoesNotContain(events, e => e.Contains("\"prompt_tokens\"", StringComparison.Ordinal));
        Assert.All(events.SkipLast(1), e => Assert.NotEqual(0, JsonDocument.Parse(e).RootElement.GetProperty("choices").GetArrayLength()));

        var ledger = gateway.Services.GetRequiredService<UsageLedger>();
        var (prompt, completion) = ledger.Totals(k => k.Backend == "a" && k.Deployment == "chat");
        Assert.Equal(sims["a"].Stats.PromptTokens, prompt);
        Assert.Equal(sims["a"].Stats.CompletionTokens, completion);
        Assert.Equal(12, completion);
        Assert.Equal(0, ledger.Snapshot().Sum(kv => kv.Value.EstimatedOnly));
    }

    [Fact]
    public async Task StreamingCallerThatRefusedUsageIsRecordedWithTheRealCountOfTheStreamedText()
    {
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("a")]);
        await using var gateway = await GatewayTestHost.StartAsync(Simulators.GatewaySettings(sims));

        using var response = await gateway.Client.PostAsync(ChatPath, StreamingChat(includeUsage: false));
        var events = await ReadEventsAsync(response);

        Assert.DoesNotContain(events, e => e.Contains("\"prompt_tokens\"", StringComparison.Ordinal));
        var text = string.Concat(events.SkipLast(1)
            .Select(e => JsonDocument.Parse(e).RootElement.GetProperty("choices")[0].GetProperty("delta"))
            .Select(d => d.TryGetProperty("content", out var c) ? c.GetString() : ""));
        var ledger = gateway.Services.GetRequiredService<UsageLedger>();
        var (prompt, completion) = ledger.Totals(k => k.Backend == "a" && k.Deployment == "chat");
        Assert.Equal(TokenCounter.Count(text), completion);
        Assert.NotEqual((text.Length + 3) / 4, completion); // what a characters/4 count would have recorded
        Assert.Equal(sims["a"].Stats.PromptTokens, prompt); // the simulator counts the prompt with the same tokenizer
        Assert.Equal(0, ledger.Snapshot().Sum(kv => kv.Value.EstimatedOnly));
    }

    [Fact]
    public async Task StreamingCallerThatAskedForUsageGetsItUnchanged()
    {
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("a")]);
        await using var gateway = await GatewayTestHost.StartAsync(Simulators.GatewaySettings(sims));

        using var response = await gateway.Client.PostAsync(ChatPath, StreamingChat(includeUsage: true));
        var events = await ReadEventsAsync(response);

        var usageChunk = JsonDocument.Parse(events[^2]).RootElement;
        Assert.Equal(0, usageChunk.GetProperty("choices").GetArrayLength());
        Assert.Equal(12, usageChunk.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Equal(12, gateway.Services.GetRequiredService<UsageLedger>().Totals(_ => true).Completion);
    }

    [Fact]
    public async Task NonStreamingUsageIsRecordedPerBackendDeploymentAndConsumer()
    {
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("a")]);
        await using var gateway = await GatewayTestHost.StartAsync(Simulators.GatewaySettings(sims));
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await gateway.Client.PostAsync(ChatPath, GatewayRoutingTests.Chat(maxTokens: 7))).StatusCode);
        }
        var ledger = gateway.Services.GetRequiredService<UsageLedger>();
        var entry = Assert.Single(ledger.Snapshot());
        Assert.Equal(new UsageLedger.UsageKey("a", "chat", "anonymous"), entry.Key);
        Assert.Equal(3, entry.Value.Requests);
        Assert.Equal(21, entry.Value.CompletionTokens);
        Assert.Equal(sims["a"].Stats.PromptTokens, entry.Value.PromptTokens);
    }

    private static async Task<long> UpstreamThrottlesAsync(string policy)
    {
        // Two small pay-as-you-go-like deployments in group 1, a large one in group 2.
        await using var sims = await SimulatorHost.StartAsync([
            Simulators.Account("p1", tokensPerMinute: 3_000), Simulators.Account("p2", tokensPerMinute: 3_000), Simulators.Account("big")]);
        var settings = Simulators.GatewaySettings(sims, 1, 1, 2);
        settings["Gateway:Routing:Policy"] = policy;
        await using var gateway = await GatewayTestHost.StartAsync(settings);
        for (var i = 0; i < 30; i++)
        {
            var response = await gateway.Client.PostAsync(ChatPath, GatewayRoutingTests.Chat(maxTokens: 400));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        Assert.True(sims["big"].Stats.Succeeded > 0, "the scenario overflows group 1");
        return sims.Accounts.Sum(a => a.Stats.Throttled);
    }

    [Fact]
    public async Task CapacityPolicyProducesFewerUpstream429sThanPriorityPolicy()
    {
        var priority = await UpstreamThrottlesAsync("priority");
        var capacity = await UpstreamThrottlesAsync("capacity");
        Assert.True(priority >= 2, $"the priority policy learns of exhaustion from 429s ({priority})");
        Assert.True(capacity < priority, $"capacity {capacity} < priority {priority}");
    }
}
