using System.Globalization;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using AoaiAspire.Simulator;

namespace AoaiAspire.AppHost;

/// <summary>
/// The wiring behind Program.cs: where the upstreams come from, and how the gateway and the probe are told
/// about them (configuration section <c>Gateway:Backends:{name}</c>, read by both).
/// </summary>
internal static class Extensions
{
    /// <summary>Run mode: one simulator process per region (<c>sim-{region}</c>), each serving one account on its <c>http</c> endpoint.</summary>
    public static List<Backend> AddSimulatedRegions(this IDistributedApplicationBuilder builder, AoaiAspireOptions options)
    {
        var apiKey = builder.AddParameter("simulator-key", secret: true);
        var backends = new List<Backend>(SimulatedRegions.All.Length);
        foreach (var region in SimulatedRegions.All)
        {
            const string Account = "Simulator__Accounts__0__";
            var chat = $"{Account}Deployments__{options.Chat.DeploymentName}__";
            var embeddings = $"{Account}Deployments__{options.Embeddings.DeploymentName}__";
            var latencyScale = region.LatencyScale * options.SimulatorLatencyScale;

            var simulator = builder.AddProject<Projects.AoaiAspire_Simulator>($"sim-{region.Name}")
                .WithDefaultHttpEndpoint()
                .WithEnvironment(Account + "Name", region.Name)
                .WithEnvironment(Account + "Region", region.Name)
                .WithEnvironment(Account + "ApiKey", apiKey)
                .WithEnvironment(Account + "LatencyScale", latencyScale.ToString(CultureInfo.InvariantCulture))
                .WithEnvironment(chat + "Model", options.Chat.ModelName)
                .WithEnvironment(chat + "Kind", "Chat")
                .WithEnvironment(chat + "TokensPerMinute", region.TokensPerMinute.ToString(CultureInfo.InvariantCulture))
                .WithEnvironment(embeddings + "Model", options.Embeddings.ModelName)
                .WithEnvironment(embeddings + "Kind", "Embeddings")
                .WithEnvironment(embeddings + "TokensPerMinute", (region.TokensPerMinute * 4).ToString(CultureInfo.InvariantCulture));

            backends.Add(new SimulatedBackend(region.Name, region.Priority, Weight: 1, simulator, apiKey));
        }

        return backends;
    }

    /// <summary>
    /// Run mode with <c>AoaiAspire:UseAzureOpenAI=true</c>: existing accounts, one connection string
    /// <c>ConnectionStrings:aoai-{region}</c> each (<c>Endpoint=https://…;Key=…</c>, or no Key for Entra ID).
    /// </summary>
    public static List<Backend> AddAzureOpenAIConnections(this IDistributedApplicationBuilder builder, AoaiAspireOptions options)
    {
        var backends = new List<Backend>(options.Regions.Count);
        foreach (var region in options.Regions)
        {
            var connection = builder.AddConnectionString($"aoai-{region.Name}");
            backends.Add(new ConnectionBackend(region.Name, region.Priority, region.Weight, connection));
        }

        return backends;
    }

    /// <summary>
    /// Hands the service every backend as <c>Gateway__Backends__{name}__…</c>: region, priority, weight, the deployment
    /// map, and either an endpoint and key (simulators) or the name of a connection string it also receives.
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithBackends(
        this IResourceBuilder<ProjectResource> service, List<Backend> backends, AoaiAspireOptions options)
    {
        foreach (var backend in backends)
        {
            var prefix = $"Gateway__Backends__{backend.Name}__";
            service.WithEnvironment(prefix + "Region", backend.Name)
                .WithEnvironment(prefix + "Priority", backend.Priority.ToString(CultureInfo.InvariantCulture))
                .WithEnvironment(prefix + "Weight", backend.Weight.ToString(CultureInfo.InvariantCulture))
                .WithEnvironment($"{prefix}Deployments__{options.Chat.DeploymentName}", options.Chat.DeploymentName)
                .WithEnvironment($"{prefix}Deployments__{options.Embeddings.DeploymentName}", options.Embeddings.DeploymentName);
            backend.ConnectTo(service, prefix);
        }

        return service;
    }

    /// <summary>
    /// Projects take their endpoints from Properties/launchSettings.json; the services may not ship one,
    /// so make sure the endpoint named <c>http</c> exists either way (adding it twice would throw).
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithDefaultHttpEndpoint(this IResourceBuilder<ProjectResource> project)
    {
        var hasHttp = project.Resource.Annotations.OfType<EndpointAnnotation>()
            .Any(e => string.Equals(e.Name, "http", StringComparison.OrdinalIgnoreCase));
        return hasHttp ? project : project.WithHttpEndpoint(name: "http");
    }

}

/// <summary>One upstream as the gateway and the probe see it: <c>Gateway:Backends:{Name}</c>.</summary>
internal abstract record Backend(string Name, int Priority, int Weight)
{
    /// <summary>Adds what the service needs to reach this backend (environment, references, waits, roles).</summary>
    public abstract void ConnectTo(IResourceBuilder<ProjectResource> service, string prefix);
}

/// <summary>A simulated region: its URL from the simulator's <c>http</c> endpoint, and the shared simulator key.</summary>
internal sealed record SimulatedBackend(
    string Name, int Priority, int Weight,
    IResourceBuilder<ProjectResource> Simulator,
    IResourceBuilder<ParameterResource> ApiKey) : Backend(Name, Priority, Weight)
{
    public override void ConnectTo(IResourceBuilder<ProjectResource> service, string prefix)
    {
        service.WithEnvironment(prefix + "Endpoint", Simulator.GetEndpoint("http"))
            .WithEnvironment(prefix + "ApiKey", ApiKey)
            .WaitFor(Simulator);
    }
}

/// <summary>An existing account given as a connection string: the service receives <c>ConnectionStrings__{name}</c> and its name.</summary>
internal sealed record ConnectionBackend(
    string Name, int Priority, int Weight,
    IResourceBuilder<IResourceWithConnectionString> Connection) : Backend(Name, Priority, Weight)
{
    public override void ConnectTo(IResourceBuilder<ProjectResource> service, string prefix)
    {
        service.WithReference(Connection)
            .WithEnvironment(prefix + "Connection", Connection.Resource.Name);
    }
}
