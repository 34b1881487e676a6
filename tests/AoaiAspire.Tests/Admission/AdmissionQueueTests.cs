using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using AoaiAspire.Gateway.Admission;
using AoaiAspire.Simulator;
using Microsoft.Extensions.DependencyInjection;

namespace AoaiAspire.Tests.Admission;

/// <summary>The admission queue in a real gateway in front of simulated regions (real TPM/RPM limits), over loopback sockets.</summary>
public sealed class AdmissionQueueTests
{
    private const string ChatPath = "/openai/deployments/chat/chat/completions?api-version=2024-10-21";
    private const string WebKey = "consumer-key-web";
    private const string JobsKey = "consumer-key-jobs";
    private const string AdminKey = "admin-key-for-admission-tests";

    /// <summary>Backends in front of <paramref name="sims"/>; "web" (interactive) and "jobs" (batch), both patient for 30 s.</summary>
    private static Dictionary<string, string?> Settings(SimulatorHost sims, params int[] priorities)
    {
        var settings = Simulators.GatewaySettings(sims, priorities);
        settings.Remove("Gateway:AllowAnonymous");
        settings["Gateway:AdminKey"] = AdminKey;
        settings["Gateway:Consumers:web:Keys:0"] = WebKey;
        settings["Gateway:Consumers:web:Priority"] = "interactive";
        settings["Gateway:Consumers:web:MaxQueueWait"] = "00:00:30";
        settings["Gateway:Consumers:jobs:Keys:0"] = JobsKey;
        settings["Gateway:Consumers:jobs:Priority"] = "batch";
        settings["Gateway:Consumers:jobs:MaxQueueWait"] = "00:00:30";
        return settings;
    }

    private static HttpRequestMessage Chat(string key, string? maxWaitMs = null, int maxTokens = 5)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, ChatPath)
        {
            Content = new StringContent($$"""{"messages":[{"role":"user","content":"Wait for me."}],"max_tokens":{{maxTokens}}}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("api-key", key);
        if (maxWaitMs is not null)
        {
            request.Headers.Add(AdmissionQueue.MaxWaitHeader, maxWaitMs);
        }
        return request;
    }

    private static AdmissionQueue Queue(GatewayTestHost gateway) => gateway.Services.GetRequiredService<AdmissionQueue>();

    private static ClassReport ClassOf(GatewayTestHost gateway, string name) => Queue(gateway).Report().Classes.Single(c => c.Name == name);

    private static async Task<string> ErrorCodeAsync(HttpResponseMessage response)
        => (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetProperty("code").GetString()!;

    [Fact]
    public async Task RequestQueuedBehindAThrottleIsServedWhenItEndsInsteadOfA429()
    {
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("a")]);
        await using var gateway = await GatewayTestHost.StartAsync(Settings(sims, 1));
        sims["a"].Faults = new FaultOptions { ForceThrottle = TimeSpan.FromSeconds(2) };

        using var request = Chat(WebKey);
        var pending = gateway.Client.SendAsync(request);
        await Wait.UntilAsync(() => Queue(gateway).Queued == 1, because: "the request waits once the backend's 429 benched it");
        sims["a"].Faults = new FaultOptions();

        using var response = await pending;

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1, sims["a"].Stats.Throttled); // nothing was sent while the bench lasted: one 429, then the answer
        Assert.Equal(2, sims["a"].Stats.Requests);
        Assert.Equal(1, ClassOf(gateway, "interactive").Served);
        Assert.Equal(0, Queue(gateway).Queued);
    }

    [Fact]
    public async Task PatienceHeaderLowersTheWaitAndYieldsThe429WithRetryAfter()
    {
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("a")]);
        await using var gateway = await GatewayTestHost.StartAsync(Settings(sims, 1));
        sims["a"].Faults = new FaultOptions { ForceThrottle = TimeSpan.FromSeconds(4) };

        // The backend is benched for 4 s; this caller will wait 1 s at most: today's 429, at once.
        using var impatient = await gateway.Client.SendAsync(Chat(WebKey, maxWaitMs: "1000"));

        Assert.Equal(HttpStatusCode.TooManyRequests, impatient.StatusCode);
        Assert.Equal("429", await ErrorCodeAsync(impatient));
        Assert.InRange(int.Parse(impatient.Headers.GetValues("retry-after").Single(), CultureInfo.InvariantCulture), 1, 4);
        Assert.True(impatient.Headers.Contains("retry-after-ms"));
        Assert.Equal(0, ClassOf(gateway, "interactive").Served + ClassOf(gateway, "interactive").TimedOut);

        // The same caller without the header has its consumer's 30 s: it waits and is served.
        sims["a"].Faults = new FaultOptions();
        using var patient = await gateway.Client.SendAsync(Chat(WebKey));
        Assert.Equal(HttpStatusCode.OK, patient.StatusCode);
        Assert.Equal(1, ClassOf(gateway, "interactive").Served);
    }

    [Fact]
    public async Task FullQueueAnswers429AtOnce()
    {
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("a")]);
        var settings = Settings(sims, 1);
        settings["Gateway:Admission:QueueLimit"] = "1";
        await using var gateway = await GatewayTestHost.StartAsync(settings);
        sims["a"].Faults = new FaultOptions { ForceThrottle = TimeSpan.FromSeconds(20) };

        using var first = new CancellationTokenSource();
        var waiting = gateway.Client.SendAsync(Chat(WebKey), first.Token);
        await Wait.UntilAsync(() => Queue(gateway).Queued == 1);

        using var refused = await gateway.Client.SendAsync(Chat(JobsKey));

        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Equal("429", await ErrorCodeAsync(refused));
        Assert.True(refused.Headers.Contains("retry-after"));
        Assert.Equal(1, ClassOf(gateway, "batch").QueueFull);
        Assert.False(waiting.IsCompleted);
        await first.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
    }

    [Fact]
    public async Task CallerThatDisconnectsLeavesTheQueueAtOnce()
    {
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("a")]);
        await using var gateway = await GatewayTestHost.StartAsync(Settings(sims, 1));
        sims["a"].Faults = new FaultOptions { ForceThrottle = TimeSpan.FromSeconds(20) };

        using var caller = new CancellationTokenSource();
        var waiting = gateway.Client.SendAsync(Chat(JobsKey), caller.Token);
        await Wait.UntilAsync(() => Queue(gateway).Queued == 1);

        // The status JSON shows it waiting.
        using var status = new HttpRequestMessage(HttpMethod.Get, "/admin/backends");
        status.Headers.Add("api-key", AdminKey);
        using var statusResponse = await gateway.Client.SendAsync(status);
        var admission = (await statusResponse.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("admission");
        Assert.Equal(1, admission.GetProperty("queued").GetInt32());
        var batch = admission.GetProperty("classes").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "batch");
        Assert.Equal(1, batch.GetProperty("queued").GetInt32());
        Assert.True(batch.GetProperty("oldestWaitMs").GetDouble() >= 0);

        await caller.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);

        await Wait.UntilAsync(() => Queue(gateway).Queued == 0, because: "a caller that left is out of the queue");
        await Wait.UntilAsync(() => ClassOf(gateway, "batch").CallerGone == 1);
        Assert.Equal(1, sims["a"].Stats.Requests); // nothing was sent for it after it left
    }

    [Fact]
    public async Task InteractiveIsDispatchedBeforeBatchThatWaitedLonger()
    {
        // One request per 10-second window (RPM 6): when the window reopens only one of the two waiting requests can be served.
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("a", requestsPerMinute: 6)]);
        var settings = Settings(sims, 1);
        // The next waiting request goes only once the one before it has its answer: dispatch order is arrival order.
        settings["Gateway:Admission:DispatchHold"] = "00:00:05";
        await using var gateway = await GatewayTestHost.StartAsync(settings);
        using (var warmUp = await gateway.Client.SendAsync(Chat(WebKey, maxWaitMs: "0")))
        {
            Assert.Equal(HttpStatusCode.OK, warmUp.StatusCode); // the window's one request
        }

        using var batchCaller = new CancellationTokenSource();
        var batch = gateway.Client.SendAsync(Chat(JobsKey), batchCaller.Token);
        await Wait.UntilAsync(() => ClassOf(gateway, "batch").Queued == 1, because: "batch waits for the window after the simulator's 429");
        var interactive = gateway.Client.SendAsync(Chat(WebKey));
        await Wait.UntilAsync(() => ClassOf(gateway, "interactive").Queued == 1);

        using var first = await interactive;

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.False(batch.IsCompleted, "batch, queued first, is still waiting: interactive took the reopened window");
        await batchCaller.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => batch);
    }

    [Fact]
    public async Task ShutdownAnswersQueuedCallersWith503AndRetryAfter()
    {
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("a")]);
        await using var gateway = await GatewayTestHost.StartAsync(Settings(sims, 1));
        sims["a"].Faults = new FaultOptions { ForceThrottle = TimeSpan.FromSeconds(20) };

        var waiting = gateway.Client.SendAsync(Chat(WebKey));
        await Wait.UntilAsync(() => Queue(gateway).Queued == 1);
        var stopping = gateway.StopAsync();

        using var response = await waiting;
        await stopping;

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("ServiceUnavailable", await ErrorCodeAsync(response));
        Assert.Equal("1", response.Headers.GetValues("retry-after").Single());
    }

    [Fact]
    public async Task BatchKeptOffPriorityGroup1NeverReachesItEvenWhileItsOwnBackendIsThrottled()
    {
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("ptu"), Simulators.Account("paygo")]);
        var settings = Settings(sims, 1, 2);
        settings["Gateway:Admission:Classes:interactive:Order"] = "0";
        settings["Gateway:Admission:Classes:batch:Order"] = "1";
        settings["Gateway:Admission:Classes:batch:ExcludedPriorityGroups:0"] = "1";
        await using var gateway = await GatewayTestHost.StartAsync(settings);

        for (var i = 0; i < 3; i++)
        {
            using var served = await gateway.Client.SendAsync(Chat(JobsKey));
            Assert.Equal(HttpStatusCode.OK, served.StatusCode);
            Assert.Equal("paygo", served.Headers.GetValues("x-aoai-backend").Single());
        }

        // Its one allowed backend throttled, batch waits rather than spill onto the idle PTU.
        sims["paygo"].Faults = new FaultOptions { ForceThrottle = TimeSpan.FromSeconds(2) };
        var waiting = gateway.Client.SendAsync(Chat(JobsKey));
        await Wait.UntilAsync(() => ClassOf(gateway, "batch").Queued == 1);
        sims["paygo"].Faults = new FaultOptions();
        using var afterWait = await waiting;
        Assert.Equal(HttpStatusCode.OK, afterWait.StatusCode);
        Assert.Equal("paygo", afterWait.Headers.GetValues("x-aoai-backend").Single());
        Assert.Equal(0, sims["ptu"].Stats.Requests);

        using var interactive = await gateway.Client.SendAsync(Chat(WebKey));
        Assert.Equal("ptu", interactive.Headers.GetValues("x-aoai-backend").Single());
    }

    [Theory]
    [InlineData(null)] // the default ReserveFactor, 1.25
    [InlineData("0")]
    public async Task BatchLeavesInteractiveWhatItWillNeedOfTheMinute_UnlessReserveFactorIs0(string? reserveFactor)
    {
        // One region with 2,000 tokens a minute; interactive takes about 850 of them in its first second.
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("a", tokensPerMinute: 2000)]);
        var settings = Settings(sims, 1);
        if (reserveFactor is not null)
        {
            settings["Gateway:Admission:Classes:interactive:Order"] = "0";
            settings["Gateway:Admission:Classes:interactive:ReserveFactor"] = reserveFactor;
            settings["Gateway:Admission:Classes:batch:Order"] = "1";
        }
        await using var gateway = await GatewayTestHost.StartAsync(settings);
        for (var i = 0; i < 4; i++)
        {
            using var served = await gateway.Client.SendAsync(Chat(WebKey, maxTokens: 200));
            Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        }

        // About 1,150 tokens are left, and interactive asks for about 85 a second with most of the minute to go:
        // batch must leave them, and since that holds beyond its 30 s of patience, it hears so at once.
        using var batch = await gateway.Client.SendAsync(Chat(JobsKey, maxTokens: 200));
        if (reserveFactor == "0")
        {
            Assert.Equal(HttpStatusCode.OK, batch.StatusCode); // nothing kept back: batch takes what is there
            Assert.Equal(5, sims["a"].Stats.Requests);
            return;
        }
        Assert.Equal(HttpStatusCode.TooManyRequests, batch.StatusCode);
        Assert.Equal("429", await ErrorCodeAsync(batch));
        Assert.InRange(int.Parse(batch.Headers.GetValues("retry-after").Single(), CultureInfo.InvariantCulture), 31, 60);
        Assert.Equal(4, sims["a"].Stats.Requests); // it never reached the region

        // What batch left is there for interactive.
        using var interactive = await gateway.Client.SendAsync(Chat(WebKey, maxTokens: 200));
        Assert.Equal(HttpStatusCode.OK, interactive.StatusCode);
        Assert.True(ClassOf(gateway, "interactive").DemandTokensPerMinute > 0);
        Assert.Equal(0, ClassOf(gateway, "batch").DemandTokensPerMinute); // the lowest class leaves nothing to anyone: not counted
    }
}
