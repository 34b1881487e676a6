namespace AoaiAspire.ServiceDefaults.Telemetry;

/// <summary>
/// The application's own telemetry names, added to the ones ServiceDefaults always subscribes to.
/// </summary>
/// <remarks>
/// Bound from <c>ServiceDefaults:Telemetry</c>; add names in code with
/// <c>builder.AddServiceDefaultsTelemetry(meters: ["AoaiAspire.Gateway"], sources: ["AoaiAspire.Gateway"])</c>
/// or <c>builder.Services.Configure&lt;ServiceDefaultsTelemetryOptions&gt;(o =&gt; o.Meters.Add("…"))</c>.
/// The names are read when the providers are built (at host start), so either may be called
/// before or after <c>AddServiceDefaults()</c>.
/// </remarks>
public sealed class ServiceDefaultsTelemetryOptions
{
    /// <summary>Configuration section the options are bound from.</summary>
    public const string SectionName = "ServiceDefaults:Telemetry";

    /// <summary>Extra <see cref="System.Diagnostics.Metrics.Meter"/> names to export. Empty by default.</summary>
    public IList<string> Meters { get; } = new List<string>();

    /// <summary>Extra <see cref="System.Diagnostics.ActivitySource"/> names to export. Empty by default.</summary>
    public IList<string> Sources { get; } = new List<string>();
}
