using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AoaiAspire.Tests.Common;

/// <summary>
/// A real Kestrel app on 127.0.0.1 with a port the OS picks; stopped and disposed with the test. Every host the tests
/// start (the gateway, the probe, fake backends, apps of the service-defaults tests) is built and started here.
/// </summary>
internal sealed class LoopbackApp : IAsyncDisposable
{
    private LoopbackApp(WebApplication app, Uri address)
    {
        App = app;
        Address = address;
    }

    public WebApplication App { get; }

    public Uri Address { get; }

    /// <summary>
    /// A builder that listens on a free loopback port and logs nowhere (but to <paramref name="logs"/>).
    /// <paramref name="settingsOnly"/>: the configuration is <paramref name="settings"/> and nothing else (no
    /// appsettings, environment variables or command line), so the machine cannot change what a test sees.
    /// <paramref name="slim"/>: <see cref="WebApplication.CreateSlimBuilder(WebApplicationOptions)"/>, for a fake backend.
    /// </summary>
    public static WebApplicationBuilder CreateBuilder(
        IDictionary<string, string?>? settings = null,
        string environment = "Production",
        string applicationName = "AoaiAspire.Tests.LoopbackApp",
        bool settingsOnly = false,
        ILoggerProvider? logs = null,
        bool slim = false)
    {
        var options = new WebApplicationOptions { EnvironmentName = environment, ApplicationName = applicationName };
        var builder = slim ? WebApplication.CreateSlimBuilder(options) : WebApplication.CreateBuilder(options);
        if (settingsOnly)
        {
            builder.Configuration.Sources.Clear();
        }
        if (settings is not null)
        {
            builder.Configuration.AddInMemoryCollection(settings);
        }
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        if (logs is not null)
        {
            builder.Logging.AddProvider(logs);
        }
        return builder;
    }

    /// <summary>Starts <paramref name="app"/> (built from <see cref="CreateBuilder"/>) and returns the address it listens on.</summary>
    public static async Task<Uri> ListenAsync(WebApplication app)
    {
        await app.StartAsync();
        return new Uri(app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First());
    }

    public static async Task<LoopbackApp> StartAsync(
        Action<WebApplication> map,
        Action<WebApplicationBuilder>? configure = null,
        IDictionary<string, string?>? settings = null,
        string applicationName = "AoaiAspire.Tests.LoopbackApp")
    {
        var builder = CreateBuilder(settings, applicationName: applicationName);
        configure?.Invoke(builder);
        var app = builder.Build();
        map(app);
        return new LoopbackApp(app, await ListenAsync(app));
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
