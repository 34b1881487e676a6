using AoaiAspire.ServiceDefaults.Health;
using AoaiAspire.ServiceDefaults.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// The Aspire ServiceDefaults template's wiring with its packages: OpenTelemetry (ASP.NET Core, HttpClient and
/// runtime instrumentation, OTLP export), health checks, Microsoft.Extensions.ServiceDiscovery and the standard
/// resilience handler of Microsoft.Extensions.Http.Resilience on every <c>IHttpClientFactory</c> client. See
/// docs/service-defaults.md.
/// </summary>
public static class Extensions
{
    /// <summary>
    /// Adds OpenTelemetry (only when telemetry is exported, see <see cref="IsTelemetryExported"/>), the <c>self</c>
    /// liveness check, service discovery, and standard resilience plus service discovery on every
    /// <c>IHttpClientFactory</c> client.
    /// </summary>
    /// <remarks>
    /// The gateway's upstream forwarding does not go through <c>IHttpClientFactory</c> (its own long-lived
    /// <c>HttpMessageInvoker</c>), so no generic retry or circuit breaker sits under it: choosing the next backend
    /// is the gateway's job. A client that must see every failure (the health probe's) tunes its standard handler
    /// by name.
    /// </remarks>
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

        // The OTLP exporter's own clients keep their own timeout and retry, and telemetry must not queue behind the
        // app's concurrency limit.
#pragma warning disable EXTEXP0001 // RemoveAllResilienceHandlers is marked experimental; it is the documented opt-out.
        foreach (var name in TelemetryDefaults.OtlpExporterHttpClientNames)
        {
            builder.Services.AddHttpClient(name).RemoveAllResilienceHandlers();
        }
#pragma warning restore EXTEXP0001
        return builder;
    }

    /// <summary>
    /// Logs (formatted message and scopes), metrics and traces through the OpenTelemetry SDK with the template's
    /// instrumentation, exported over OTLP when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set.
    /// </summary>
    /// <remarks>
    /// With nowhere to send telemetry (<see cref="IsTelemetryExported"/> false) nothing is registered: no tracer or
    /// meter provider exists, so the ASP.NET Core and HttpClient activity sources have no listener and no request
    /// creates activities or records tags that nobody reads (measured to matter for a proxy: docs/service-defaults.md).
    /// Listeners attached directly (dotnet-counters, dotnet-trace, tests) work either way.
    /// </remarks>
    public static TBuilder ConfigureOpenTelemetry<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        var services = builder.Services;
        services.AddOptions<ServiceDefaultsTelemetryOptions>().BindConfiguration(ServiceDefaultsTelemetryOptions.SectionName);
        if (!builder.Configuration.IsTelemetryExported())
        {
            QuietHostingDiagnostics(builder);
            return builder;
        }

        var applicationName = builder.Environment.ApplicationName;
        builder.Logging.AddOpenTelemetry(logging =>
        {
            logging.IncludeFormattedMessage = true;
            logging.IncludeScopes = true;
        });
        var otel = services.AddOpenTelemetry()
            .WithMetrics(metrics => metrics
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddMeter(applicationName))
            .WithTracing(tracing => tracing
                .AddSource(applicationName)
                // Health probes every few seconds would swamp real traffic in traces.
                .AddAspNetCoreInstrumentation(aspNetCore => aspNetCore.Filter = context => !IsHealthPath(context.Request.Path))
                .AddHttpClientInstrumentation());

        // The app's own names are read when the providers are built, so apps may add them after this call.
        services.ConfigureOpenTelemetryMeterProvider((sp, metrics) =>
            metrics.AddMeter([.. sp.GetRequiredService<IOptions<ServiceDefaultsTelemetryOptions>>().Value.Meters]));
        services.ConfigureOpenTelemetryTracerProvider((sp, tracing) =>
            tracing.AddSource([.. sp.GetRequiredService<IOptions<ServiceDefaultsTelemetryOptions>>().Value.Sources]));

        // The SDK's default resource reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; without either naming the
        // service it would report "unknown_service:dotnet", so name it after the app.
        if (!string.IsNullOrWhiteSpace(applicationName) && !NamesService(builder.Configuration))
        {
            otel.ConfigureResource(resource => resource.AddService(applicationName, autoGenerateServiceInstanceId: false));
        }

        if (!string.IsNullOrWhiteSpace(builder.Configuration[TelemetryDefaults.OtlpEndpointKey]))
        {
            // Reads OTEL_EXPORTER_OTLP_ENDPOINT/PROTOCOL/HEADERS for all three signals.
            otel.UseOtlpExporter();
        }

        return builder;
    }

    /// <summary>
    /// ASP.NET Core starts an activity and pushes a log scope for every request whenever its hosting diagnostics
    /// logger is enabled at all, even at Critical, where it never writes a request line. With no telemetry exported
    /// and that category configured above Information (the request lines would not be written anyway), it is turned
    /// off so that requests carry neither; a level of Information or below for it, or any prefix of it, is honoured.
    /// </summary>
    private static void QuietHostingDiagnostics(IHostApplicationBuilder builder)
    {
        const string category = "Microsoft.AspNetCore.Hosting.Diagnostics";
        string[] keys = [category, "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore", "Microsoft", "Default"];
        var configured = keys.Select(k => builder.Configuration["Logging:LogLevel:" + k]).FirstOrDefault(v => !string.IsNullOrWhiteSpace(v));
        var level = Enum.TryParse<LogLevel>(configured, ignoreCase: true, out var parsed) ? parsed : LogLevel.Information;
        if (level > LogLevel.Information)
        {
            builder.Logging.AddFilter(category, LogLevel.None);
        }
    }

    private static bool IsHealthPath(PathString path)
        => path.StartsWithSegments(HealthEndpoints.HealthPath) || path.StartsWithSegments(HealthEndpoints.AlivePath);

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
    /// The endpoints are kept out of traces (the ASP.NET Core instrumentation filter above) and out of the
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
