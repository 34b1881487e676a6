using AoaiAspire.Simulator.Completions;
using AoaiAspire.Simulator.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AoaiAspire.Simulator.Endpoints;

/// <summary>Maps the simulator's routes; shared by the standalone program and <see cref="SimulatorHost"/>.</summary>
internal static class SimulatorEndpointRouteBuilderExtensions
{
    private static readonly string[] InferencePrefixes = ["/openai/deployments/{deployment}/", "/openai/v1/", "/v1/"];
    private static readonly string[] ResponsesPrefixes = ["/openai/v1/", "/v1/", "/openai/"];

    /// <summary>
    /// Azure-style <c>/openai/deployments/{deployment}/…</c>, v1-style <c>/openai/v1/…</c> and <c>/v1/…</c>
    /// (deployment in the body's <c>model</c>), the model lists, and <c>/admin/*</c>.
    /// Routes accept every method so a wrong one gets an AOAI-shaped 405 rather than a bare one.
    /// </summary>
    public static IEndpointRouteBuilder MapSimulator(this IEndpointRouteBuilder endpoints, AccountDirectory accounts)
    {
        var services = endpoints.ServiceProvider;
        var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger(SimulatorLog.Category);
        var stopping = services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
        var inference = new InferenceHandler(accounts, logger, stopping);
        var admin = new AdminEndpoints(accounts, logger);
        var realtime = new Realtime.RealtimeHandler(inference, logger, stopping);

        // Realtime WebSocket: GA path (deployment in 'model') and the preview path (api-version and 'deployment').
        endpoints.Map("/openai/v1/realtime", context => realtime.HandleAsync(context, preview: false));
        endpoints.Map("/v1/realtime", context => realtime.HandleAsync(context, preview: false));
        endpoints.Map("/openai/realtime", context => realtime.HandleAsync(context, preview: true));

        foreach (var prefix in InferencePrefixes)
        {
            foreach (var operation in Enum.GetValues<Operation>())
            {
                endpoints.Map(prefix + operation.Path(), context => inference.HandleAsync(context, operation));
            }
        }

        // The Responses API is account-wide (the deployment is the body's model): v1 paths and the preview path.
        foreach (var prefix in ResponsesPrefixes)
        {
            endpoints.Map(prefix + "responses", inference.HandleCreateResponseAsync);
            endpoints.Map(prefix + "responses/{id}", inference.HandleResponseAsync);
            endpoints.Map(prefix + "responses/{id}/cancel", inference.HandleCancelResponseAsync);
            endpoints.Map(prefix + "responses/{id}/input_items", inference.HandleInputItemsAsync);
            endpoints.Map(prefix + "conversations", inference.HandleCreateConversationAsync);
        }

        endpoints.Map("/openai/models", inference.HandleModelsAsync);
        endpoints.Map("/openai/v1/models", inference.HandleModelsAsync);
        endpoints.Map("/v1/models", inference.HandleModelsAsync);

        endpoints.MapGet("/admin/stats", admin.GetStatsAsync);
        endpoints.MapGet("/admin/faults", admin.GetFaultsAsync);
        endpoints.MapPut("/admin/faults", admin.PutFaultsAsync);
        endpoints.MapPost("/admin/reset", admin.ResetAsync);

        // Anything else (an operation this simulator does not offer, such as images or audio) gets what Azure
        // OpenAI sends for an unknown resource, not an empty 404.
        endpoints.MapFallback(context => AoaiResponses.WriteErrorAsync(context, StatusCodes.Status404NotFound, "404", "Resource not found"));
        return endpoints;
    }
}
