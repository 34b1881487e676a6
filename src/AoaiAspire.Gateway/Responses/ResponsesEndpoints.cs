using AoaiAspire.Gateway.Affinity;
using AoaiAspire.Gateway.Configuration;
using AoaiAspire.Gateway.Consumers;
using AoaiAspire.Gateway.Errors;
using AoaiAspire.Gateway.Forwarding;
using AoaiAspire.Gateway.Telemetry;
using Microsoft.AspNetCore.Http.Features;

namespace AoaiAspire.Gateway.Responses;

/// <summary>
/// The Responses API's routes: create (through the common path in <see cref="GatewayEndpoints"/>), and the calls on a
/// stored response by id, sent to the backend that holds it. Per-resource APIs the gateway does not route (files,
/// batches, vector stores, conversations, containers, uploads) are refused with a 400 that says why.
/// </summary>
internal static class ResponsesEndpoints
{
    public const string CreateOperation = "responses";
    public const string V1Path = "v1/responses";
    private const string PreviewPath = "responses";

    /// <summary>Per-resource state the gateway does not route: refused rather than sent to a region that lacks it.</summary>
    private static readonly string[] NotRouted = ["files", "batches", "vector_stores", "conversations", "containers", "uploads", "fine_tuning", "evals"];

    public static IEndpointRouteBuilder MapResponses(this IEndpointRouteBuilder endpoints)
    {
        // v1 API (/openai/v1 and /v1) and the preview path Azure OpenAI served before v1 (/openai/responses?api-version=…-preview).
        foreach (var (prefix, upstream) in new[] { ("/openai/v1/responses", V1Path), ("/v1/responses", V1Path), ("/openai/responses", PreviewPath) })
        {
            endpoints.Map(prefix + "/{id}", (HttpContext context, string id) => HandleObjectAsync(context, id, upstream, "", "responses.retrieve", [HttpMethods.Get, HttpMethods.Delete]));
            endpoints.Map(prefix + "/{id}/cancel", (HttpContext context, string id) => HandleObjectAsync(context, id, upstream, "/cancel", "responses.cancel", [HttpMethods.Post]));
            endpoints.Map(prefix + "/{id}/input_items", (HttpContext context, string id) => HandleObjectAsync(context, id, upstream, "/input_items", "responses.input_items", [HttpMethods.Get]));
        }
        endpoints.Map("/openai/responses", (HttpContext context) => GatewayEndpoints.HandleAsync(context, null, CreateOperation, PreviewPath));

        foreach (var prefix in new[] { "/openai/v1/", "/v1/", "/openai/" })
        {
            foreach (var name in NotRouted)
            {
                endpoints.Map(prefix + name, (HttpContext context) => RefuseAsync(context, name));
                endpoints.Map(prefix + name + "/{**rest}", (HttpContext context) => RefuseAsync(context, name));
            }
        }
        return endpoints;
    }

    private static Task RefuseAsync(HttpContext context, string name)
    {
        context.RequestServices.GetRequiredService<GatewayTelemetry>().Rejected("unknown_operation");
        return GatewayErrors.WriteAsync(context, StatusCodes.Status400BadRequest, StatefulErrorCodes.NotRouted,
            $"'{name}' objects are kept in one Azure OpenAI resource, and the gateway does not route them: it could send a later call to a region that lacks the object. Use them directly against one resource. The gateway routes the Responses API (stored responses go to the backend that holds them).");
    }

    /// <summary>A call on one stored response: authenticate, find the owner (or search), forward, forget it once deleted.</summary>
    private static async Task HandleObjectAsync(HttpContext context, string id, string upstreamPrefix, string suffix, string operation, string[] methods)
    {
        var services = context.RequestServices;
        var handler = services.GetRequiredService<GatewayRequestHandler>();
        var arrivedAt = handler.Time.GetTimestamp();
        var method = context.Request.Method;
        if (Array.IndexOf(methods, method) < 0)
        {
            context.Response.Headers.Allow = string.Join(", ", methods);
            await handler.RejectAsync(context, new Rejection(StatusCodes.Status405MethodNotAllowed, GatewayErrorCodes.MethodNotAllowed,
                $"Method {method} is not allowed here; use {string.Join(" or ", methods)}.", "method_not_allowed")).ConfigureAwait(false);
            return;
        }
        if (handler.Authenticate(context, out var refused) is not { } consumer)
        {
            await handler.RejectAsync(context, refused).ConfigureAwait(false);
            return;
        }
        if (!IsValidId(id))
        {
            await handler.RejectAsync(context, new Rejection(StatusCodes.Status400BadRequest, StatefulErrorCodes.InvalidId,
                "A response id is 1 to 256 letters, digits, '_' or '-' (such as resp_…).", "bad_request")).ConfigureAwait(false);
            return;
        }
        if (GatewayRequestHandler.Enter(consumer) is { } busy)
        {
            await handler.RejectAsync(context, busy).ConfigureAwait(false);
            return;
        }
        try
        {
            var catalog = services.GetRequiredService<BackendRegistry>().Catalog;
            var call = ResponsesCall.ForObject(services.GetRequiredService<AffinityDirectory>(), services.GetRequiredService<ResponsesRouting>(), catalog,
                id, consumer.Name, upstreamPrefix + "/" + id + suffix, out var route);
            if (call.Refusal is { } refusal)
            {
                await GatewayErrors.WriteAsync(context, refusal.Status, refusal.Code, refusal.Message).ConfigureAwait(false);
                return;
            }
            if (route.Candidates.Length == 0)
            {
                await GatewayErrors.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, GatewayErrorCodes.NoBackendAvailable, "No backend is configured.").ConfigureAwait(false);
                return;
            }
            var request = new ForwardRequest(route, operation, context.Request.QueryString.Value ?? "", ReadOnlyMemory<byte>.Empty, null, consumer.Name,
                0, 0, UsageMode.Json, arrivedAt) { Stateful = call };
            var result = await services.GetRequiredService<GatewayForwarder>().ForwardAsync(context, request).ConfigureAwait(false);
            // Retrieval runs no model: its body's usage is the original create's, already counted.
            services.GetRequiredService<GatewayTelemetry>().RequestEnded(context.Features.Get<IHttpActivityFeature>()?.Activity, operation, call.Deployment.Length > 0 ? call.Deployment : route.Name,
                result.Backend, consumer.Name, context.Response.StatusCode, 0, 0, handler.Time.GetElapsedTime(arrivedAt), result.Upstream);
        }
        finally
        {
            consumer.Exit();
        }
    }

    private static bool IsValidId(string id)
    {
        if (id.Length is 0 or > 256)
        {
            return false;
        }
        foreach (var c in id)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))
            {
                return false;
            }
        }
        return true;
    }
}
