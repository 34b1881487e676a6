using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace AoaiAspire.Tests.ServiceDefaults;

/// <summary>
/// What AddServiceDefaults gives <c>IHttpClientFactory</c> clients through the real packages (service discovery, the
/// standard resilience handler), and what it must not give the gateway's upstream forwarding.
/// </summary>
public sealed class ServiceDefaultsHttpClientTests
{
    private static ServiceProvider ClientServices(IDictionary<string, string?> settings)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddServiceDefaults();
        return builder.Services.BuildServiceProvider();
    }

    [Fact]
    public async Task FactoryClientReachesAnAppServiceByItsName()
    {
        await using var target = await LoopbackApp.StartAsync(app => app.MapGet("/ping", () => "pong"));
        // The shape the AppHost's WithReference writes: services__{name}__{endpoint}__0.
        using var services = ClientServices(new Dictionary<string, string?> { ["services:target:http:0"] = target.Address.AbsoluteUri });
        using var client = services.GetRequiredService<IHttpClientFactory>().CreateClient();

        Assert.Equal("pong", await client.GetStringAsync("http://target/ping", TestDeadline.Token));
    }

    [Fact]
    public async Task FactoryClientRetriesATransient503()
    {
        var calls = 0;
        await using var target = await LoopbackApp.StartAsync(app => app.MapGet("/flaky", () =>
            Interlocked.Increment(ref calls) == 1 ? Results.StatusCode(StatusCodes.Status503ServiceUnavailable) : Results.Text("ok")));
        using var services = ClientServices(new Dictionary<string, string?>());
        using var client = services.GetRequiredService<IHttpClientFactory>().CreateClient();

        using var response = await client.GetAsync(new Uri(target.Address, "/flaky"), TestDeadline.Token);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, Volatile.Read(ref calls));
    }

    [Fact]
    public async Task GatewayAttemptsAnUpstream503ExactlyOncePerBackend()
    {
        // ServiceDefaults would add a retry (and a circuit breaker) to factory clients; the forwarder must have none:
        // choosing the next backend is the gateway's job, so each backend sees the caller's request once.
        await using var first = await RecordingBackend.StartAsync(StatusCodes.Status503ServiceUnavailable);
        await using var second = await RecordingBackend.StartAsync(StatusCodes.Status503ServiceUnavailable);
        await using var gateway = await GatewayTestHost.StartAsync(GatewayTestHost.Backends(("first", first.Endpoint, "k1", 1), ("second", second.Endpoint, "k2", 2)));

        using var response = await gateway.Client.PostAsync("/openai/deployments/chat/chat/completions?api-version=2024-10-21", Gateway.GatewayRoutingTests.Chat());

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Single(first.Requests);
        Assert.Single(second.Requests);
    }
}
