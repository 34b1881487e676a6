using System.Globalization;
using System.Net;
using AoaiAspire.Simulator;
using static AoaiAspire.Tests.Simulator.SimulatorTestAccounts;

namespace AoaiAspire.Tests.Simulator;

public sealed class RateLimitTests
{
    [Fact]
    public async Task OverTheTokenLimitIs429WithRetryAfterAndRemainingTokensCountDownBeforeIt()
    {
        // Each request is charged its prompt (24 characters: 6, + 4 per message + 3 = 13) plus max_tokens (100): 113 tokens; 400 TPM admits three.
        var (host, client) = await StartAsync(a => a.Deployments["chat"] = new SimulatedDeploymentOptions { TokensPerMinute = 400, RequestsPerMinute = 600 });
        await using var hostScope = host;
        using var clientScope = client;
        const string body = """{"messages":[{"role":"user","content":"Say hello to the gateway"}],"max_tokens":100}""";

        var remaining = new List<int>();
        for (var i = 0; i < 3; i++)
        {
            using var ok = await client.SendAsync(Post(ChatPath, body));
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
            remaining.Add(int.Parse(ok.Header("x-ratelimit-remaining-tokens"), CultureInfo.InvariantCulture));
            Assert.NotEmpty(ok.Header("x-ratelimit-remaining-requests"));
        }

        using var throttled = await client.SendAsync(Post(ChatPath, body));

        Assert.Equal([400 - 112, 400 - 224, 400 - 336], remaining); // 12 prompt tokens (o200k) + max_tokens 100
        Assert.Equal(HttpStatusCode.TooManyRequests, throttled.StatusCode);
        var retryAfter = int.Parse(throttled.Header("retry-after"), CultureInfo.InvariantCulture);
        var retryAfterMs = long.Parse(throttled.Header("retry-after-ms"), CultureInfo.InvariantCulture);
        Assert.InRange(retryAfter, 1, 60);
        Assert.InRange(retryAfterMs, 1, 60_000);
        Assert.True(retryAfter * 1000 >= retryAfterMs, "retry-after is retry-after-ms rounded up to whole seconds");
        Assert.InRange(int.Parse(throttled.Header("x-ratelimit-reset-tokens"), CultureInfo.InvariantCulture), 1, 60);
        Assert.NotEmpty(throttled.Header("x-ratelimit-reset-requests"));
        Assert.Equal("429", await SimulatorEndpointTests.ErrorCodeAsync(throttled));
        Assert.Contains("token rate limit", await throttled.Content.ReadAsStringAsync(TestDeadline.Token));
        Assert.Contains("2024-10-21", await throttled.Content.ReadAsStringAsync(TestDeadline.Token));
        Assert.Equal(1, host.Accounts[0].Stats.Throttled);
        Assert.Equal(3, host.Accounts[0].Stats.Succeeded);
        Assert.Equal(4, host.Accounts[0].Stats.Requests);
    }

    [Fact]
    public async Task MoreThanASixthOfTheRpmInTenSecondsIs429CallRateLimit()
    {
        var (host, client) = await StartAsync(a => a.Deployments["chat"] = new SimulatedDeploymentOptions { TokensPerMinute = 1_000_000, RequestsPerMinute = 12 });
        await using var hostScope = host;
        using var clientScope = client;

        using var first = await client.SendAsync(Post(ChatPath, SimpleChat));
        using var second = await client.SendAsync(Post(ChatPath, SimpleChat));
        using var third = await client.SendAsync(Post(ChatPath, SimpleChat));

        Assert.Equal("1", first.Header("x-ratelimit-remaining-requests"));
        Assert.Equal("0", second.Header("x-ratelimit-remaining-requests"));
        Assert.Equal(HttpStatusCode.TooManyRequests, third.StatusCode);
        Assert.Contains("call rate limit", await third.Content.ReadAsStringAsync(TestDeadline.Token));
        Assert.InRange(int.Parse(third.Header("retry-after"), CultureInfo.InvariantCulture), 1, 10);
    }

    [Fact]
    public async Task WithoutMaxTokensTheDeploymentDefaultIsCharged()
    {
        var (host, client) = await StartAsync(a => a.Deployments["chat"] = new SimulatedDeploymentOptions { TokensPerMinute = 1000, DefaultMaxTokensCharge = 648 });
        await using var hostScope = host;
        using var clientScope = client;
        const string body = """{"messages":[{"role":"user","content":"hi"}]}""";

        using var first = await client.SendAsync(Post(ChatPath, body));
        using var second = await client.SendAsync(Post(ChatPath, body));

        Assert.Equal((1000 - 648 - 8).ToString(CultureInfo.InvariantCulture), first.Header("x-ratelimit-remaining-tokens"));
        Assert.Equal(HttpStatusCode.TooManyRequests, second.StatusCode);
    }

    [Fact]
    public async Task EmbeddingsAreChargedTheirInputOnly()
    {
        var (host, client) = await StartAsync();
        await using var hostScope = host;
        using var clientScope = client;

        using var response = await client.SendAsync(Post(EmbeddingsPath, """{"input":"0123456789abcdef"}"""));

        Assert.Equal((100_000 - 5).ToString(CultureInfo.InvariantCulture), response.Header("x-ratelimit-remaining-tokens"));
    }
}
