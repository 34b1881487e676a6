using System.Net;
using System.Text.Json;
using AoaiAspire.Simulator;
using AoaiAspire.Tests.Gateway;

namespace AoaiAspire.Tests.Quotas;

/// <summary>The fail-closed choice through the gateway, with Redis configured and killed under it.</summary>
public sealed class QuotaFailClosedGatewayTests
{
    private static Task<HttpResponseMessage> ChatAsync(GatewayTestHost gateway, string key) => ConsumerQuotaGatewayTests.ChatAsync(gateway, key);

    [Fact]
    public async Task ConsumerThatFailsClosedGetsAnAoaiShaped503WhileRedisIsDownAndIsServedAgainAfter()
    {
        await using var redis = new RedisServerFixture();
        await redis.StartAsync();
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("a")]);
        var settings = Simulators.GatewaySettings(sims);
        settings.Remove("Gateway:AllowAnonymous");
        settings["ConnectionStrings:redis"] = redis.ConnectionString;
        settings["Gateway:Quotas:WhenRedisDown"] = "FailClosed";
        settings["Gateway:Consumers:strict:Keys:0"] = "strict-key-0123456789";
        settings["Gateway:Consumers:strict:TokensPerMinute"] = "100000";
        settings["Gateway:Consumers:lenient:Keys:0"] = "lenient-key-0123456789";
        settings["Gateway:Consumers:lenient:TokensPerMinute"] = "100000";
        settings["Gateway:Consumers:lenient:QuotaWhenRedisDown"] = "FailOpen";
        await using var gateway = await GatewayTestHost.StartAsync(settings);
        await Wait.UntilAsync(async () => (await ChatAsync(gateway, "strict-key-0123456789")).StatusCode == HttpStatusCode.OK, because: "the strict consumer is served while Redis is up");

        await redis.StopAsync();
        await Wait.UntilAsync(async () => (await ChatAsync(gateway, "strict-key-0123456789")).StatusCode == HttpStatusCode.ServiceUnavailable, because: "the gateway notices Redis is gone");

        using (var refused = await ChatAsync(gateway, "strict-key-0123456789"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            Assert.True(refused.Headers.Contains("retry-after"));
            using var error = JsonDocument.Parse(await refused.Content.ReadAsStringAsync(TestDeadline.Token));
            Assert.Equal("QuotaUnavailable", error.RootElement.GetProperty("error").GetProperty("code").GetString());
        }
        using (var lenient = await ChatAsync(gateway, "lenient-key-0123456789"))
        {
            Assert.Equal(HttpStatusCode.OK, lenient.StatusCode);
        }
        Assert.Equal("Degraded", await gateway.Client.GetStringAsync("/health"));

        await redis.StartAsync();
        await Wait.UntilAsync(async () => (await ChatAsync(gateway, "strict-key-0123456789")).StatusCode == HttpStatusCode.OK, TimeSpan.FromSeconds(30), "the strict consumer is served again once Redis is back");
    }
}
