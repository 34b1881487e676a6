using System.Net;
using AoaiAspire.Gateway.Configuration;
using AoaiAspire.Simulator;
using AoaiAspire.Tests.Common;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AoaiAspire.Tests.Gateway;

/// <summary>
/// A backend that accepts requests and then says nothing, over real sockets on loopback: new traffic goes
/// elsewhere while it holds them, and a stream whose first byte is late moves to the next backend, long
/// before the 100 s first-byte timeout.
/// </summary>
public sealed class FrozenBackendTests
{
    private const string ChatPath = "/openai/deployments/chat/chat/completions?api-version=2024-10-21";

    [Fact]
    public async Task StalledBackend_LosesNewTraffic_WhileItsRequestsAreOutstanding_WhateverThePolicy()
    {
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("stalled"), Simulators.Account("healthy")]);
        var settings = Simulators.GatewaySettings(sims, 1, 1);
        settings["Gateway:Routing:Policy"] = "round-robin"; // a policy that knows nothing of load: the rule is the selector's
        settings["Gateway:Routing:Overdue:MinDelay"] = "00:00:00.200";
        settings["Gateway:Routing:Overdue:MaxDelay"] = "00:00:01";
        await using var gateway = await GatewayTestHost.StartAsync(settings);
        var registry = gateway.Services.GetRequiredService<BackendRegistry>();
        Assert.True(registry.TryGetState("stalled", out var stalled));

        for (var i = 0; i < 4; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await gateway.Client.PostAsync(ChatPath, GatewayRoutingTests.Chat())).StatusCode);
        }
        sims["stalled"].Faults = new FaultOptions { ExtraLatency = TimeSpan.FromMinutes(10) };
        var before = sims["stalled"].Stats.Requests;

        // Requests that round robin hands to the stalled backend hang there; keep them open in the background.
        using var hang = new CancellationTokenSource();
        var background = Enumerable.Range(0, 4).Select(_ => gateway.Client.PostAsync(ChatPath, GatewayRoutingTests.Chat(), hang.Token)).ToList();
        await Wait.UntilAsync(() => sims["stalled"].Stats.Requests > before, because: "a request reached the stalled backend");
        await Wait.UntilAsync(() => stalled.IsOverdue(DateTimeOffset.UtcNow.UtcTicks, new OverdueOptions { MinDelay = TimeSpan.FromMilliseconds(200), MaxDelay = TimeSpan.FromSeconds(1) }),
            because: "the stalled backend becomes overdue");
        var stuck = sims["stalled"].Stats.Requests;
        Assert.True(stalled.Outstanding.Count > 0);

        // Every new request now goes to the other backend, and answers, while the stalled ones are still open.
        for (var i = 0; i < 12; i++)
        {
            using var response = await gateway.Client.PostAsync(ChatPath, GatewayRoutingTests.Chat());
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("healthy", response.Headers.GetValues("x-aoai-backend").Single());
            Assert.Equal("1", response.Headers.GetValues("x-aoai-attempts").Single());
        }
        Assert.Equal(stuck, sims["stalled"].Stats.Requests);
        Assert.Contains(background, t => !t.IsCompleted);

        // It answers again: once its outstanding requests are answered, it is used again.
        sims["stalled"].Faults = new FaultOptions();
        await hang.CancelAsync();
        await Task.WhenAll(background.Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default)));
        await Wait.UntilAsync(() => stalled.Outstanding.Count == 0, because: "the abandoned attempts are given back");
        await Wait.UntilAsync(async () =>
        {
            using var response = await gateway.Client.PostAsync(ChatPath, GatewayRoutingTests.Chat());
            return response.Headers.GetValues("x-aoai-backend").Single() == "stalled";
        }, because: "the stalled backend gets traffic again");
    }

    [Fact]
    public async Task StreamWithoutHeaders_PastTheAdaptiveDeadline_FailsOverToTheNextBackend()
    {
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("stalled"), Simulators.Account("healthy")]);
        var settings = Simulators.GatewaySettings(sims, 1, 2); // the stalled one first, every time
        settings["Gateway:Routing:Overdue:Enabled"] = "false";
        settings["Gateway:Upstream:StreamFirstByte:MinDeadline"] = "00:00:00.300";
        settings["Gateway:Upstream:StreamFirstByte:MaxDeadline"] = "00:00:02";
        await using var gateway = await GatewayTestHost.StartAsync(settings);
        sims["stalled"].Faults = new FaultOptions { ExtraLatency = TimeSpan.FromMinutes(10) };
        gateway.Client.Timeout = TimeSpan.FromSeconds(30); // far below the 100 s first-byte timeout

        using var response = await gateway.Client.PostAsync(ChatPath, GatewayRoutingTests.Chat(stream: true));
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("healthy", response.Headers.GetValues("x-aoai-backend").Single());
        Assert.Equal("2", response.Headers.GetValues("x-aoai-attempts").Single());
        Assert.Contains("data: [DONE]", body);
        Assert.Equal(1, sims["stalled"].Stats.Requests);
    }

    [Fact]
    public async Task StreamWithHeadersButNoFirstByte_FailsOverBeforeTheCallerGotAByte()
    {
        await using var silent = await SilentStream.StartAsync();
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("healthy")]);
        var settings = GatewayTestHost.Backends(("silent", silent.Endpoint, "key-silent", 1), ("healthy", sims["healthy"].Endpoint, sims["healthy"].Options.ApiKey, 2));
        settings["Gateway:Routing:Overdue:Enabled"] = "false";
        settings["Gateway:Upstream:StreamFirstByte:MinDeadline"] = "00:00:00.300";
        settings["Gateway:Upstream:StreamFirstByte:MaxDeadline"] = "00:00:02";
        await using var gateway = await GatewayTestHost.StartAsync(settings);
        gateway.Client.Timeout = TimeSpan.FromSeconds(30);

        using var response = await gateway.Client.PostAsync(ChatPath, GatewayRoutingTests.Chat(stream: true));
        var body = await response.Content.ReadAsStringAsync();

        // The silent backend's headers (its region, its status) never reached the caller: the answer is wholly the next one's.
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("healthy", response.Headers.GetValues("x-aoai-backend").Single());
        Assert.Equal("2", response.Headers.GetValues("x-aoai-attempts").Single());
        Assert.False(response.Headers.Contains("x-silent-backend"));
        Assert.Contains("data: [DONE]", body);
        Assert.Equal(1, silent.Requests);
    }

    /// <summary>Answers a stream's status and headers at once, then never sends a byte of its body.</summary>
    private sealed class SilentStream : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private int _requests;

        private SilentStream(WebApplication app) => _app = app;

        public Uri Endpoint { get; private set; } = null!;

        public int Requests => Volatile.Read(ref _requests);

        public static async Task<SilentStream> StartAsync()
        {
            var builder = LoopbackApp.CreateBuilder(slim: true);
            var app = builder.Build();
            var self = new SilentStream(app);
            app.Run(async context =>
            {
                Interlocked.Increment(ref self._requests);
                context.Response.ContentType = "text/event-stream";
                context.Response.Headers["x-silent-backend"] = "1";
                await context.Response.StartAsync();
                await context.Response.Body.FlushAsync();
                try
                {
                    await Task.Delay(Timeout.Infinite, context.RequestAborted);
                }
                catch (OperationCanceledException)
                {
                }
            });
            self.Endpoint = await LoopbackApp.ListenAsync(app);
            return self;
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
