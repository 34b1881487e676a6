using AoaiAspire.Gateway;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AoaiAspire.Tests.Common;

/// <summary>A real gateway on a free loopback port, configured like Program.cs but from a dictionary.</summary>
internal sealed class GatewayTestHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private GatewayTestHost(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
        Client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(60) };
    }

    public Uri Address { get; }
    public HttpClient Client { get; }
    public IServiceProvider Services => _app.Services;

    public static async Task<GatewayTestHost> StartAsync(IDictionary<string, string?> settings, string environment = "Production", Action<IServiceCollection>? configureServices = null, ILoggerProvider? logs = null)
    {
        var builder = LoopbackApp.CreateBuilder(settings, environment, typeof(GatewayServiceCollectionExtensions).Assembly.GetName().Name!, settingsOnly: true, logs);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.AddServiceDefaults();
        builder.AddGateway();
        configureServices?.Invoke(builder.Services);
        var app = builder.Build();
        app.MapGatewayPipeline();
        return new GatewayTestHost(app, await LoopbackApp.ListenAsync(app));
    }

    /// <summary>Settings for backends in front of simulated accounts: name → (endpoint, api key, priority).</summary>
    public static Dictionary<string, string?> Backends(params (string Name, Uri Endpoint, string? ApiKey, int Priority)[] backends)
    {
        var settings = new Dictionary<string, string?> { ["Gateway:AllowAnonymous"] = "true" };
        foreach (var (name, endpoint, key, priority) in backends)
        {
            settings[$"Gateway:Backends:{name}:Endpoint"] = endpoint.AbsoluteUri;
            settings[$"Gateway:Backends:{name}:ApiKey"] = key;
            settings[$"Gateway:Backends:{name}:Priority"] = priority.ToString(System.Globalization.CultureInfo.InvariantCulture);
            settings[$"Gateway:Backends:{name}:Deployments:chat"] = "chat";
            settings[$"Gateway:Backends:{name}:Deployments:embeddings"] = "embeddings";
        }
        return settings;
    }

    /// <summary>Stops the gateway the way a platform does (SIGTERM): no new connections, open requests finish up to the shutdown timeout.</summary>
    public Task StopAsync() => _app.StopAsync();

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
