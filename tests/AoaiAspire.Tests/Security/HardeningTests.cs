using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AoaiAspire.Simulator;
using AoaiAspire.Tests.Common;
using AoaiAspire.Tests.Gateway;

namespace AoaiAspire.Tests.Security;

/// <summary>What crosses the gateway and what does not; limits; shutdown.</summary>
public sealed class HardeningTests
{
    private const string ChatPath = "/openai/deployments/chat/chat/completions?api-version=2024-10-21";
    private const string CallerKey = "caller-key-0123456789";

    [Fact]
    public async Task HopByHopAndCredentialsNeverCrossWhileClientRequestIdAndTraceContextDo()
    {
        await using var backend = await RecordingBackend.StartAsync();
        var settings = GatewayTestHost.Backends(("rec", backend.Endpoint, "upstream-secret-key", 1));
        settings.Remove("Gateway:AllowAnonymous");
        settings["Gateway:Consumers:app:Keys:0"] = CallerKey;
        await using var gateway = await GatewayTestHost.StartAsync(settings);

        using var request = new HttpRequestMessage(HttpMethod.Post, ChatPath) { Content = GatewayRoutingTests.Chat() };
        request.Headers.Add("api-key", CallerKey);
        request.Headers.Add("x-ms-client-request-id", "client-req-42");
        request.Headers.Add("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
        request.Headers.Add("Cookie", "caller-session=1");
        request.Headers.Add("Proxy-Authorization", "Basic Zm9vOmJhcg==");
        request.Headers.Add("Keep-Alive", "timeout=5");
        request.Headers.Add("x-aoai-backend", "spoofed");
        using var response = await gateway.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var (path, upstream) = Assert.Single(backend.Requests);
        Assert.StartsWith("/openai/deployments/chat/chat/completions?api-version=2024-10-21", path);
        Assert.Equal(["upstream-secret-key"], upstream["api-key"]);
        Assert.DoesNotContain(upstream.Values.SelectMany(v => v), v => v.Contains(CallerKey, StringComparison.Ordinal));
        Assert.False(upstream.ContainsKey("Cookie"));
        Assert.False(upstream.ContainsKey("Proxy-Authorization"));
        Assert.False(upstream.ContainsKey("Keep-Alive"));
        Assert.False(upstream.ContainsKey("x-aoai-backend"));
        Assert.Equal(["client-req-42"], upstream["x-ms-client-request-id"]);
        // The caller's trace goes on upstream: same trace id, whichever span is the parent.
        Assert.Contains("0af7651916cd43dd8448eb211c80319c", Assert.Single(upstream["traceparent"]));

        // Back to the caller: no upstream banner, cookie or key; the gateway's own headers.
        Assert.False(response.Headers.Contains("Server"));
        Assert.False(response.Headers.Contains("X-Powered-By"));
        Assert.False(response.Headers.Contains("Set-Cookie"));
        Assert.False(response.Headers.Contains("api-key"));
        Assert.Equal("recording", response.Headers.GetValues("x-ms-region").Single());
        Assert.Equal("rec", response.Headers.GetValues("x-aoai-backend").Single());
    }

    [Fact]
    public async Task ConsumerOverItsConcurrencyLimitGets429AndOthersAreServed()
    {
        var account = Simulators.Account("slow", latencyScale: 1);
        account.Faults.ExtraLatency = TimeSpan.FromSeconds(2);
        await using var sims = await SimulatorHost.StartAsync([account]);
        var settings = Simulators.GatewaySettings(sims);
        settings.Remove("Gateway:AllowAnonymous");
        settings["Gateway:Consumers:app:Keys:0"] = CallerKey;
        settings["Gateway:Consumers:app:MaxConcurrentRequests"] = "2";
        settings["Gateway:Consumers:other:Keys:0"] = "other-key-0123456789";
        await using var gateway = await GatewayTestHost.StartAsync(settings);

        Task<HttpResponseMessage> Send(string key)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, ChatPath) { Content = GatewayRoutingTests.Chat() };
            request.Headers.Add("api-key", key);
            return gateway.Client.SendAsync(request);
        }
        var inFlight = new[] { Send(CallerKey), Send(CallerKey) };
        await Wait.UntilAsync(() => sims["slow"].Stats.Requests == 2, because: "two requests are in flight");

        using var third = await Send(CallerKey);
        Assert.Equal(HttpStatusCode.TooManyRequests, third.StatusCode);
        Assert.Equal("1", third.Headers.GetValues("retry-after").Single());
        var error = await third.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Contains("in flight", error.GetProperty("error").GetProperty("message").GetString());

        using var other = await Send("other-key-0123456789");
        Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        Assert.All(await Task.WhenAll(inFlight), r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        // Slots are given back: the consumer is served again.
        Assert.Equal(HttpStatusCode.OK, (await Send(CallerKey)).StatusCode);
    }

    [Fact]
    public async Task OversizedHeadersAreRefusedByTheServerLimits()
    {
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("a")]);
        var settings = Simulators.GatewaySettings(sims);
        settings["Gateway:Limits:MaxRequestHeadersTotalSize"] = "4096";
        await using var gateway = await GatewayTestHost.StartAsync(settings);
        using var request = new HttpRequestMessage(HttpMethod.Post, ChatPath) { Content = GatewayRoutingTests.Chat() };
        request.Headers.Add("x-padding", new string('p', 8192));
        using var response = await gateway.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestHeaderFieldsTooLarge, response.StatusCode);
        Assert.Equal(0, sims["a"].Stats.Requests);
    }

    [Fact]
    public async Task ShutdownStopsAcceptingButLetsAnOpenStreamFinish()
    {
        var account = Simulators.Account("streamer", latencyScale: 1);
        account.StreamChunkInterval = TimeSpan.FromMilliseconds(100);
        await using var sims = await SimulatorHost.StartAsync([account]);
        var settings = Simulators.GatewaySettings(sims);
        settings["Gateway:Limits:ShutdownTimeout"] = "00:00:30";
        var gateway = await GatewayTestHost.StartAsync(settings);
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, ChatPath) { Content = GatewayRoutingTests.Chat(maxTokens: 20, stream: true) };
            using var response = await gateway.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            var reader = new StreamReader(await response.Content.ReadAsStreamAsync(TestDeadline.Token));
            Assert.StartsWith("data: ", await reader.ReadLineAsync(TestDeadline.Token));

            var stopping = gateway.StopAsync();
            // New connections are refused while the stream goes on.
            using var fresh = new HttpClient { BaseAddress = gateway.Address };
            await Wait.UntilAsync(async () =>
            {
                try
                {
                    await fresh.GetAsync("/alive");
                    return false;
                }
                catch (HttpRequestException)
                {
                    return true;
                }
            }, because: "the listener closes at shutdown");
            // Shutdown has begun and is still waiting for the stream: had the stream ended before shutdown
            // began, this test would prove nothing.
            Assert.False(stopping.IsCompleted, "shutdown finished while the stream was still open");

            var rest = await reader.ReadToEndAsync(TestDeadline.Token);
            Assert.EndsWith("data: [DONE]\n\n", rest);
            // Chunks kept coming after shutdown began (20 tokens at 100 ms each; only the first was read before).
            Assert.True(rest.Split("data: ").Length - 1 >= 5, "too few chunks arrived after shutdown began: " + rest.Length + " chars");
            await stopping;
        }
        finally
        {
            await gateway.DisposeAsync();
        }
    }

    [Fact]
    public async Task StreamLongerThanTheShutdownTimeoutIsEndedNotSilentlyCut()
    {
        var account = Simulators.Account("streamer", latencyScale: 1);
        account.StreamChunkInterval = TimeSpan.FromMilliseconds(200);
        await using var sims = await SimulatorHost.StartAsync([account]);
        var settings = Simulators.GatewaySettings(sims);
        settings["Gateway:Limits:ShutdownTimeout"] = "00:00:01";
        var gateway = await GatewayTestHost.StartAsync(settings);
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, ChatPath) { Content = GatewayRoutingTests.Chat(maxTokens: 100, stream: true) };
            using var response = await gateway.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            var reader = new StreamReader(await response.Content.ReadAsStreamAsync(TestDeadline.Token));
            await reader.ReadLineAsync(TestDeadline.Token);
            var stopping = gateway.StopAsync();
            // The caller sees an error, never an end of stream that looks complete.
            await Assert.ThrowsAnyAsync<IOException>(() => reader.ReadToEndAsync(TestDeadline.Token));
            await stopping;
        }
        finally
        {
            await gateway.DisposeAsync();
        }
    }
}
