namespace AoaiAspire.ServiceDefaults.Telemetry;

/// <summary>
/// What the OpenTelemetry instrumentation packages would subscribe to. They are not in this
/// project's feed; .NET 10 emits these activities and meters itself, so naming them is enough.
/// </summary>
public static class TelemetryDefaults
{
    /// <summary>Meters always exported: ASP.NET Core hosting and Kestrel, HttpClient, the runtime.</summary>
    public static IReadOnlyList<string> Meters { get; } =
    [
        "Microsoft.AspNetCore.Hosting",
        "Microsoft.AspNetCore.Server.Kestrel",
        "System.Net.Http",
        "System.Runtime",
    ];

    /// <summary>Activity sources always exported: incoming requests and outgoing HttpClient calls.</summary>
    public static IReadOnlyList<string> Sources { get; } =
    [
        "Microsoft.AspNetCore",
        "System.Net.Http",
    ];

    /// <summary>The variable (or configuration key) whose presence turns the OTLP exporter on.</summary>
    public const string OtlpEndpointKey = "OTEL_EXPORTER_OTLP_ENDPOINT";

    /// <summary>Set to true to build the OpenTelemetry providers even with no OTLP endpoint (for another exporter).</summary>
    public const string AlwaysOnKey = "ServiceDefaults:Telemetry:AlwaysOn";

    /// <summary>
    /// Names of the <c>HttpClient</c>s the OTLP exporter creates through <c>IHttpClientFactory</c>.
    /// ServiceDefaults keeps the standard resilience handler off them: the exporter has its own
    /// timeout and retry, and telemetry must not queue behind the app's concurrency limit.
    /// </summary>
    public static IReadOnlyList<string> OtlpExporterHttpClientNames { get; } =
        ["OtlpTraceExporter", "OtlpMetricExporter", "OtlpLogExporter"];
}
