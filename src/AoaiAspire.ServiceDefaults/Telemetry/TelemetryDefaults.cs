namespace AoaiAspire.ServiceDefaults.Telemetry;

/// <summary>The configuration keys that decide whether telemetry is exported.</summary>
public static class TelemetryDefaults
{
    /// <summary>The variable (or configuration key) whose presence turns the OTLP exporter on.</summary>
    public const string OtlpEndpointKey = "OTEL_EXPORTER_OTLP_ENDPOINT";

    /// <summary>Set to true to build the OpenTelemetry providers even with no OTLP endpoint (for another exporter).</summary>
    public const string AlwaysOnKey = "ServiceDefaults:Telemetry:AlwaysOn";

    /// <summary>Names of the <c>HttpClient</c>s the OTLP exporter creates through <c>IHttpClientFactory</c>.</summary>
    public static IReadOnlyList<string> OtlpExporterHttpClientNames { get; } =
        ["OtlpTraceExporter", "OtlpMetricExporter", "OtlpLogExporter"];
}
