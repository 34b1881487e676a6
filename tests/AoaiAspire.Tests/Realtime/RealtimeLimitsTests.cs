using System.Net;
using System.Net.WebSockets;
using System.Text;
using AoaiAspire.Gateway.Realtime;
using AoaiAspire.Simulator;
using AoaiAspire.Tests.Common;
using Microsoft.Extensions.DependencyInjection;

namespace AoaiAspire.Tests.Realtime;

/// <summary>The replica's session limit, the options' validation and the usage reader.</summary>
public sealed class RealtimeLimitsTests
{
    [Fact]
    public async Task SessionOverTheLimitIsA429BeforeTheUpgradeAndTheSlotIsFreedOnClose()
    {
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("lim")]);
        var settings = Simulators.GatewaySettings(sims);
        settings["Gateway:Realtime:MaxConcurrentSessions"] = "1";
        await using var gateway = await GatewayTestHost.StartAsync(settings);
        var uri = new Uri($"ws://127.0.0.1:{gateway.Address.Port}/openai/v1/realtime?model=chat");

        using var first = new ClientWebSocket();
        await first.ConnectAsync(uri, TestDeadline.Token);

        using (var second = new ClientWebSocket())
        {
            second.Options.CollectHttpResponseDetails = true;
            await Assert.ThrowsAsync<WebSocketException>(() => second.ConnectAsync(uri, TestDeadline.Token));
            Assert.Equal(HttpStatusCode.TooManyRequests, second.HttpStatusCode);
        }
        var refused = await RealtimeGatewayTests.RawUpgradeAsync(gateway.Address, "/openai/v1/realtime?model=chat", []);
        Assert.Equal(429, refused.Status);
        Assert.Equal("429", RealtimeGatewayTests.ErrorCode(refused));
        Assert.Contains("Gateway:Realtime:MaxConcurrentSessions", refused.BodyText, StringComparison.Ordinal);
        Assert.Equal(1, sims["lim"].Realtime.Sessions);

        await first.CloseAsync(WebSocketCloseStatus.NormalClosure, null, TestDeadline.Token);
        var limit = gateway.Services.GetRequiredService<RealtimeSessionLimit>();
        await Wait.UntilAsync(() => limit.Open == 0, because: "the closed session's slot is released");
        using var third = new ClientWebSocket();
        await third.ConnectAsync(uri, TestDeadline.Token);
        Assert.Equal(WebSocketState.Open, third.State);
    }

    [Fact]
    public async Task ZeroSessionsTurnsRealtimeOff()
    {
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("off")]);
        var settings = Simulators.GatewaySettings(sims);
        settings["Gateway:Realtime:MaxConcurrentSessions"] = "0";
        await using var gateway = await GatewayTestHost.StartAsync(settings);
        var refused = await RealtimeGatewayTests.RawUpgradeAsync(gateway.Address, "/openai/v1/realtime?model=chat", []);
        Assert.Equal(404, refused.Status);
        Assert.Contains("MaxConcurrentSessions", refused.BodyText, StringComparison.Ordinal);
        Assert.Equal(0, sims["off"].Stats.Requests);
    }

    [Fact]
    public void InvalidOptionsNameTheKey()
    {
        var result = new RealtimeOptionsValidator().Validate(null, new RealtimeOptions { ConnectTimeout = TimeSpan.Zero, KeepAliveInterval = TimeSpan.FromSeconds(-1) });
        Assert.True(result.Failed);
        Assert.Contains("Gateway:Realtime:ConnectTimeout", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("Gateway:Realtime:KeepAliveInterval", result.FailureMessage, StringComparison.Ordinal);
        Assert.Equal(0, RealtimeServiceCollectionExtensions.KestrelUpgradeLimit(0));
        Assert.True(RealtimeServiceCollectionExtensions.KestrelUpgradeLimit(100) > 100);
    }

    [Theory]
    [InlineData("""{"type":"response.done","event_id":"e1","response":{"id":"r","output":[{"content":[{"text":"usage"}]}],"usage":{"total_tokens":30,"input_tokens":20,"output_tokens":10,"input_token_details":{"cached_tokens":4}}}}""", true, 20, 10)]
    [InlineData("""{"event_id":"e1","response":{"usage":{"input_tokens":7,"output_tokens":3}},"type":"response.done"}""", true, 7, 3)]
    [InlineData("""{"type":"response.output_text.delta","delta":"\"response.done\"","usage":{"input_tokens":7}}""", false, 0, 0)]
    [InlineData("""{"type":"response.done","response":{"status":"cancelled","usage":null}}""", false, 0, 0)]
    [InlineData("""{"type":"response.done","response":{"usage":{"input_tokens":"x"}""", false, 0, 0)]
    public void ResponseDoneUsageIsRead(string json, bool found, long input, long output)
    {
        Assert.Equal(found, RealtimeUsage.TryRead(Encoding.UTF8.GetBytes(json), out var usage));
        Assert.Equal((input, output), (usage.PromptTokens, usage.CompletionTokens));
    }
}
