using System.Collections.Concurrent;
using System.Diagnostics;
using AoaiAspire.ServiceDefaults.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace AoaiAspire.Tests.ServiceDefaults;

public sealed class TelemetryTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public void NoEndpoint_NoExporterIsRegistered()
    {
        Assert.False(RegistersOtlpExporter(new Dictionary<string, string?> { ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "" }));
        Assert.True(RegistersOtlpExporter(new Dictionary<string, string?> { ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:4317" }));
    }

    [Theory]
    [InlineData("Default", "Warning", false)]
    [InlineData("Microsoft.AspNetCore", "Error", false)]
    [InlineData("Microsoft.AspNetCore.Hosting", "Information", true)]
    [InlineData("Microsoft.AspNetCore.Hosting.Diagnostics", "Information", true)]
    [InlineData("Microsoft.AspNetCore", "Debug", true)]
    public async Task WithNothingExported_RequestsCarryNoActivityUnlessRequestLinesAreWanted(string category, string level, bool activityExpected)
    {
        var settings = new Dictionary<string, string?> { ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "", ["Logging:LogLevel:" + category] = level };
        await using var app = await LoopbackApp.StartAsync(
            a => a.MapGet("/activity", () => Activity.Current is null ? "none" : "some"),
            builder =>
            {
                builder.Logging.AddProvider(new Microsoft.Extensions.Logging.Testing.FakeLoggerProvider()); // a real app has at least the console
                builder.AddServiceDefaults();
            },
            settings);
        using var client = new HttpClient { BaseAddress = app.Address };

        var answer = await client.GetStringAsync("/activity");

        // ASP.NET Core starts a request activity whenever its hosting diagnostics logger is enabled at any level.
        Assert.Equal(activityExpected ? "some" : "none", answer);
        var hostingLogger = app.App.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Microsoft.AspNetCore.Hosting.Diagnostics");
        Assert.Equal(activityExpected, hostingLogger.IsEnabled(LogLevel.Information));
    }

    [Fact]
    public async Task RequestIsExportedToTheOtlpEndpoint()
    {
        await using var collector = await OtlpCollector.StartAsync();
        await using var app = await StartAppAsync(collector, new Dictionary<string, string?> { ["OTEL_BSP_SCHEDULE_DELAY"] = "100" });
        using var client = new HttpClient { BaseAddress = app.Address };

        (await client.GetAsync("/ping")).EnsureSuccessStatusCode();

        await Wait.UntilAsync(() => collector.Count("/v1/traces") > 0, Deadline, "a trace export POST");
        Assert.All(collector.ContentTypes, t => Assert.Equal("application/x-protobuf", t));
    }

    [Fact]
    public async Task ShuttingTheHostDownFlushesTracesMetricsAndLogs()
    {
        await using var collector = await OtlpCollector.StartAsync();
        var app = await StartAppAsync(collector, new Dictionary<string, string?>
        {
            // Long enough that nothing is exported before the host shuts down, unless flushed.
            ["OTEL_BSP_SCHEDULE_DELAY"] = "600000",
            ["OTEL_BLRP_SCHEDULE_DELAY"] = "600000",
            ["OTEL_METRIC_EXPORT_INTERVAL"] = "600000",
        });
        using var client = new HttpClient { BaseAddress = app.Address };
        (await client.GetAsync("/ping")).EnsureSuccessStatusCode();

        // What app.RunAsync does when the process is told to stop: stop, then dispose, where OpenTelemetry's
        // providers flush (OpenTelemetry.Extensions.Hosting shuts them down with the container).
        await app.DisposeAsync();

        Assert.True(collector.Count("/v1/traces") > 0, "traces flushed");
        Assert.True(collector.Count("/v1/logs") > 0, "logs flushed");
        Assert.True(collector.Count("/v1/metrics") > 0, "metrics flushed");
    }

    [Fact]
    public async Task HealthProbesAreNotRecorded_OtherRequestsAre()
    {
        var recorded = new ConcurrentQueue<string>();
        await using var app = await LoopbackApp.StartAsync(
            Map,
            builder =>
            {
                builder.AddServiceDefaults();
                builder.Services.ConfigureOpenTelemetryTracerProvider(t => t.AddProcessor(new RecordedPaths(recorded)));
            },
            AlwaysOn);
        using var client = new HttpClient { BaseAddress = app.Address };

        (await client.GetAsync("/health")).EnsureSuccessStatusCode();
        (await client.GetAsync("/alive")).EnsureSuccessStatusCode();
        (await client.GetAsync("/ping")).EnsureSuccessStatusCode();

        await Wait.UntilAsync(() => recorded.Contains("/ping"), Deadline, "the /ping activity");
        Assert.DoesNotContain("/health", recorded);
        Assert.DoesNotContain("/alive", recorded);
    }

    [Fact]
    public async Task AppSourcesAndMetersAreAddedThroughOptions()
    {
        const string source = "AoaiAspire.Tests.Telemetry.Source";
        var recorded = new ConcurrentQueue<string>();
        await using var app = await LoopbackApp.StartAsync(
            Map,
            builder =>
            {
                builder.AddServiceDefaults();
                builder.AddServiceDefaultsTelemetry(meters: ["AoaiAspire.Tests.Telemetry.Meter"], sources: [source]);
                builder.Services.ConfigureOpenTelemetryTracerProvider(t => t.AddProcessor(new OperationNames(recorded)));
            },
            AlwaysOn);

        using var activitySource = new ActivitySource(source);
        using (var activity = activitySource.StartActivity("custom-work"))
        {
            Assert.NotNull(activity);
        }

        Assert.Contains("custom-work", recorded);
    }

    [Fact]
    public async Task ResourceNamesTheServiceAfterTheApp_UnlessOtelServiceNameIsSet()
    {
        await using (var unnamed = await LoopbackApp.StartAsync(Map, b => b.AddServiceDefaults(), AlwaysOn, applicationName: "aoai-gateway-test"))
        {
            Assert.Equal("aoai-gateway-test", ServiceName(unnamed));
        }

        await using var named = await LoopbackApp.StartAsync(
            Map,
            b => b.AddServiceDefaults(),
            new Dictionary<string, string?> { ["OTEL_SERVICE_NAME"] = "gateway", ["OTEL_RESOURCE_ATTRIBUTES"] = "service.instance.id=abc", ["ServiceDefaults:Telemetry:AlwaysOn"] = "true" },
            applicationName: "aoai-gateway-test");
        var resource = named.App.Services.GetRequiredService<TracerProvider>().GetResource().Attributes.ToDictionary();
        Assert.Equal("gateway", resource["service.name"]);
        Assert.Equal("abc", resource["service.instance.id"]);
    }

    /// <summary>Providers without an OTLP endpoint (another exporter, or these tests' processors, attach to them).</summary>
    private static Dictionary<string, string?> AlwaysOn => new() { ["ServiceDefaults:Telemetry:AlwaysOn"] = "true" };

    [Fact]
    public async Task NoEndpointAndNoOptIn_BuildsNoProviders()
    {
        await using var app = await LoopbackApp.StartAsync(Map, b => b.AddServiceDefaults());
        Assert.Null(app.App.Services.GetService<TracerProvider>());
        Assert.Null(app.App.Services.GetService<OpenTelemetry.Metrics.MeterProvider>());
    }

    private static string? ServiceName(LoopbackApp app) =>
        app.App.Services.GetRequiredService<TracerProvider>().GetResource().Attributes
            .FirstOrDefault(a => a.Key == "service.name").Value as string;

    private static void Map(WebApplication app)
    {
        app.Use((context, next) =>
        {
            Activity.Current?.SetTag("test.path", context.Request.Path.Value);
            return next(context);
        });
        app.MapDefaultEndpoints();
        app.MapGet("/ping", (ILogger<TelemetryTests> logger) =>
        {
            logger.LogInformation("ping answered");
            return "pong";
        });
    }

    private static Task<LoopbackApp> StartAppAsync(OtlpCollector collector, Dictionary<string, string?> settings)
    {
        settings["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector.Address.ToString().TrimEnd('/');
        settings["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf";
        return LoopbackApp.StartAsync(Map, b => b.AddServiceDefaults(), settings);
    }

    private static bool RegistersOtlpExporter(Dictionary<string, string?> settings)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production" });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddServiceDefaults();
        var exporterAssembly = typeof(OtlpExporterOptions).Assembly;
        bool FromExporter(Type? type) => type is not null && (type.Assembly == exporterAssembly || type.GenericTypeArguments.Any(FromExporter));
        return builder.Services.Any(d => FromExporter(d.ServiceType) || FromExporter(d.ImplementationType));
    }

    private sealed class RecordedPaths(ConcurrentQueue<string> paths) : BaseProcessor<Activity>
    {
        public override void OnEnd(Activity data)
        {
            if (data.Recorded && data.GetTagItem("test.path") is string path)
            {
                paths.Enqueue(path);
            }
        }
    }

    private sealed class OperationNames(ConcurrentQueue<string> names) : BaseProcessor<Activity>
    {
        public override void OnEnd(Activity data) => names.Enqueue(data.OperationName);
    }

    /// <summary>An OTLP/HTTP endpoint that accepts every export and counts them by path.</summary>
    private sealed class OtlpCollector : IAsyncDisposable
    {
        private readonly ConcurrentQueue<string> _paths = new();
        private readonly ConcurrentQueue<string> _contentTypes = new();
        private LoopbackApp? _app;

        public Uri Address => _app!.Address;

        public IEnumerable<string> ContentTypes => _contentTypes;

        public int Count(string path) => _paths.Count(p => p == path);

        public static async Task<OtlpCollector> StartAsync()
        {
            var collector = new OtlpCollector();
            collector._app = await LoopbackApp.StartAsync(app => app.MapPost("/v1/{signal}", async (HttpContext context, string signal) =>
            {
                using var body = new MemoryStream();
                await context.Request.Body.CopyToAsync(body);
                collector._contentTypes.Enqueue(context.Request.ContentType ?? "");
                collector._paths.Enqueue($"/v1/{signal}");
                context.Response.ContentType = "application/x-protobuf";
            }));
            return collector;
        }

        public ValueTask DisposeAsync() => _app!.DisposeAsync();
    }
}
