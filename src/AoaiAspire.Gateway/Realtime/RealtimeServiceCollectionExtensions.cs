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
        // The gateway's own count answers first (a 429 that names the key); Kestrel's limit is the backstop.
        var startup = builder.Configuration.GetSection(RealtimeOptions.SectionName).Get<RealtimeOptions>() ?? new RealtimeOptions();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxConcurrentUpgradedConnections = Math.Max(0, startup.MaxConcurrentSessions));
        return builder;
    }

    /// <summary>WebSocket support and the realtime routes.</summary>
    public static WebApplication MapGatewayRealtime(this WebApplication app)
    {
        app.UseWebSockets();
        ((IEndpointRouteBuilder)app).MapGatewayRealtime();
        return app;
    }
}
