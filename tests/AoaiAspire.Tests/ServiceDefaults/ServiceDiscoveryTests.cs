using System.Net.Http.Json;
using AoaiAspire.ServiceDefaults.ServiceDiscovery;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace AoaiAspire.Tests.ServiceDefaults;

public sealed class ServiceDiscoveryTests
{
    private static ServiceEndpointResolver Resolver(params (string Key, string Value)[] settings) =>
        new(new ConfigurationBuilder().AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value))).Build());

    [Fact]
    public void HttpsPlusHttp_BothConfigured_ResolvesHttps()
    {
        var resolver = Resolver(("services:gateway:http:0", "http://localhost:5000"), ("services:gateway:https:0", "https://localhost:5001"));

        Assert.Equal(new Uri("https://localhost:5001/openai/deployments?api-version=1"), resolver.Resolve("https+http://gateway/openai/deployments?api-version=1"));
    }

    [Fact]
    public void HttpsPlusHttp_OnlyHttpConfigured_ResolvesHttp()
    {
        var resolver = Resolver(("services:gateway:http:0", "http://localhost:5000"));

        Assert.Equal(new Uri("http://localhost:5000/status"), resolver.Resolve("https+http://gateway/status"));
    }

    [Fact]
    public void SingleScheme_UsesTheEndpointOfThatName()
    {
        var resolver = Resolver(("services:gateway:http:0", "http://localhost:5000"), ("services:gateway:https:0", "https://localhost:5001"));

        Assert.Equal(new Uri("http://localhost:5000/"), resolver.Resolve("http://gateway"));
        Assert.Equal(new Uri("https://localhost:5001/"), resolver.Resolve("https://gateway"));
    }

    [Fact]
    public void NamedEndpoint_PrefersTheFirstSchemeListed()
    {
        var resolver = Resolver(
            ("services:gateway:admin:0", "http://localhost:6000"),
            ("services:gateway:admin:1", "https://localhost:6001"),
            ("services:gateway:http:0", "http://localhost:5000"));

        Assert.Equal(new Uri("https://localhost:6001/x"), resolver.Resolve("https+http://_admin.gateway/x"));
        Assert.Equal(new Uri("http://localhost:6000/x"), resolver.Resolve("http://_admin.gateway/x"));
    }

    [Fact]
    public void LowestIndexWins_AndHostPortValuesTakeTheScheme()
    {
        var resolver = Resolver(("services:simulator:http:1", "localhost:7001"), ("services:simulator:http:0", "localhost:7000"));

        Assert.Equal(new Uri("http://localhost:7000/"), resolver.Resolve("http://simulator"));
    }

    [Fact]
    public void UnknownService_ResolvesToNull()
    {
        var resolver = Resolver(("services:gateway:http:0", "http://localhost:5000"));

        Assert.Null(resolver.Resolve("http://example.org/path"));
        Assert.Null(resolver.Resolve("https+http://billing"));
        Assert.Null(resolver.Resolve("https://gateway"));
    }

    [Fact]
    public async Task HandlerSendsServiceNameRequestsToTheConfiguredHost()
    {
        await using var server = await LoopbackApp.StartAsync(app =>
            app.MapGet("/echo", (HttpContext context) => new { path = context.Request.Path.Value, query = context.Request.QueryString.Value }));

        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["services:gateway:http:0"] = server.Address.ToString(),
        });
        builder.AddServiceDefaults();
        builder.Services.AddHttpClient("gateway", c => c.BaseAddress = new Uri("https+http://gateway"));
        using var host = builder.Build();
        var client = host.Services.GetRequiredService<IHttpClientFactory>().CreateClient("gateway");

        using var response = await client.GetAsync("/echo?x=1");

        response.EnsureSuccessStatusCode();
        var echo = await response.Content.ReadFromJsonAsync<Echo>();
        Assert.Equal("/echo", echo!.Path);
        Assert.Equal("?x=1", echo.Query);
        Assert.Equal(new Uri("https+http://gateway/echo?x=1"), response.RequestMessage!.RequestUri);
    }

    [Fact]
    public async Task HandlerLeavesUnknownHostsUntouched()
    {
        await using var server = await LoopbackApp.StartAsync(app => app.MapGet("/", () => "direct"));

        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["services:gateway:http:0"] = "http://127.0.0.1:1",
        });
        builder.AddServiceDefaults();
        using var host = builder.Build();
        var client = host.Services.GetRequiredService<IHttpClientFactory>().CreateClient();

        Assert.Equal("direct", await client.GetStringAsync(server.Address));
    }

    [Fact]
    public async Task HandlerNamesTheMissingKeyForAnUnresolvedHttpsPlusHttp()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.AddServiceDefaults();
        using var host = builder.Build();
        var client = host.Services.GetRequiredService<IHttpClientFactory>().CreateClient();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => client.GetAsync("https+http://billing/"));
        Assert.Contains("services:billing:https:0", error.Message, StringComparison.Ordinal);
    }

    private sealed record Echo(string Path, string Query);
}
