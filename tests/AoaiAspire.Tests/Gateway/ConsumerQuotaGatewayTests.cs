using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AoaiAspire.Simulator;
using AoaiAspire.Tests.Common;
using Microsoft.Extensions.DependencyInjection;

namespace AoaiAspire.Tests.Gateway;

/// <summary>Per-consumer quotas through the gateway, alone and across two replicas sharing Redis.</summary>
/// <remarks>
/// The gateways run on one <see cref="FakeTimeProvider"/> a few seconds into a clock minute, moved only by the test, so
/// a quota window cannot end in the middle of a test (on the real clock, a run across a minute boundary got a fresh budget).
/// </remarks>
public sealed class ConsumerQuotaGatewayTests
{
    private readonly FakeTimeProvider _clock = new(TestClock.Start.AddSeconds(5));

    private Task<GatewayTestHost> StartGatewayAsync(IDictionary<string, string?> settings)
        => GatewayTestHost.StartAsync(settings, configureServices: services => services.AddSingleton<TimeProvider>(_clock));

    private const string ChatPath = "/openai/deployments/chat/chat/completions?api-version=2024-10-21";
    private const string LimitedKey = "limited-key-0123456789";
    private const string OtherKey = "other-key-0123456789";

    private static Dictionary<string, string?> Settings(SimulatorHost sims, long tokensPerMinute)
    {
        var settings = Simulators.GatewaySettings(sims);
        settings.Remove("Gateway:AllowAnonymous");
        settings["Gateway:Consumers:limited:Keys:0"] = LimitedKey;
        settings["Gateway:Consumers:limited:TokensPerMinute"] = tokensPerMinute.ToString(System.Globalization.CultureInfo.InvariantCulture);
        settings["Gateway:Consumers:limited:RequestsPerMinute"] = "1000";
        settings["Gateway:Consumers:other:Keys:0"] = OtherKey;
        return settings;
    }

    internal static async Task<HttpResponseMessage> ChatAsync(GatewayTestHost gateway, string key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, ChatPath) { Content = GatewayRoutingTests.Chat(maxTokens: 100) };
        request.Headers.Add("api-key", key);
        return await gateway.Client.SendAsync(request);
    }

    [Fact]
    public async Task ConsumerOverItsTpmGets429WithHeadersWhileAnotherConsumerIsUnaffected()
    {
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("a")]);
        await using var gateway = await StartGatewayAsync(Settings(sims, tokensPerMinute: 1_000));

        var served = 0;
        HttpResponseMessage? refused = null;
        for (var i = 0; i < 20 && refused is null; i++)
        {
            var response = await ChatAsync(gateway, LimitedKey);
            if (response.StatusCode == HttpStatusCode.OK)
            {
                served++;
                var remaining = long.Parse(response.Headers.GetValues("x-ratelimit-remaining-tokens").Single(), System.Globalization.CultureInfo.InvariantCulture);
                Assert.InRange(remaining, 0, 1_000);
            }
            else
            {
                refused = response;
            }
        }

        Assert.NotNull(refused);
        Assert.Equal(HttpStatusCode.TooManyRequests, refused!.StatusCode);
        Assert.InRange(served, 5, 10); // ~100 tokens estimated and charged per request against 1,000
        var retryAfter = int.Parse(refused.Headers.GetValues("retry-after").Single(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(retryAfter, 1, 60);
        Assert.True(refused.Headers.Contains("retry-after-ms"));
        Assert.True(long.Parse(refused.Headers.GetValues("x-ratelimit-remaining-tokens").Single(), System.Globalization.CultureInfo.InvariantCulture) < 200);
        Assert.True(refused.Headers.Contains("x-ratelimit-remaining-requests"));
        var error = await refused.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("429", error.GetProperty("error").GetProperty("code").GetString());
        Assert.Contains("limited", error.GetProperty("error").GetProperty("message").GetString());
        // The refusal was the gateway's: the backend saw only the admitted requests.
        Assert.Equal(served, sims["a"].Stats.Requests);

        for (var i = 0; i < 12; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await ChatAsync(gateway, OtherKey)).StatusCode);
        }
    }

    [Fact]
    public async Task TwoReplicasWithRedisEnforceOneSharedBudget()
    {
        await using var redis = new RedisServerFixture();
        await redis.StartAsync();
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("a")]);
        var settings = Settings(sims, tokensPerMinute: 3_000);
        settings["ConnectionStrings:redis"] = redis.ConnectionString;
        await using var a = await StartGatewayAsync(settings);
        await using var b = await StartGatewayAsync(settings);
        await Wait.UntilAsync(async () => (await a.Client.GetStringAsync("/health")) == "Healthy" && (await b.Client.GetStringAsync("/health")) == "Healthy",
            because: "both replicas connect to Redis");

        // Alternate replicas until both say the budget is spent. Each replica may admit only a small share
        // of the limit between two synchronisations (Gateway:Quotas:MaxUnsyncedShare), so refusals with room
        // left happen along the way; the loop goes on until the remaining count itself is gone, or a deadline.
        var admittedTokens = 0L;
        var exhausted = new bool[2];
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        const int MaxSteps = 450; // 45 s of simulated time from 12:00:05: never past the minute
        for (var i = 0; !(exhausted[0] && exhausted[1]) && DateTime.UtcNow < deadline && i < MaxSteps; i++)
        {
            var replica = i % 2;
            // One synchronisation interval of simulated time per request: the replicas' sync loops tick on this clock,
            // and the window stays the same (MaxSteps bounds the simulated time).
            _clock.Advance(TimeSpan.FromMilliseconds(100));
            using var response = await ChatAsync(replica == 0 ? a : b, LimitedKey);
            if (response.StatusCode == HttpStatusCode.OK)
            {
                var body = await response.Content.ReadFromJsonAsync<JsonElement>();
                admittedTokens += body.GetProperty("usage").GetProperty("total_tokens").GetInt64();
                continue;
            }
            Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
            var remaining = long.Parse(response.Headers.GetValues("x-ratelimit-remaining-tokens").Single(), System.Globalization.CultureInfo.InvariantCulture);
            exhausted[replica] |= remaining < 150;
        }

        Assert.True(exhausted[0] && exhausted[1], "both replicas reach the end of the budget");
        // Counted per replica, the two would admit about twice the budget; shared, they stay near it.
        Assert.InRange(admittedTokens, 2_400, 3_300);
    }
}
