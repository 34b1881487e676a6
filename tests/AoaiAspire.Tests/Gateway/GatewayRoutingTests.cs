using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using AoaiAspire.Simulator;
using AoaiAspire.Tests.Common;

namespace AoaiAspire.Tests.Gateway;

/// <summary>The gateway in front of simulated regions, over real sockets on loopback.</summary>
public sealed class GatewayRoutingTests
{
    private const string ChatPath = "/openai/deployments/chat/chat/completions?api-version=2024-10-21";

    internal static StringContent Chat(int maxTokens = 5, bool stream = false, string? model = null)
        => new(JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["model"] = model,
            ["messages"] = new[] { new { role = "user", content = "Say hello to the gateway." } },
            ["max_tokens"] = maxTokens,
            ["stream"] = stream,
        }), Encoding.UTF8, "application/json");

    [Fact]
    public async Task ThrottledPrimaryIsInvisibleToCallerAndBenchedUntilRetryAfter()
    {
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("primary"), Simulators.Account("secondary")]);
        await using var gateway = await GatewayTestHost.StartAsync(Simulators.GatewaySettings(sims, 1, 2));
        sims["primary"].Faults = new FaultOptions { ForceThrottle = TimeSpan.FromSeconds(30) };

        var first = await gateway.Client.PostAsync(ChatPath, Chat());
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal("secondary", first.Headers.GetValues("x-aoai-backend").Single());
        Assert.Equal("2", first.Headers.GetValues("x-aoai-attempts").Single());
        Assert.Equal(1, sims["primary"].Stats.Throttled);

        // Benched: the next requests do not touch the primary at all.
        for (var i = 0; i < 5; i++)
        {
            var next = await gateway.Client.PostAsync(ChatPath, Chat());
            Assert.Equal(HttpStatusCode.OK, next.StatusCode);
            Assert.Equal("secondary", next.Headers.GetValues("x-aoai-backend").Single());
        }
        Assert.Equal(1, sims["primary"].Stats.Requests);
    }

    [Fact]
    public async Task ThrottledChatDeploymentLeavesTheSameAccountsEmbeddingsInUse()
    {
        // Azure OpenAI's limits are per deployment: a chat 429 must not bench the account's embeddings.
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("primary", tokensPerMinute: 2_000), Simulators.Account("secondary")]);
        await using var gateway = await GatewayTestHost.StartAsync(Simulators.GatewaySettings(sims, 1, 2));

        for (var i = 0; i < 8; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await gateway.Client.PostAsync(ChatPath, Chat(maxTokens: 400))).StatusCode);
        }
        Assert.True(sims["primary"].GetDeploymentStats("chat").Throttled >= 1, "the primary's chat deployment ran out");

        using var embeddings = await gateway.Client.PostAsync("/openai/deployments/embeddings/embeddings?api-version=2024-10-21",
            new StringContent("""{"input":"still served by the primary"}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, embeddings.StatusCode);
        Assert.Equal("primary", embeddings.Headers.GetValues("x-aoai-backend").Single());
    }

    [Fact]
    public async Task AllBackendsThrottledGivesOne429WithSoonestRetryAfter()
    {
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("a"), Simulators.Account("b")]);
        await using var gateway = await GatewayTestHost.StartAsync(Simulators.GatewaySettings(sims, 1, 1));
        sims["a"].Faults = new FaultOptions { ForceThrottle = TimeSpan.FromSeconds(40) };
        sims["b"].Faults = new FaultOptions { ForceThrottle = TimeSpan.FromSeconds(7) };

        var response = await gateway.Client.PostAsync(ChatPath, Chat());

        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        var retryAfter = int.Parse(response.Headers.GetValues("retry-after").Single(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(retryAfter, 1, 7);
        var error = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("429", error.GetProperty("error").GetProperty("code").GetString());
        Assert.Equal(1, sims["a"].Stats.Requests);
        Assert.Equal(1, sims["b"].Stats.Requests);
    }

    [Fact]
    public async Task BackendThatGoesDownMidRunLosesNoRequest()
    {
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("a"), Simulators.Account("b"), Simulators.Account("c")]);
        await using var gateway = await GatewayTestHost.StartAsync(Simulators.GatewaySettings(sims, 1, 1, 2));

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 60; i++)
        {
            if (i == 20)
            {
                sims["a"].Faults = new FaultOptions { Down = true };
            }
            if (i == 40)
            {
                sims["b"].Faults = new FaultOptions { ServerErrorRate = 1 };
            }
            var batch = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => gateway.Client.PostAsync(ChatPath, Chat())));
            statuses.AddRange(batch.Select(r => r.StatusCode));
        }

        Assert.All(statuses, s => Assert.Equal(HttpStatusCode.OK, s));
        Assert.True(sims["a"].Stats.Failed > 0, "the down backend was tried and failed");
        Assert.True(sims["c"].Stats.Succeeded > 0, "the fallback group served once both primaries failed");
    }

    [Fact]
    public async Task ServerErrorsOpenTheCircuitSoTheBackendIsSkipped()
    {
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("flaky"), Simulators.Account("steady")]);
        var settings = Simulators.GatewaySettings(sims, 1, 2);
        settings["Gateway:CircuitBreaker:ConsecutiveFailures"] = "3";
        settings["Gateway:CircuitBreaker:BreakDuration"] = "00:05:00";
        await using var gateway = await GatewayTestHost.StartAsync(settings);
        sims["flaky"].Faults = new FaultOptions { ServerErrorRate = 1 };

        for (var i = 0; i < 10; i++)
        {
            var response = await gateway.Client.PostAsync(ChatPath, Chat());
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        Assert.Equal(3, sims["flaky"].Stats.Requests);
    }

    [Fact]
    public async Task CallerErrorsFromTheBackendAreReturnedUnchangedWithoutRetry()
    {
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("a"), Simulators.Account("b")]);
        await using var gateway = await GatewayTestHost.StartAsync(Simulators.GatewaySettings(sims, 1, 2));

        // Valid JSON the gateway forwards, which the backend refuses as the caller's mistake
        // (embeddings asked of a chat deployment): returned as is, from the first backend, not retried.
        var response = await gateway.Client.PostAsync("/openai/deployments/chat/embeddings?api-version=2024-10-21",
            new StringContent("""{"input":"text"}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("a", response.Headers.GetValues("x-aoai-backend").Single());
        Assert.Equal(1, sims["a"].Stats.Requests);
        Assert.Equal(0, sims["b"].Stats.Requests);
        var error = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("OperationNotSupported", error.GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task StreamArrivesChunkByChunk()
    {
        var account = Simulators.Account("streamer", latencyScale: 1);
        account.StreamChunkInterval = TimeSpan.FromMilliseconds(100);
        await using var sims = await SimulatorHost.StartAsync([account]);
        await using var gateway = await GatewayTestHost.StartAsync(Simulators.GatewaySettings(sims));

        using var request = new HttpRequestMessage(HttpMethod.Post, ChatPath) { Content = Chat(maxTokens: 30, stream: true) };
        using var response = await gateway.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);

        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(TestDeadline.Token));
        var firstLine = await reader.ReadLineAsync(TestDeadline.Token);
        Assert.StartsWith("data: {", firstLine);
        // The first chunk is here while the backend is still producing the rest of the stream.
        Assert.Equal(0, sims["streamer"].Stats.Succeeded);

        var lines = new List<string> { firstLine! };
        while (await reader.ReadLineAsync(TestDeadline.Token) is { } line)
        {
            if (line.Length > 0)
            {
                lines.Add(line);
            }
        }
        Assert.Equal("data: [DONE]", lines[^1]);
        Assert.True(lines.Count >= 10, $"expected many chunks, got {lines.Count}");
        await Wait.UntilAsync(() => sims["streamer"].Stats.Succeeded == 1);
    }

    [Fact]
    public async Task V1StyleCallUsesModelAsDeploymentAndUpstreamDeploymentName()
    {
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("a")]);
        var settings = Simulators.GatewaySettings(sims);
        // Logical name "gpt" maps to the upstream deployment "chat".
        settings["Gateway:Backends:a:Deployments:gpt"] = "chat";
        await using var gateway = await GatewayTestHost.StartAsync(settings);

        var response = await gateway.Client.PostAsync("/openai/v1/chat/completions", Chat(model: "gpt"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("assistant", body.GetProperty("choices")[0].GetProperty("message").GetProperty("role").GetString());

        var plain = await gateway.Client.PostAsync("/v1/chat/completions", Chat(model: "chat"));
        Assert.Equal(HttpStatusCode.OK, plain.StatusCode);
    }

    [Fact]
    public async Task ConfigurationChangeIsPickedUpWithoutRestart()
    {
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("old"), Simulators.Account("new")]);
        var settings = GatewayTestHost.Backends(("old", sims["old"].Endpoint, sims["old"].Options.ApiKey, 1));
        await using var gateway = await GatewayTestHost.StartAsync(settings);
        var config = (Microsoft.Extensions.Configuration.IConfigurationRoot)gateway.Services.GetService(typeof(Microsoft.Extensions.Configuration.IConfiguration))!;

        Assert.Equal("old", (await gateway.Client.PostAsync(ChatPath, Chat())).Headers.GetValues("x-aoai-backend").Single());

        config["Gateway:Backends:new:Endpoint"] = sims["new"].Endpoint.AbsoluteUri;
        config["Gateway:Backends:new:ApiKey"] = sims["new"].Options.ApiKey;
        config["Gateway:Backends:new:Priority"] = "0";
        config["Gateway:Backends:new:Deployments:chat"] = "chat";
        config.Reload();
        Assert.Equal("new", (await gateway.Client.PostAsync(ChatPath, Chat())).Headers.GetValues("x-aoai-backend").Single());

        // A broken change is refused whole; the previous list stays in force.
        config["Gateway:Backends:broken:Priority"] = "1";
        config.Reload();
        Assert.Equal(HttpStatusCode.OK, (await gateway.Client.PostAsync(ChatPath, Chat())).StatusCode);
    }

    [Fact]
    public async Task RoutingPolicyChangeAppliesToTheNextRequestWithoutRestart()
    {
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("a"), Simulators.Account("b")]);
        var settings = Simulators.GatewaySettings(sims, 1, 1);
        settings["Gateway:Routing:Policy"] = "least-latency";
        await using var gateway = await GatewayTestHost.StartAsync(settings);
        var config = (Microsoft.Extensions.Configuration.IConfigurationRoot)gateway.Services.GetService(typeof(Microsoft.Extensions.Configuration.IConfiguration))!;
        var policy = (AoaiAspire.Gateway.LoadBalancing.RoutingPolicy)gateway.Services.GetService(typeof(AoaiAspire.Gateway.LoadBalancing.RoutingPolicy))!;
        Assert.Equal("least-latency", policy.Current.Name);

        config["Gateway:Routing:Policy"] = "round-robin";
        config.Reload();
        Assert.Equal("round-robin", policy.Current.Name);

        // Round robin alternates strictly between the two backends of the group; weighted random or least
        // latency would not (a chance of 1 in 512 for ten requests).
        var seen = new List<string>();
        for (var i = 0; i < 10; i++)
        {
            var response = await gateway.Client.PostAsync(ChatPath, Chat());
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            seen.Add(response.Headers.GetValues("x-aoai-backend").Single());
        }
        for (var i = 1; i < seen.Count; i++)
        {
            Assert.NotEqual(seen[i - 1], seen[i]);
        }

        // The former name of the weighted policy is still accepted.
        config["Gateway:Routing:Policy"] = "priority";
        config.Reload();
        Assert.Equal("weighted", policy.Current.Name);

        // An unknown name fails validation: the change is refused whole, the policy in force stays and requests
        // are served (the framework's own monitor would cache the validation error and fail every request).
        config["Gateway:Routing:Policy"] = "fastest-please";
        config.Reload();
        Assert.Equal("weighted", policy.Current.Name);
        Assert.Equal(HttpStatusCode.OK, (await gateway.Client.PostAsync(ChatPath, Chat())).StatusCode);
    }
}
