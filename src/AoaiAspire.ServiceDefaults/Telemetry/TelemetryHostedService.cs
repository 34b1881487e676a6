using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace AoaiAspire.ServiceDefaults.Telemetry;

/// <summary>
/// Builds the OpenTelemetry providers when the host starts (they are lazy singletons and nothing
/// else asks for the tracer or meter provider) and flushes them when it stops. The container
/// disposes them afterwards, which shuts the exporters down.
/// </summary>
internal sealed class TelemetryHostedService(IServiceProvider services) : IHostedService
{
    /// <summary>How long each provider may take to flush at shutdown.</summary>
    internal const int FlushTimeoutMilliseconds = 5_000;

    private TracerProvider? _tracerProvider;
    private MeterProvider? _meterProvider;
    private LoggerProvider? _loggerProvider;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _tracerProvider = services.GetService<TracerProvider>();
        _meterProvider = services.GetService<MeterProvider>();
        _loggerProvider = services.GetService<LoggerProvider>();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        // Traces and logs first: collecting metrics last lets them count the final requests.
        Flush(_tracerProvider, static (p, t) => ((TracerProvider)p).ForceFlush(t));
        Flush(_loggerProvider, static (p, t) => ((LoggerProvider)p).ForceFlush(t));
        Flush(_meterProvider, static (p, t) => ((MeterProvider)p).ForceFlush(t));
        return Task.CompletedTask;
    }

    private static void Flush(BaseProvider? provider, Func<BaseProvider, int, bool> flush)
    {
        if (provider is null)
        {
            return;
        }

        try
        {
            flush(provider, FlushTimeoutMilliseconds);
        }
        catch (ObjectDisposedException)
        {
            // The container is already tearing down; its disposal flushes instead.
        }
    }
}
