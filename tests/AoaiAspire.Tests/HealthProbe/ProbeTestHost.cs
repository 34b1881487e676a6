using AoaiAspire.HealthProbe;
using AoaiAspire.HealthProbe.Status;
using AoaiAspire.Simulator;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AoaiAspire.Tests.HealthProbe;

/// <summary>A real health probe on a free loopback port, started by its own start-up code, configured from a dictionary.</summary>
internal sealed class ProbeTestHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ProbeTestHost(WebApplication app, Uri address)
    {
        _app = app;
        Client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(30) };
    }

    public HttpClient Client { get; }
    public IServiceProvider Services => _app.Services;

    public static async Task<ProbeTestHost> StartAsync(IDictionary<string, string?> settings, ILoggerProvider? logs = null)
    {
        var app = Build(settings, logs);
        return new ProbeTestHost(app, await LoopbackApp.ListenAsync(app));
    }

    public static WebApplication Build(IDictionary<string, string?> settings, ILoggerProvider? logs = null)
    {
        // The probe's own start-up (HealthProbeExtensions, as Program.cs calls it), on a free port.
        var builder = LoopbackApp.CreateBuilder(settings, applicationName: typeof(HealthProbeExtensions).Assembly.GetName().Name!, settingsOnly: true, logs: logs);
        builder.AddServiceDefaults();
        builder.AddHealthProbe();
        var app = builder.Build();
        app.MapHealthProbe();
        return app;
    }

    /// <summary>
    /// Probe settings for the given accounts: a short interval, their keys, and Redis when given. The timeout is as
    /// long as the interval allows, so a first request slowed by JIT on a busy machine is not called unreachable.
    /// </summary>
    public static Dictionary<string, string?> Settings(SimulatorHost simulators, string? redis, TimeSpan? interval = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["HealthProbe:Interval"] = (interval ?? TimeSpan.FromMilliseconds(500)).ToString("c", System.Globalization.CultureInfo.InvariantCulture),
            ["HealthProbe:Timeout"] = (interval ?? TimeSpan.FromMilliseconds(500)).ToString("c", System.Globalization.CultureInfo.InvariantCulture),
        };
        if (redis is not null)
        {
            settings["ConnectionStrings:redis"] = redis;
        }
        foreach (var account in simulators.Accounts)
        {
            settings[$"Gateway:Backends:{account.Name}:Endpoint"] = account.Endpoint.AbsoluteUri;
            settings[$"Gateway:Backends:{account.Name}:ApiKey"] = account.Options.ApiKey;
            settings[$"Gateway:Backends:{account.Name}:Deployments:chat"] = "chat";
        }
        return settings;
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
