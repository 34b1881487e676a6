using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using AoaiAspire.Simulator;
using AoaiAspire.Tests.Common;
using Microsoft.Extensions.DependencyInjection;
using static AoaiAspire.Tests.Status.StatusTestKit;

namespace AoaiAspire.Tests.Status;

/// <summary><c>GET /admin/backends</c> and <c>/admin/usage</c> on a real gateway in front of simulated regions.</summary>
public sealed class AdminBackendsTests
{
    [Theory]
    [InlineData(null)]
    [InlineData("not-the-admin-key-at-all")]
    [InlineData("consumer-key-web-app")]
    public async Task AdminEndpointsRefuseAMissingOrWrongKeyWithAnAzureOpenAiError(string? key)
    {
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("a")]);
        await using var gateway = await GatewayTestHost.StartAsync(Settings(sims, [1]));

        foreach (var path in new[] { "/admin/backends", "/admin/usage" })
        {
            using var response = await GetAdminAsync(gateway.Client, path, key);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
            var error = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error");
            Assert.Equal("401", error.GetProperty("code").GetString());
            Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
        }
    }

    [Fact]
    public async Task AdminKeyAsBearerTokenIsAcceptedToo()
    {
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("a")]);
        await using var gateway = await GatewayTestHost.StartAsync(Settings(sims, [1]));

        using var request = new HttpRequestMessage(HttpMethod.Get, "/admin/backends");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);
        using var response = await gateway.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("no-store", response.Headers.CacheControl?.ToString());
    }

    [Fact]
    public async Task EveryBackendIsListedWithItsPriorityAndRoutesInPriorityOrder()
    {
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("eastus"), Simulators.Account("eastus2"), Simulators.Account("canadaeast")]);
        await using var gateway = await GatewayTestHost.StartAsync(Settings(sims, [1, 1, 2]));

        var report = await BackendsAsync(gateway.Client);

        Assert.True(DateTimeOffset.Parse(report.GetProperty("generatedAt").GetString()!, CultureInfo.InvariantCulture) > DateTimeOffset.UtcNow.AddMinutes(-1));
        var backends = report.GetProperty("backends").EnumerateArray().ToDictionary(b => b.GetProperty("name").GetString()!, b => b);
        Assert.Equal(["canadaeast", "eastus", "eastus2"], backends.Keys.Order());
        Assert.Equal(1, backends["eastus"].GetProperty("priority").GetInt32());
        Assert.Equal(1, backends["eastus2"].GetProperty("priority").GetInt32());
        Assert.Equal(2, backends["canadaeast"].GetProperty("priority").GetInt32());
        foreach (var (name, backend) in backends)
        {
            Assert.Equal("available", backend.GetProperty("state").GetString());
            Assert.Equal(JsonValueKind.Null, backend.GetProperty("throttledUntil").ValueKind);
            Assert.Equal(sims[name].Endpoint.Authority, backend.GetProperty("endpoint").GetString());
            Assert.Equal(["chat", "embeddings"], backend.GetProperty("deployments").EnumerateArray().Select(d => d.GetProperty("deployment").GetString()));
        }
        var chat = report.GetProperty("routes").EnumerateArray().Single(r => r.GetProperty("deployment").GetString() == "chat");
        Assert.Equal(["eastus", "eastus2", "canadaeast"], chat.GetProperty("candidates").EnumerateArray().Select(c => c.GetProperty("backend").GetString()));
    }

    [Fact]
    public async Task ThrottledBackendShowsAsThrottledUntilAFutureTime()
    {
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("primary"), Simulators.Account("secondary")]);
        await using var gateway = await GatewayTestHost.StartAsync(Settings(sims, [1, 2]));
        sims["primary"].Faults = new FaultOptions { ForceThrottle = TimeSpan.FromSeconds(60) };

        using var response = await gateway.Client.SendAsync(Chat(Consumers[0].Key));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var report = await BackendsAsync(gateway.Client);
        var primary = Backend(report, "primary");
        Assert.Equal("throttled", primary.GetProperty("state").GetString());
        var until = DateTimeOffset.Parse(primary.GetProperty("throttledUntil").GetString()!, CultureInfo.InvariantCulture);
        Assert.True(until > DateTimeOffset.UtcNow, $"throttledUntil {until:O} is in the future");
        Assert.Equal(1, primary.GetProperty("throttles").GetInt64());

        var secondary = Backend(report, "secondary");
        Assert.Equal("available", secondary.GetProperty("state").GetString());
        var chat = secondary.GetProperty("deployments").EnumerateArray().Single(d => d.GetProperty("deployment").GetString() == "chat");
        Assert.True(chat.GetProperty("remainingTokens").GetInt64() > 0, "the simulator's x-ratelimit-remaining-tokens is shown");

        var throttled = report.GetProperty("events").EnumerateArray().Single();
        Assert.Equal("primary", throttled.GetProperty("backend").GetString());
        Assert.Equal("throttled", throttled.GetProperty("kind").GetString());
        Assert.Equal("local", throttled.GetProperty("source").GetString());

        var byConsumer = report.GetProperty("usage").GetProperty("byConsumer").EnumerateArray().Single();
        Assert.Equal(Consumers[0].Name, byConsumer.GetProperty("name").GetString());
        Assert.True(byConsumer.GetProperty("totalTokens").GetInt64() > 0);
        var byBackend = report.GetProperty("usage").GetProperty("byBackend").EnumerateArray().Single();
        Assert.Equal("secondary", byBackend.GetProperty("name").GetString());
    }

    [Fact]
    public async Task NoKeyFromConfigurationAppearsInTheAdminJson()
    {
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("a"), Simulators.Account("b")]);
        await using var gateway = await GatewayTestHost.StartAsync(Settings(sims, [1, 2]));
        sims["a"].Faults = new FaultOptions { ForceThrottle = TimeSpan.FromSeconds(60) };
        foreach (var (_, key) in Consumers)
        {
            using var response = await gateway.Client.SendAsync(Chat(key));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        foreach (var path in new[] { "/admin/backends", "/admin/usage" })
        {
            using var response = await GetAdminAsync(gateway.Client, path, AdminKey);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var json = await response.Content.ReadAsStringAsync(TestDeadline.Token);
            Assert.All(Secrets(sims), secret => Assert.DoesNotContain(secret, json, StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task WithoutAdminKeyOutsideDevelopmentTheStatusEndpointsAreAbsent()
    {
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("a")]);
        await using var gateway = await GatewayTestHost.StartAsync(Settings(sims, [1], adminKey: null), environment: "Production");

        foreach (var path in new[] { "/admin/backends", "/admin/usage", "/status" })
        {
            using var response = await GetAdminAsync(gateway.Client, path, "anything-at-all-here");
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            var error = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error");
            Assert.Equal("404", error.GetProperty("code").GetString());
        }
    }

    [Fact]
    public async Task WithoutAdminKeyInDevelopmentTheStatusEndpointsAreOpen()
    {
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("a")]);
        await using var gateway = await GatewayTestHost.StartAsync(Settings(sims, [1], adminKey: null), environment: "Development");

        using var backends = await GetAdminAsync(gateway.Client, "/admin/backends", key: null);
        Assert.Equal(HttpStatusCode.OK, backends.StatusCode);
        using var page = await GetAdminAsync(gateway.Client, "/status", key: null);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
    }

    [Fact]
    public async Task StatusPageIsServedWithoutKeyHoldsNoDataAndAllowsOnlyItsOwnScript()
    {
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("secret-region-name")]);
        await using var gateway = await GatewayTestHost.StartAsync(Settings(sims, [1]));

        using var response = await gateway.Client.GetAsync("/status");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        var html = await response.Content.ReadAsStringAsync(TestDeadline.Token);
        Assert.DoesNotContain("secret-region-name", html, StringComparison.Ordinal);
        Assert.DoesNotContain("http://", html.Replace("http://www.w3.org/2000/svg", "", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.DoesNotContain("https://", html, StringComparison.Ordinal);
        var policy = string.Join(" ", response.Headers.GetValues("Content-Security-Policy"));
        Assert.Contains("script-src 'sha256-", policy, StringComparison.Ordinal);
        Assert.DoesNotContain("unsafe-inline", policy, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UsageSeriesCountRequestsAndTokensPerBackendAndConsumer()
    {
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("a")]);
        await using var gateway = await GatewayTestHost.StartAsync(Settings(sims, [1]));
        for (var i = 0; i < 3; i++)
        {
            using var response = await gateway.Client.SendAsync(Chat(Consumers[1].Key));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        gateway.Services.GetRequiredService<AoaiAspire.Gateway.Status.UsageHistory>().Sample();

        using var usage = await GetAdminAsync(gateway.Client, "/admin/usage", AdminKey);
        var report = await usage.Content.ReadFromJsonAsync<JsonElement>();

        Assert.Equal(5, report.GetProperty("intervalSeconds").GetInt32());
        var backend = report.GetProperty("backends").EnumerateArray().Single(s => s.GetProperty("name").GetString() == "a");
        Assert.Equal(3, backend.GetProperty("requests").EnumerateArray().Sum(v => v.GetInt64()));
        var consumer = report.GetProperty("consumers").EnumerateArray().Single();
        Assert.Equal(Consumers[1].Name, consumer.GetProperty("name").GetString());
        Assert.True(consumer.GetProperty("tokens").EnumerateArray().Sum(v => v.GetInt64()) > 0);
    }
}
