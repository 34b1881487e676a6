using AoaiAspire.Backends.Configuration;
using AoaiAspire.Simulator;

namespace AoaiAspire.Gateway.Demo;

/// <summary>
/// Demo mode: in Development with no backends configured, the gateway hosts three simulated regions
/// in-process (eastus and eastus2 in priority group 1, canadaeast in group 2), each with a <c>chat</c> and an
/// <c>embeddings</c> deployment, so that <c>dotnet run</c> gives a working gateway on a fresh machine.
/// </summary>
internal static class DemoBackends
{
    /// <summary>Starts the simulators when demo mode applies; returns whether it did.</summary>
    public static async Task<bool> AddDemoBackendsIfNeededAsync(this WebApplicationBuilder builder)
    {
        if (BackendConfiguration.HasBackends(builder.Configuration) || !builder.Environment.IsDevelopment()
            || builder.Configuration.GetValue<bool>("Gateway:DisableDemo"))
        {
            return false;
        }

        // The same regions as the AppHost's local run (SimulatedRegions), in this process.
        var accounts = SimulatedRegions.All.Select(r => new SimulatedAccountOptions
        {
            Name = r.Name,
            Region = r.Name,
            ApiKey = "demo-upstream-key-" + r.Name,
            LatencyScale = r.LatencyScale,
            Deployments =
            {
                ["chat"] = new SimulatedDeploymentOptions { Model = "gpt-4o-mini", TokensPerMinute = r.TokensPerMinute },
                ["embeddings"] = new SimulatedDeploymentOptions { Model = "text-embedding-3-small", Kind = DeploymentKind.Embeddings, TokensPerMinute = r.TokensPerMinute * 4 },
            },
        }).ToList();
        var host = await SimulatorHost.StartAsync(accounts).ConfigureAwait(false);
        builder.Services.AddSingleton(host);

        var settings = new Dictionary<string, string?>();
        foreach (var (account, region) in host.Accounts.Zip(SimulatedRegions.All))
        {
            var (name, priority) = (region.Name, region.Priority);
            var prefix = $"{BackendConfiguration.BackendsSection}:{name}:";
            settings[prefix + "Endpoint"] = account.Endpoint.AbsoluteUri;
            settings[prefix + "ApiKey"] = account.Options.ApiKey;
            settings[prefix + "Region"] = name;
            settings[prefix + "Priority"] = priority.ToString(System.Globalization.CultureInfo.InvariantCulture);
            settings[prefix + "Deployments:chat"] = "chat";
            settings[prefix + "Deployments:embeddings"] = "embeddings";
        }
        builder.Configuration.AddInMemoryCollection(settings);
        return true;
    }
}
