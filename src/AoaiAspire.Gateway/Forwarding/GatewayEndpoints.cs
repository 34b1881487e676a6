using System.Text.Json;
using AoaiAspire.Gateway.Configuration;
using AoaiAspire.Gateway.Consumers;

namespace AoaiAspire.Gateway.Forwarding;

/// <summary>The caller-facing routes: Azure style and OpenAI v1 style, and the models list; the steps are <see cref="GatewayRequestHandler"/>'s.</summary>
internal static partial class GatewayEndpoints
{
    public static IEndpointRouteBuilder MapGateway(this IEndpointRouteBuilder endpoints)
    {
        // The handler is a singleton taken once here: resolving it per request would create a request scope for nothing.
        var handler = endpoints.ServiceProvider.GetRequiredService<GatewayRequestHandler>();
        endpoints.Map("/openai/deployments/{deployment}/{**operation}", (HttpContext context, string deployment, string? operation)
            => handler.HandleAsync(context, deployment, operation ?? ""));
        endpoints.Map("/openai/v1/{**operation}", (HttpContext context, string? operation) => handler.HandleAsync(context, null, operation ?? ""));
        endpoints.Map("/v1/{**operation}", (HttpContext context, string? operation) => handler.HandleAsync(context, null, operation ?? ""));
        endpoints.Map("/openai/models", (HttpContext context) => handler.HandleAsync(context, null, "models"));
        return endpoints;
    }

    /// <param name="accountPath">For the Responses API: the account-wide path sent upstream (<c>v1/responses</c>, or <c>responses</c> for the preview path).</param>
    internal static Task HandleAsync(HttpContext context, string? deployment, string operation, string? accountPath = null)
        => context.RequestServices.GetRequiredService<GatewayRequestHandler>().HandleAsync(context, deployment, operation, accountPath);

    internal static partial class AuthenticationLog
    {
        public const string Category = "AoaiAspire.Gateway.Authentication";

        [LoggerMessage(1701, LogLevel.Warning, "Caller authentication failed ({Reason}) from {RemoteAddress}.")]
        public static partial void Failed(ILogger logger, string reason, string remoteAddress);
    }

    internal static async Task WriteModelsAsync(HttpContext context, BackendCatalog catalog, Consumer consumer)
    {
        context.Response.ContentType = "application/json";
        await using var writer = new Utf8JsonWriter(context.Response.BodyWriter);
        writer.WriteStartObject();
        writer.WriteString("object", "list");
        writer.WriteStartArray("data");
        foreach (var name in catalog.DeploymentNames)
        {
            if (!consumer.MayCall(name))
            {
                continue;
            }
            writer.WriteStartObject();
            writer.WriteString("id", name);
            writer.WriteString("object", "model");
            writer.WriteNumber("created", 0);
            writer.WriteString("owned_by", "aoai-aspire");
            writer.WriteEndObject();
        }
        writer.WriteEndArray();
        writer.WriteEndObject();
    }
}
