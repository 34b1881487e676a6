using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace AoaiAspire.Gateway.Realtime;

internal static class RealtimeServiceCollectionExtensions
{
    /// <summary>Registers the realtime relay and sets Kestrel's upgraded-connection limit from <c>Gateway:Realtime:MaxConcurrentSessions</c>.</summary>
    public static WebApplicationBuilder AddGatewayRealtime(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<RealtimeOptions>()
            .Bind(builder.Configuration.GetSection(RealtimeOptions.SectionName))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<RealtimeOptions>, RealtimeOptionsValidator>();
        services.AddSingleton<RealtimeSessionLimit>();
        services.AddSingleton<RealtimeTelemetry>();
        services.AddSingleton<RealtimeConnector>();

        // Kestrel is configured before options are built: the value is read here and validated with the options.
        // The gateway's own count answers first (a 429 that names the key); Kestrel's limit is the backstop, set a
        // little above it because Kestrel releases a connection only once it has closed, after the session has ended.
        var startup = builder.Configuration.GetSection(RealtimeOptions.SectionName).Get<RealtimeOptions>() ?? new RealtimeOptions();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxConcurrentUpgradedConnections = KestrelUpgradeLimit(startup.MaxConcurrentSessions));
        return builder;
    }

    /// <summary>Kestrel's upgraded-connection limit for a session limit: 0 stays 0 (no upgrades at all), else 10% (at least 8) above.</summary>
    internal static long KestrelUpgradeLimit(int maxConcurrentSessions)
        => maxConcurrentSessions <= 0 ? 0 : maxConcurrentSessions + Math.Max(8, maxConcurrentSessions / 10);

    /// <summary>WebSocket support and the realtime routes.</summary>
    public static WebApplication MapGatewayRealtime(this WebApplication app)
    {
        // Only a request that can become a WebSocket goes through the WebSocket middleware: it sets a feature object on
        // every request it sees, and the completions path is hot.
        app.UseWhen(static context => context.Features.Get<IHttpUpgradeFeature>()?.IsUpgradableRequest == true
                || context.Features.Get<IHttpExtendedConnectFeature>()?.IsExtendedConnect == true,
            static branch => branch.UseWebSockets());
        ((IEndpointRouteBuilder)app).MapGatewayRealtime();
        return app;
    }
}
