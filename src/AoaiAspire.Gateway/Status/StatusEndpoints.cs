using AoaiAspire.Gateway.Configuration;
using AoaiAspire.Gateway.Tokens;
using Microsoft.Extensions.Options;

namespace AoaiAspire.Gateway.Status;

/// <summary>
/// The operator's view: <c>GET /admin/backends</c>, <c>GET /admin/usage</c> (JSON, admin key) and the
/// <c>/status</c> page that polls them. All cold paths; the request path only raises
/// <see cref="Availability.BackendStateUpdater.Changed"/>, which <see cref="BackendEventLog"/> records. See docs/status-page.md.
/// </summary>
internal static class StatusEndpoints
{
    public const string PagePath = "/status";
    public const string AdminPrefix = "/admin";
    public const string BackendsPath = AdminPrefix + "/backends";
    public const string UsagePath = AdminPrefix + "/usage";

    public static IServiceCollection AddGatewayStatus(this IServiceCollection services)
    {
        services.AddSingleton<AdminAuthorization>();
        services.AddSingleton<BackendEventLog>();
        services.AddSingleton<UsageHistory>();
        services.AddHostedService<StatusStartup>();
        return services;
    }

    public static IEndpointRouteBuilder MapGatewayStatus(this IEndpointRouteBuilder endpoints)
    {
        var admin = endpoints.MapGroup(AdminPrefix).AddEndpointFilter<AdminKeyFilter>();
        admin.MapGet("/backends", (BackendRegistry registry, UsageLedger ledger, BackendEventLog events, Hedging.Hedger hedger, Admission.AdmissionQueue admission, TimeProvider time, HttpContext context) =>
        {
            NoStore(context.Response);
            var report = BackendSnapshot.Build(registry.Catalog, ledger, events, time.GetUtcNow(), hedger.Report(), admission.Report());
            return TypedResults.Json(report, StatusJsonContext.Default.BackendsReport);
        });
        admin.MapGet("/usage", (UsageHistory history, TimeProvider time, HttpContext context) =>
        {
            NoStore(context.Response);
            return TypedResults.Json(history.Report(time.GetUtcNow()), StatusJsonContext.Default.UsageHistoryReport);
        });

        // The page holds no data, so it needs no key; it asks for one when the JSON answers 401.
        endpoints.MapGet(PagePath, async (AdminAuthorization authorization, HttpContext context) =>
        {
            if (authorization.Access == AdminAccess.Disabled)
            {
                await AdminAuthorization.RefuseAsync(context, StatusCodes.Status404NotFound).ConfigureAwait(false);
                return;
            }
            await StatusPage.WriteAsync(context.Response).ConfigureAwait(false);
        });
        return endpoints;
    }

    private static void NoStore(HttpResponse response)
    {
        response.Headers.CacheControl = "no-store";
        response.Headers.XContentTypeOptions = "nosniff";
    }
}

/// <summary>Starts the event log and the usage sampler with the host, and says once how the admin endpoints are reached.</summary>
internal sealed partial class StatusStartup(AdminAuthorization authorization, BackendEventLog events, UsageHistory history, ILogger<StatusStartup> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _ = events; // constructed here so that it subscribes before the first request
        history.Start();
        switch (authorization.Access)
        {
            case AdminAccess.Open:
                LogOpen(logger, StatusEndpoints.PagePath);
                break;
            case AdminAccess.Disabled:
                LogDisabled(logger);
                break;
        }
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(1801, LogLevel.Warning, "No Gateway:AdminKey in Development: /admin/* and the status page ({Path}) are open to anyone who can reach this port. Set Gateway:AdminKey to require a key.")]
    private static partial void LogOpen(ILogger logger, string path);

    [LoggerMessage(1802, LogLevel.Information, "No Gateway:AdminKey: /admin/* and the status page are disabled (404). Set Gateway:AdminKey (16+ characters) to enable them.")]
    private static partial void LogDisabled(ILogger logger);
}
