using AoaiAspire.Backends.Upstream;
using AoaiAspire.Backends.Redis;
using AoaiAspire.Gateway.Admission;
using AoaiAspire.Gateway.Affinity;
using AoaiAspire.Gateway.Availability;
using AoaiAspire.Gateway.Configuration;
using AoaiAspire.Gateway.Consumers;
using AoaiAspire.Gateway.Errors;
using AoaiAspire.Gateway.Forwarding;
using AoaiAspire.Gateway.Health;
using AoaiAspire.Gateway.LoadBalancing;
using AoaiAspire.Gateway.Quotas;
using AoaiAspire.Gateway.Realtime;
using AoaiAspire.Gateway.Responses;
using AoaiAspire.Gateway.Status;
using AoaiAspire.Gateway.Telemetry;
using AoaiAspire.Gateway.Tokens;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.AspNetCore.Diagnostics;
using MinDataRate = Microsoft.AspNetCore.Server.Kestrel.Core.MinDataRate;
using Microsoft.Extensions.Options;

namespace AoaiAspire.Gateway;

internal static partial class GatewayServiceCollectionExtensions
{
    /// <summary>Registers the gateway: options validated at start-up, backends, state, selection, forwarding.</summary>
    public static WebApplicationBuilder AddGateway(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<GatewayOptions>()
            .Bind(builder.Configuration.GetSection(GatewayOptions.SectionName))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<GatewayOptions>, GatewayOptionsValidator>();
        // Reloads that fail validation are refused and the last valid options stay (see GatewayOptionsMonitor).
        services.AddSingleton<IOptionsMonitor<GatewayOptions>, GatewayOptionsMonitor>();
        services.TryAddSingleton(TimeProvider.System);

        // Kestrel's limits, set deliberately from Gateway:Limits (README "Security"): read here because Kestrel is
        // configured before options are built; the same values are validated with the options at start-up.
        var startup = builder.Configuration.GetSection(GatewayOptions.SectionName).Get<GatewayOptions>() ?? new GatewayOptions();
        var limits = startup.Limits;
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = startup.MaxRequestBodySize;
            kestrel.Limits.MaxConcurrentConnections = limits.MaxConcurrentConnections;
            // MaxConcurrentUpgradedConnections: Gateway:Realtime:MaxConcurrentSessions (AddGatewayRealtime).
            kestrel.Limits.MaxRequestHeadersTotalSize = limits.MaxRequestHeadersTotalSize;
            kestrel.Limits.MaxRequestHeaderCount = limits.MaxRequestHeaderCount;
            kestrel.Limits.RequestHeadersTimeout = limits.RequestHeadersTimeout > TimeSpan.Zero ? limits.RequestHeadersTimeout : TimeSpan.FromSeconds(15);
            kestrel.Limits.KeepAliveTimeout = limits.KeepAliveTimeout > TimeSpan.Zero ? limits.KeepAliveTimeout : TimeSpan.FromSeconds(130);
            kestrel.Limits.MinRequestBodyDataRate = new MinDataRate(limits.MinRequestBodyDataRate,
                limits.MinRequestBodyDataRateGracePeriod >= TimeSpan.FromSeconds(1) ? limits.MinRequestBodyDataRateGracePeriod : TimeSpan.FromSeconds(5));
        });
        services.Configure<HostOptions>(host => host.ShutdownTimeout = limits.ShutdownTimeout > TimeSpan.Zero ? limits.ShutdownTimeout : TimeSpan.FromSeconds(30));
        services.AddHealthChecks().AddCheck<ShutdownHealthCheck>("shutdown");

        services.AddSingleton<BackendRegistry>();
        services.AddSingleton<BackendStateUpdater>();
        services.AddSingleton<ConsumerDirectory>();
        services.AddSingleton<UpstreamInvoker>();
        services.AddUpstreamCredentials(sp => sp.GetRequiredService<IConfiguration>()["Gateway:Upstream:ManagedIdentityClientId"]);
        // Every policy is registered under its name; RoutingPolicy picks the configured one and follows reloads.
        services.AddSingleton<ILoadBalancingPolicy>(_ => new WeightedPolicy(Random.Shared));
        services.AddSingleton<ILoadBalancingPolicy, RoundRobinPolicy>();
        services.AddSingleton<ILoadBalancingPolicy>(sp => new LeastLatencyPolicy(Random.Shared, sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<ILoadBalancingPolicy>(sp => new CapacityPolicy(Random.Shared, sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<RoutingPolicy>();
        services.AddSingleton(sp => new BackendSelector(sp.GetRequiredService<RoutingPolicy>(), sp.GetRequiredService<IOptionsMonitor<GatewayOptions>>()));
        services.AddSingleton<Hedging.Hedger>();
        services.AddSingleton<GatewayForwarder>();
        services.AddSingleton<GatewayRequestHandler>();
        services.AddSingleton<UsageLedger>();
        services.AddSingleton<GatewayTelemetry>();
        builder.AddServiceDefaultsTelemetry(meters: [TelemetryNames.Meter], sources: [TelemetryNames.ActivitySource]);
        services.AddConsumerQuotas();
        services.AddAdmission();
        services.AddHostedService<GatewayStartup>();

        // Shared state and quota counts: one Redis connection when ConnectionStrings:redis is set, else this replica alone.
        builder.AddSharedBackendState(tracing: builder.Configuration.IsTelemetryExported());
        services.AddSingleton<SharedStateSynchronizer>();
        services.AddHostedService(sp => sp.GetRequiredService<SharedStateSynchronizer>());
        services.AddGatewayStatus();
        builder.AddGatewayRealtime();
        services.AddStatefulAffinity(builder.Configuration);
        return builder;
    }

    /// <summary>The request pipeline: errors in the Azure OpenAI shape, health endpoints, the gateway's routes.</summary>
    public static WebApplication MapGatewayPipeline(this WebApplication app)
    {
        app.UseGatewayErrors();
        app.MapDefaultEndpoints();
        app.MapGatewayRealtime();
        app.MapResponses();
        app.MapGateway();
        app.MapGatewayStatus();
        return app;
    }

    /// <summary>Every error the gateway produces, even an unexpected one, is an Azure OpenAI-shaped JSON error.</summary>
    public static WebApplication UseGatewayErrors(this WebApplication app)
    {
        app.UseExceptionHandler(errorApp => errorApp.Run(async context =>
        {
            var error = context.Features.Get<IExceptionHandlerFeature>()?.Error;
            if (error is BadHttpRequestException bad)
            {
                await GatewayErrors.WriteAsync(context, bad.StatusCode, GatewayErrorCodes.ForStatus(bad.StatusCode), bad.Message).ConfigureAwait(false);
                return;
            }
            if (error is IOException)
            {
                await GatewayErrors.WriteAsync(context, StatusCodes.Status400BadRequest, GatewayErrorCodes.BadRequest, "The request could not be read: " + error.Message).ConfigureAwait(false);
                return;
            }
            await GatewayErrors.WriteAsync(context, StatusCodes.Status500InternalServerError, GatewayErrorCodes.Internal,
                "The gateway failed to process the request. It has been logged.").ConfigureAwait(false);
        }));
        app.UseStatusCodePages(async status =>
        {
            var context = status.HttpContext;
            if (context.Response.ContentLength is null && context.Response.ContentType is null)
            {
                await GatewayErrors.WriteAsync(context, context.Response.StatusCode, GatewayErrorCodes.ForStatus(context.Response.StatusCode),
                    context.Response.StatusCode == 404 ? "Resource not found." : "The request could not be processed.").ConfigureAwait(false);
            }
        });
        return app;
    }
}

/// <summary>Builds the backend catalog at start-up (a bad configuration stops the process with the key to fix) and says how the gateway is set up.</summary>
internal sealed partial class GatewayStartup(BackendRegistry registry, ConsumerDirectory consumers, IOptions<GatewayOptions> options, IServiceProvider services, ILogger<GatewayStartup> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var catalog = registry.Catalog;
        if (services.GetService<Simulator.SimulatorHost>() is not null)
        {
            LogDemoMode(logger, catalog.Backends.Length, string.Join(", ", catalog.Backends.Select(b => $"{b.Name} (priority {b.Definition.Priority})")));
        }
        else
        {
            LogBackends(logger, catalog.Backends.Length, catalog.Routes.Count, options.Value.Routing.Policy);
        }
        if (consumers.AllowsAnonymous)
        {
            LogAnonymous(logger);
        }
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(1401, LogLevel.Warning, "Demo mode: no backends are configured, so {Count} simulated regions run in this process: {Regions}. Configure real ones under Gateway:Backends:{{name}} (Endpoint, ApiKey or Entra ID, Priority, Weight, Deployments:{{logical}}={{upstream}}); see README.")]
    private static partial void LogDemoMode(ILogger logger, int count, string regions);

    [LoggerMessage(1402, LogLevel.Information, "Gateway serving {Backends} backends for {Deployments} deployments with policy {Policy}.")]
    private static partial void LogBackends(ILogger logger, int backends, int deployments, string policy);

    [LoggerMessage(1403, LogLevel.Warning, "No consumers configured: the gateway accepts any caller without a key. Configure Gateway:Consumers:<name>:Keys to require keys.")]
    private static partial void LogAnonymous(ILogger logger);
}
