using AoaiAspire.ServiceDefaults.Health;
using AoaiAspire.ServiceDefaults.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// The Aspire ServiceDefaults, built from the packages this project's feed has: OpenTelemetry
/// (core and OTLP exporter), health checks, the standard resilience handler on Polly.Core and
/// configuration-based service discovery. See docs/service-defaults.md.
/// </summary>
public static class Extensions
{
    /// <summary>
    /// Adds OpenTelemetry (OTLP export when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set), the
    /// <c>self</c> liveness check, service discovery, and standard resilience plus service discovery
    /// on every <c>IHttpClientFactory</c> client.
    /// </summary>
    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.ConfigureOpenTelemetry();
        builder.AddDefaultHealthChecks();

        builder.Services.AddServiceDiscovery();
        builder.Services.ConfigureHttpClientDefaults(http =>
        {
            http.AddStandardResilienceHandler();
            http.AddServiceDiscovery();
        });

        // The exporter has its own timeout and retry; see TelemetryDefaults.OtlpExporterHttpClientNames.
        foreach (var name in TelemetryDefaults.OtlpExporterHttpClientNames)
        {
            builder.Services.AddHttpClient(name).RemoveStandardResilienceHandler();
        }

        return builder;
    }

    /// <summary>
    /// Logs (formatted message and scopes), metrics and traces through the OpenTelemetry SDK;
    /// exported over OTLP only when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set.
    /// </summary>
    public static TBuilder ConfigureOpenTelemetry<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        var services = builder.Services;
        var applicationName = builder.Environment.ApplicationName;
        string[] ownNames = string.IsNullOrWhiteSpace(applicationName) ? [] : [applicationName];

        services.AddOptions<ServiceDefaultsTelemetryOptions>().BindConfiguration(ServiceDefaultsTelemetryOptions.SectionName);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IStartupFilter, HealthProbeTraceFilter>());

        // With nowhere to send telemetry, build no providers at all: otherwise every request would still create and
        // record activities and aggregate metrics that nobody reads, which is most of a proxy's per-request CPU.
        // Listeners attached directly (tests, dotnet-counters, dotnet-trace) work either way.
        var exporting = !string.IsNullOrWhiteSpace(builder.Configuration[TelemetryDefaults.OtlpEndpointKey]);
        if (!exporting && !string.Equals(builder.Configuration[TelemetryDefaults.AlwaysOnKey], "true", StringComparison.OrdinalIgnoreCase))
        {
            return builder;
        }

        var otel = new ServiceDefaultsOpenTelemetryBuilder(services)
            .WithLogging(configureBuilder: null, configureOptions: logging =>
            {
                logging.IncludeFormattedMessage = true;
                logging.IncludeScopes = true;
            })
            .WithMetrics(metrics => metrics
                .AddMeter([.. TelemetryDefaults.Meters, .. ownNames]))
            .WithTracing(tracing => tracing
                .AddSource([.. TelemetryDefaults.Sources, .. ownNames]));

        // The app's own names are read when the providers are built, so apps may add them after this call.
        services.ConfigureOpenTelemetryMeterProvider((sp, metrics) =>
            metrics.AddMeter([.. sp.GetRequiredService<IOptions<ServiceDefaultsTelemetryOptions>>().Value.Meters]));
        services.ConfigureOpenTelemetryTracerProvider((sp, tracing) =>
            tracing.AddSource([.. sp.GetRequiredService<IOptions<ServiceDefaultsTelemetryOptions>>().Value.Sources]));

        // The SDK's default resource reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; without
        // either naming the service it would report "unknown_service:dotnet", so name it after the app.
        if (ownNames.Length > 0 && !NamesService(builder.Configuration))
        {
            otel.ConfigureResource(resource => resource.AddService(applicationName, autoGenerateServiceInstanceId: false));
        }

        if (exporting)
        {
            // Reads OTEL_EXPORTER_OTLP_ENDPOINT/PROTOCOL/HEADERS (grpc by default; http/protobuf posts to
            // {endpoint}/v1/traces, /v1/metrics, /v1/logs) for all three signals.
            otel.UseOtlpExporter();
        }

        return builder;
    }

    /// <summary>
    /// True when telemetry leaves the process (<c>OTEL_EXPORTER_OTLP_ENDPOINT</c> set, or the always-on switch): only then
    /// are OpenTelemetry providers built, by this class and by client integrations (Redis tracing) alike.
    /// </summary>
    public static bool IsTelemetryExported(this Microsoft.Extensions.Configuration.IConfiguration configuration)
        => !string.IsNullOrWhiteSpace(configuration[TelemetryDefaults.OtlpEndpointKey])
            || string.Equals(configuration[TelemetryDefaults.AlwaysOnKey], "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>Adds the <c>self</c> check tagged <c>live</c>: the process answers, so it need not be restarted.</summary>
    public static TBuilder AddDefaultHealthChecks<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddHealthChecks()
            .AddCheck("self", () => HealthCheckResult.Healthy(), [HealthEndpoints.LiveTag]);
        return builder;
    }

    /// <summary>
    /// Adds the app's own meter and activity source names to what is exported
    /// (<see cref="ServiceDefaultsTelemetryOptions"/>).
    /// </summary>
    public static TBuilder AddServiceDefaultsTelemetry<TBuilder>(this TBuilder builder, IEnumerable<string>? meters = null, IEnumerable<string>? sources = null)
        where TBuilder : IHostApplicationBuilder
    {
        var meterNames = meters?.ToArray() ?? [];
        var sourceNames = sources?.ToArray() ?? [];
        builder.Services.Configure<ServiceDefaultsTelemetryOptions>(options =>
        {
            foreach (var meter in meterNames)
            {
                options.Meters.Add(meter);
            }

            foreach (var source in sourceNames)
            {
                options.Sources.Add(source);
            }
        });
        return builder;
    }

    /// <summary>
    /// Maps <c>/health</c> (every check; Healthy and Degraded 200 with the status as the body,
    /// Unhealthy 503) and <c>/alive</c> (checks tagged <c>live</c>).
    /// </summary>
    /// <remarks>
    /// The template maps these only in Development, because health output can reveal details. These
    /// services run in containers behind Azure Container Apps liveness and readiness probes, which
    /// need the endpoints in every environment; the default writer returns only the status word.
    /// The endpoints are kept out of traces (<see cref="HealthProbeTraceFilter"/>) and out of the
    /// HTTP request metrics, so probes every few seconds do not swamp real traffic.
    /// </remarks>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        app.MapHealthChecks(HealthEndpoints.HealthPath).DisableHttpMetrics();
        app.MapHealthChecks(HealthEndpoints.AlivePath, new HealthCheckOptions
        {
            Predicate = registration => registration.Tags.Contains(HealthEndpoints.LiveTag),
        }).DisableHttpMetrics();
        return app;
    }

    private static bool NamesService(Microsoft.Extensions.Configuration.IConfiguration configuration)
    {
        if (!string.IsNullOrWhiteSpace(configuration["OTEL_SERVICE_NAME"]))
        {
            return true;
        }

        var attributes = configuration["OTEL_RESOURCE_ATTRIBUTES"];
        return attributes is not null
            && attributes.Split(',').Any(a => a.Split('=', 2)[0].Trim() == "service.name");
    }
}
