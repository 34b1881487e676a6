using AoaiAspire.Backends.Redis;
using AoaiAspire.Backends.Upstream;
using AoaiAspire.HealthProbe.Configuration;
using AoaiAspire.HealthProbe.Health;
using AoaiAspire.HealthProbe.Probing;
using AoaiAspire.HealthProbe.Status;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace AoaiAspire.HealthProbe;

/// <summary>The health probe's registrations, one extension per concern (Program.cs reads as the list).</summary>
internal static class HealthProbeExtensions
{
    /// <summary>
    /// Everything the probe registers (after <c>AddServiceDefaults</c>): its options, the shared backend state (Redis when
    /// <c>ConnectionStrings:redis</c> is set), the prober and its worker, and its health check. Program.cs and the tests'
    /// host both start the probe with this.
    /// </summary>
    public static WebApplicationBuilder AddHealthProbe(this WebApplicationBuilder builder)
    {
        builder.AddHealthProbeOptions();
        builder.AddSharedBackendState(tracing: builder.Configuration.IsTelemetryExported());
        builder.AddBackendProbing();
        builder.AddProbeHealthCheck();
        return builder;
    }

    /// <summary>The probe's endpoints: <c>/health</c>, <c>/alive</c> and its status.</summary>
    public static WebApplication MapHealthProbe(this WebApplication app)
    {
        app.MapDefaultEndpoints();
        app.MapProbeStatus();
        return app;
    }

    /// <summary><see cref="HealthProbeOptions"/> from the <c>HealthProbe</c> section, validated at start.</summary>
    public static WebApplicationBuilder AddHealthProbeOptions(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<HealthProbeOptions>()
            .Bind(builder.Configuration.GetSection(HealthProbeOptions.SectionName))
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<HealthProbeOptions>, HealthProbeOptionsValidator>();
        builder.Services.TryAddSingleton(TimeProvider.System);
        return builder;
    }

    /// <summary>The prober, its <c>IHttpClientFactory</c> client and one Entra ID credential, the round, and the worker that runs rounds.</summary>
    public static WebApplicationBuilder AddBackendProbing(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.TryAddSingleton(TimeProvider.System);
        services.AddUpstreamCredentials(sp => sp.GetRequiredService<IOptions<HealthProbeOptions>>().Value.ManagedIdentityClientId);
        ProbeHttpClient.Register(services);
        services.AddSingleton<ProbeHttpClient>();
        services.AddSingleton<BackendProber>();
        services.AddSingleton<ProbeVerdicts>();
        services.AddSingleton<ProbeRound>();
        services.AddSingleton<ProbeTargets>();
        services.AddHostedService<ProbeWorker>();
        return builder;
    }

    /// <summary>Adds the probe's own check to <c>/health</c> (<see cref="ProbeHealthCheck"/>).</summary>
    public static WebApplicationBuilder AddProbeHealthCheck(this WebApplicationBuilder builder)
    {
        builder.Services.AddHealthChecks().AddCheck<ProbeHealthCheck>(ProbeHealthCheck.Name);
        return builder;
    }
}
