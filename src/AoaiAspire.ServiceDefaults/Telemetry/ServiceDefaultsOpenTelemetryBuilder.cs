using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;

namespace AoaiAspire.ServiceDefaults.Telemetry;

/// <summary>
/// Stands in for <c>services.AddOpenTelemetry()</c> from OpenTelemetry.Extensions.Hosting, which is
/// not in the feed. The core package's <c>WithTracing</c>/<c>WithMetrics</c>/<c>WithLogging</c> and the
/// exporter's <c>UseOtlpExporter</c> only need an <see cref="IOpenTelemetryBuilder"/>: they register
/// the providers as singletons in <see cref="Services"/>. What the hosting package adds on top —
/// building the providers when the host starts — is <see cref="TelemetryHostedService"/>.
/// </summary>
internal sealed class ServiceDefaultsOpenTelemetryBuilder : IOpenTelemetryBuilder
{
    public ServiceDefaultsOpenTelemetryBuilder(IServiceCollection services)
    {
        Services = services;

        // First in the list: started before, and stopped after, every other hosted service
        // (including the web server), so requests that finish during shutdown are still flushed.
        if (!services.Any(d => d.ServiceType == typeof(Microsoft.Extensions.Hosting.IHostedService)
                               && d.ImplementationType == typeof(TelemetryHostedService)))
        {
            services.Insert(0, ServiceDescriptor.Singleton<Microsoft.Extensions.Hosting.IHostedService, TelemetryHostedService>());
        }
    }

    public IServiceCollection Services { get; }
}
