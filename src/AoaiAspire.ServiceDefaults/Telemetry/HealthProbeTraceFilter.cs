using System.Diagnostics;
using AoaiAspire.ServiceDefaults.Health;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace AoaiAspire.ServiceDefaults.Telemetry;

/// <summary>
/// Keeps health-probe requests out of the exported traces, as the template does with the
/// AspNetCore instrumentation's <c>Filter</c>. Without that package there is no filter hook, so
/// the first middleware un-records the request activity: the SDK then neither processes nor
/// exports it, and child activities (sampled parent-based) are dropped with it.
/// </summary>
internal sealed class HealthProbeTraceFilter : IStartupFilter
{
    private const string RequestActivityName = "Microsoft.AspNetCore.Hosting.HttpRequestIn";

    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        app.Use(static (context, next) =>
        {
            if (Activity.Current is { OperationName: RequestActivityName } activity && IsProbe(context.Request.Path))
            {
                activity.IsAllDataRequested = false;
                activity.ActivityTraceFlags &= ~ActivityTraceFlags.Recorded;
            }

            return next(context);
        });
        next(app);
    };

    internal static bool IsProbe(PathString path) =>
        path.StartsWithSegments(HealthEndpoints.HealthPath) || path.StartsWithSegments(HealthEndpoints.AlivePath);
}
