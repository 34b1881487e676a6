using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace AoaiAspire.Tests.ServiceDefaults;

public sealed class HealthEndpointsTests
{
    [Theory]
    [InlineData(HealthStatus.Healthy, HttpStatusCode.OK, "Healthy")]
    [InlineData(HealthStatus.Degraded, HttpStatusCode.OK, "Degraded")]
    [InlineData(HealthStatus.Unhealthy, HttpStatusCode.ServiceUnavailable, "Unhealthy")]
    public async Task HealthReportsEveryCheck_AliveOnlyLiveChecks(HealthStatus dependency, HttpStatusCode expectedHealth, string expectedBody)
    {
        await using var server = await LoopbackApp.StartAsync(
            app => app.MapDefaultEndpoints(),
            builder =>
            {
                builder.AddServiceDefaults();
                builder.Services.AddHealthChecks().AddCheck("dependency", () => new HealthCheckResult(dependency));
            });
        using var client = new HttpClient { BaseAddress = server.Address };

        using var health = await client.GetAsync("/health");
        using var alive = await client.GetAsync("/alive");

        Assert.Equal(expectedHealth, health.StatusCode);
        Assert.Equal(expectedBody, await health.Content.ReadAsStringAsync(TestDeadline.Token));
        Assert.Equal(HttpStatusCode.OK, alive.StatusCode);
        Assert.Equal("Healthy", await alive.Content.ReadAsStringAsync(TestDeadline.Token));
    }

    [Fact]
    public async Task EndpointsAreMappedOutsideDevelopment()
    {
        await using var server = await LoopbackApp.StartAsync(app => app.MapDefaultEndpoints(), builder => builder.AddServiceDefaults());
        using var client = new HttpClient { BaseAddress = server.Address };

        Assert.Equal("Production", server.App.Environment.EnvironmentName);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health")).StatusCode);
    }
}
