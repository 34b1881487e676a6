using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AoaiAspire.AppHost;

/// <summary>Tells the person who ran the AppHost where to point the OpenAI SDK, once the gateway is healthy.</summary>
internal static partial class GatewayAddress
{
    public static IResourceBuilder<ProjectResource> PrintAddressWhenReady(this IResourceBuilder<ProjectResource> gateway)
    {
        var endpoint = gateway.GetEndpoint("http");
        gateway.OnResourceReady((resource, e, _) =>
        {
            var logger = e.Services.GetRequiredService<ILoggerFactory>().CreateLogger("AoaiAspire.AppHost");
            LogGatewayReady(logger, endpoint.Url);
            return Task.CompletedTask;
        });
        return gateway;
    }

    [LoggerMessage(1102, LogLevel.Information,
        "Gateway ready at {Url} (every replica behind it). OpenAI SDK: endpoint {Url}, api-key = the value of Parameters:caller-key (Development: see appsettings.Development.json).")]
    private static partial void LogGatewayReady(ILogger logger, string url);
}
