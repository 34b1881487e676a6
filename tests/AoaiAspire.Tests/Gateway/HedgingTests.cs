using System.Net;
using System.Text.Json;
using AoaiAspire.Gateway.Configuration;
using AoaiAspire.Gateway.Hedging;
using AoaiAspire.Simulator;
using AoaiAspire.Tests.Common;
using AoaiAspire.Tests.Status;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace AoaiAspire.Tests.Gateway;

/// <summary>
/// Hedged first bytes over real sockets on loopback: a stream whose first backend has not produced a byte after the
/// hedge delay also goes to a second backend; the first byte wins, the other attempt is cancelled at once.
/// </summary>
public sealed class HedgingTests
{
    private const string ChatPath = "/openai/deployments/chat/chat/completions?api-version=2024-10-21";

    private static Dictionary<string, string?> Settings(SimulatorHost sims, double maxShare = 1)
    {
        var settings = Simulators.GatewaySettings(sims, 1, 2); // "slow" first every time, then "fast"
        settings["Gateway:AdminKey"] = StatusTestKit.AdminKey;
        settings["Gateway:Routing:Overdue:Enabled"] = "false";
        settings["Gateway:Hedging:Deployments:0"] = "chat";
        settings["Gateway:Hedging:MinDelay"] = "00:00:00.100";
        settings["Gateway:Hedging:MaxDelay"] = "00:00:00.200"; // no samples yet: the delay is the maximum
        settings["Gateway:Hedging:MaxShare"] = maxShare.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return settings;
    }

    private static async Task<SimulatorHost> SimsAsync() => await SimulatorHost.StartAsync([Simulators.Account("slow"), Simulators.Account("fast")]);

    [Fact]
    public async Task SlowFirstByte_IsHedged_TheOtherBackendAnswers_AndTheSlowAttemptIsCancelled()
    {
        await using var sims = await SimsAsync();
        await using var gateway = await GatewayTestHost.StartAsync(Settings(sims));
        sims["slow"].Faults = new FaultOptions { ExtraLatency = TimeSpan.FromMinutes(10) };
        gateway.Client.Timeout = TimeSpan.FromSeconds(30); // the stream's 2 s adaptive deadline and the 100 s timeout are both far off

        using var response = await gateway.Client.PostAsync(ChatPath, GatewayRoutingTests.Chat(stream: true), TestDeadline.Token);
        var body = await response.Content.ReadAsStringAsync(TestDeadline.Token);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("fast", response.Headers.GetValues("x-aoai-backend").Single());
        Assert.Equal("2", response.Headers.GetValues("x-aoai-attempts").Single());
        Assert.Contains("data: [DONE]", body);
        Assert.Equal(1, sims["slow"].Stats.Requests);
        Assert.True(gateway.Services.GetRequiredService<BackendRegistry>().TryGetState("slow", out var slow));
        await Wait.UntilAsync(() => slow.Outstanding.Count == 0, because: "the losing attempt is cancelled and given back");
        Assert.Equal(1, slow.Failures); // overtaken by its hedge: counted toward its circuit, as a timeout would be
        Assert.True(gateway.Services.GetRequiredService<BackendRegistry>().TryGetState("fast", out var fast));
        Assert.Equal(0, fast.Failures);

        var report = Assert.Single(gateway.Services.GetRequiredService<Hedger>().Report());
        Assert.Equal(("chat", 1L, 1L, 1L, 0L), (report.Deployment, report.Streams, report.Sent, report.HedgeWon, report.FirstWon));
        Assert.True(report.ExtraPromptTokens > 0);
    }

    [Fact]
    public async Task FastFirstByte_IsNotHedged_NoSecondRequestIsSent()
    {
        await using var sims = await SimsAsync();
        var settings = Settings(sims);
        settings["Gateway:Hedging:MaxDelay"] = "00:00:05"; // a first byte well within it, even on a cold, busy machine
        await using var gateway = await GatewayTestHost.StartAsync(settings);

        for (var i = 0; i < 3; i++)
        {
            using var response = await gateway.Client.PostAsync(ChatPath, GatewayRoutingTests.Chat(stream: true), TestDeadline.Token);
            Assert.Contains("data: [DONE]", await response.Content.ReadAsStringAsync(TestDeadline.Token));
            Assert.Equal("slow", response.Headers.GetValues("x-aoai-backend").Single());
            Assert.Equal("1", response.Headers.GetValues("x-aoai-attempts").Single());
        }

        Assert.Equal(0, sims["fast"].Stats.Requests);
        var report = Assert.Single(gateway.Services.GetRequiredService<Hedger>().Report());
        Assert.Equal((3L, 0L), (report.Streams, report.Sent));
    }

    [Fact]
    public async Task NonStreamingRequest_WithNonStreamingOn_IsHedgedAndAnsweredByTheOtherBackend()
    {
        await using var sims = await SimsAsync();
        var settings = Settings(sims);
        settings["Gateway:Hedging:NonStreaming"] = "true";
        await using var gateway = await GatewayTestHost.StartAsync(settings);
        sims["slow"].Faults = new FaultOptions { ExtraLatency = TimeSpan.FromMinutes(10) };
        gateway.Client.Timeout = TimeSpan.FromSeconds(30);

        using var response = await gateway.Client.PostAsync(ChatPath, GatewayRoutingTests.Chat(), TestDeadline.Token);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestDeadline.Token));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("fast", response.Headers.GetValues("x-aoai-backend").Single());
        Assert.Equal("2", response.Headers.GetValues("x-aoai-attempts").Single());
        Assert.Equal("chat.completion", json.RootElement.GetProperty("object").GetString());
        Assert.True(gateway.Services.GetRequiredService<BackendRegistry>().TryGetState("slow", out var slow));
        await Wait.UntilAsync(() => slow.Outstanding.Count == 0, because: "the losing attempt is cancelled and given back");
        var report = Assert.Single(gateway.Services.GetRequiredService<Hedger>().Report());
        Assert.Equal((1L, 1L), (report.Sent, report.HedgeWon));
    }

    [Fact]
    public async Task NonStreamingRequests_AreNotHedgedByDefault()
    {
        await using var sims = await SimsAsync();
        await using var gateway = await GatewayTestHost.StartAsync(Settings(sims));
        sims["slow"].Faults = new FaultOptions { ExtraLatency = TimeSpan.FromMilliseconds(600) };

        using var response = await gateway.Client.PostAsync(ChatPath, GatewayRoutingTests.Chat(), TestDeadline.Token);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("slow", response.Headers.GetValues("x-aoai-backend").Single());
        Assert.Equal(0, sims["fast"].Stats.Requests);
        Assert.Equal(0, Assert.Single(gateway.Services.GetRequiredService<Hedger>().Report()).Streams);
    }

    [Fact]
    public async Task SpentBudget_SendsNoHedge_TheStreamWaitsForItsOwnDeadline()
    {
        await using var sims = await SimsAsync();
        var settings = Settings(sims, maxShare: 0);
        settings["Gateway:Upstream:StreamFirstByte:MinDeadline"] = "00:00:00.800";
        settings["Gateway:Upstream:StreamFirstByte:MaxDeadline"] = "00:00:01";
        await using var gateway = await GatewayTestHost.StartAsync(settings);
        sims["slow"].Faults = new FaultOptions { ExtraLatency = TimeSpan.FromMinutes(10) };
        gateway.Client.Timeout = TimeSpan.FromSeconds(30);

        using var response = await gateway.Client.PostAsync(ChatPath, GatewayRoutingTests.Chat(stream: true), TestDeadline.Token);
        Assert.Contains("data: [DONE]", await response.Content.ReadAsStringAsync(TestDeadline.Token));

        // Still answered by the next backend, but by the first-byte deadline's retry, not by a hedge.
        Assert.Equal("fast", response.Headers.GetValues("x-aoai-backend").Single());
        var report = Assert.Single(gateway.Services.GetRequiredService<Hedger>().Report());
        Assert.Equal((0L, 1L), (report.Sent, report.NoBudget));
    }

    [Fact]
    public async Task CallerLeavingDuringAHedge_CancelsBothAttempts()
    {
        await using var sims = await SimsAsync();
        await using var gateway = await GatewayTestHost.StartAsync(Settings(sims));
        foreach (var name in new[] { "slow", "fast" })
        {
            sims[name].Faults = new FaultOptions { ExtraLatency = TimeSpan.FromMinutes(10) };
        }
        var registry = gateway.Services.GetRequiredService<BackendRegistry>();
        Assert.True(registry.TryGetState("slow", out var slow));
        Assert.True(registry.TryGetState("fast", out var fast));

        using var leave = new CancellationTokenSource();
        var call = gateway.Client.PostAsync(ChatPath, GatewayRoutingTests.Chat(stream: true), leave.Token);
        await Wait.UntilAsync(() => sims["fast"].Stats.Requests == 1, because: "the hedge reached the second backend");
        await leave.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);

        await Wait.UntilAsync(() => slow.Outstanding.Count == 0 && fast.Outstanding.Count == 0, because: "both attempts end with the caller");
        Assert.Equal((0L, 0L), (slow.Failures, fast.Failures));
    }

    [Fact]
    public async Task StatusJson_ShowsHedgingAndInFlightAttempts()
    {
        await using var sims = await SimsAsync();
        var settings = Settings(sims);
        await using var gateway = await GatewayTestHost.StartAsync(settings);
        sims["slow"].Faults = new FaultOptions { ExtraLatency = TimeSpan.FromMinutes(10) };

        // A plain call held by the slow backend is in flight there.
        using var hold = new CancellationTokenSource();
        var held = gateway.Client.PostAsync(ChatPath, GatewayRoutingTests.Chat(), hold.Token);
        await Wait.UntilAsync(() => sims["slow"].Stats.Requests == 1, because: "the call reached the slow backend");
        var json = await StatusTestKit.BackendsAsync(gateway.Client);
        var slowRow = json.GetProperty("backends").EnumerateArray().Single(b => b.GetProperty("name").GetString() == "slow");
        Assert.Equal(1, slowRow.GetProperty("inFlight").GetInt32());
        Assert.Equal(JsonValueKind.Number, slowRow.GetProperty("oldestInFlightMs").ValueKind);
        await hold.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => held);

        var hedging = Assert.Single(json.GetProperty("hedging").EnumerateArray());
        Assert.Equal("chat", hedging.GetProperty("deployment").GetString());
        Assert.Equal(0, hedging.GetProperty("sent").GetInt64());
    }

    [Fact]
    public void Budget_AllowsTheConfiguredShare_AndTheTokenCapPerMinute()
    {
        var clock = TestClock.Create();
        var options = new GatewayOptions { Hedging = new HedgingOptions { Deployments = ["chat"], MaxShare = 0.25, MaxExtraTokensPerMinute = 100 } };
        var hedger = new Hedger(new StaticOptionsMonitor(options), clock, new TestMeterFactory());
        var state = new AoaiAspire.Gateway.Availability.BackendState(new AoaiAspire.Backends.Configuration.BackendDefinition("b", new Uri("http://127.0.0.1:1/"), "local", 1, 1, "key", new Dictionary<string, string> { ["chat"] = "chat" }));

        for (var i = 0; i < 8; i++)
        {
            Assert.True(hedger.TryPlan("chat", state, out _));
        }
        Assert.True(hedger.TryTake("chat", 40));
        Assert.True(hedger.TryTake("chat", 40));
        Assert.False(hedger.TryTake("chat", 1)); // 8 streams × 0.25 = 2 hedges

        for (var i = 0; i < 8; i++)
        {
            hedger.TryPlan("chat", state, out _);
        }
        Assert.False(hedger.TryTake("chat", 40)); // budget again, but 80 + 40 tokens > 100 this minute
        clock.Advance(TimeSpan.FromMinutes(1));
        Assert.True(hedger.TryTake("chat", 40));
        Assert.False(hedger.TryPlan("other", state, out _)); // not opted in
    }

    [Fact]
    public void Delay_IsTheFirstBackendsPercentile_Bounded()
    {
        var options = new GatewayOptions { Hedging = new HedgingOptions { Deployments = ["chat"], Percentile = 0.5, MinSamples = 4, MinDelay = TimeSpan.FromMilliseconds(20), MaxDelay = TimeSpan.FromMilliseconds(300) } };
        var hedger = new Hedger(new StaticOptionsMonitor(options), TestClock.Create(), new TestMeterFactory());
        var state = new AoaiAspire.Gateway.Availability.BackendState(new AoaiAspire.Backends.Configuration.BackendDefinition("b", new Uri("http://127.0.0.1:1/"), "local", 1, 1, "key", new Dictionary<string, string> { ["chat"] = "chat" }));

        Assert.True(hedger.TryPlan("chat", state, out var delay));
        Assert.Equal(TimeSpan.FromMilliseconds(300), delay); // no samples: the maximum
        foreach (var ms in new[] { 10, 50, 60, 900 })
        {
            state.FirstBytes.Record(TimeSpan.FromMilliseconds(ms));
        }
        hedger.TryPlan("chat", state, out delay);
        Assert.Equal(TimeSpan.FromMilliseconds(50), delay);
        for (var i = 0; i < 64; i++)
        {
            state.FirstBytes.Record(TimeSpan.FromMilliseconds(1));
        }
        hedger.TryPlan("chat", state, out delay);
        Assert.Equal(TimeSpan.FromMilliseconds(20), delay); // the last 64 only, bounded below
    }

    private sealed class StaticOptionsMonitor(GatewayOptions value) : IOptionsMonitor<GatewayOptions>
    {
        public GatewayOptions CurrentValue => value;
        public GatewayOptions Get(string? name) => value;
        public IDisposable? OnChange(Action<GatewayOptions, string?> listener) => null;
    }

    private sealed class TestMeterFactory : System.Diagnostics.Metrics.IMeterFactory
    {
        private readonly List<System.Diagnostics.Metrics.Meter> _meters = [];
        public System.Diagnostics.Metrics.Meter Create(System.Diagnostics.Metrics.MeterOptions options)
        {
            var meter = new System.Diagnostics.Metrics.Meter(options);
            _meters.Add(meter);
            return meter;
        }
        public void Dispose() => _meters.ForEach(m => m.Dispose());
    }
}
