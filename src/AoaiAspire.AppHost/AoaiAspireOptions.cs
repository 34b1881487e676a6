using System.Text.RegularExpressions;
using AoaiAspire.AppHost.Redis;
using Microsoft.Extensions.Configuration;

namespace AoaiAspire.AppHost;

/// <summary>
/// AppHost configuration section <c>AoaiAspire</c>: the one place regions and models are listed.
/// Set it in the AppHost's appsettings, user secrets, environment (<c>AoaiAspire__Regions__0__Name=…</c>)
/// or command line (<c>--AoaiAspire:UseAzureOpenAI=true</c>).
/// </summary>
internal sealed partial class AoaiAspireOptions
{
    public const string SectionName = "AoaiAspire";

    /// <summary>
    /// Run mode only: use real, existing Azure OpenAI accounts (one connection string
    /// <c>ConnectionStrings:aoai-{region}</c> per region) instead of the simulated regions. Default false.
    /// Publish mode always provisions accounts.
    /// </summary>
    public bool UseAzureOpenAI { get; set; }

    /// <summary>
    /// The Azure regions, one Azure OpenAI account each (publish mode, and run mode with <see cref="UseAzureOpenAI"/>).
    /// Default (when none are configured): <c>eastus2</c> and <c>swedencentral</c>, both priority 1.
    /// </summary>
    /// <remarks>
    /// The defaults are added by <see cref="Read"/> after binding, not by an initialiser: the configuration binder
    /// appends to a list it finds filled, so configured regions would be added to the defaults instead of replacing them.
    /// </remarks>
    public List<RegionOptions> Regions { get; set; } = [];

    /// <summary>The chat deployment of every account. Default <c>chat</c>: gpt-4.1-mini 2025-04-14, GlobalStandard, 50 (thousand TPM).</summary>
    public ModelDeploymentOptions Chat { get; set; } = new()
    {
        DeploymentName = "chat",
        ModelName = "gpt-4.1-mini",
        ModelVersion = "2025-04-14",
        SkuName = "GlobalStandard",
        SkuCapacity = 50,
    };

    /// <summary>The embeddings deployment of every account. Default <c>embeddings</c>: text-embedding-3-small 1, Standard, 50 (thousand TPM).</summary>
    public ModelDeploymentOptions Embeddings { get; set; } = new()
    {
        DeploymentName = "embeddings",
        ModelName = "text-embedding-3-small",
        ModelVersion = "1",
        SkuName = "Standard",
        SkuCapacity = 50,
    };

    /// <summary>Gateway scale and routing.</summary>
    public GatewayScaleOptions Gateway { get; set; } = new();

    /// <summary>How often the health probe checks every backend (<c>HealthProbe__Interval</c>). Default 10 s.</summary>
    public TimeSpan HealthProbeInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How Redis runs in run mode (<c>AoaiAspire:Redis:Mode</c>: Auto, Container, Process).</summary>
    public RedisOptions Redis { get; set; } = new();

    /// <summary>Run mode: multiplies each simulated region's latency scale; 0 answers at once (tests). Default 1.</summary>
    public double SimulatorLatencyScale { get; set; } = 1.0;

    /// <summary>Reads and validates the section; a bad setting stops the AppHost with a message naming the key.</summary>
    public static AoaiAspireOptions Read(IConfiguration configuration)
    {
        var options = configuration.GetSection(SectionName).Get<AoaiAspireOptions>() ?? new AoaiAspireOptions();
        if (options.Regions.Count == 0)
        {
            options.Regions.Add(new RegionOptions { Name = "eastus2", Priority = 1, Weight = 1 });
            options.Regions.Add(new RegionOptions { Name = "swedencentral", Priority = 1, Weight = 1 });
        }

        options.Validate();
        return options;
    }

    private void Validate()
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < Regions.Count; i++)
        {
            var region = Regions[i];
            // Region names become resource names (aoai-{name}) and configuration keys (Gateway:Backends:{name}).
            if (string.IsNullOrEmpty(region.Name) || !RegionName().IsMatch(region.Name))
            {
                throw new InvalidOperationException(
                    $"{SectionName}:Regions:{i}:Name must be an Azure region name in lower case (letters and digits, e.g. 'eastus2'); got '{region.Name}'.");
            }

            if (!names.Add(region.Name))
            {
                throw new InvalidOperationException($"{SectionName}:Regions:{i}:Name '{region.Name}' is listed twice.");
            }

            if (region.Priority < 1 || region.Weight < 1)
            {
                throw new InvalidOperationException($"{SectionName}:Regions:{i}: Priority and Weight must be 1 or more.");
            }
        }

        Chat.Validate($"{SectionName}:Chat");
        Embeddings.Validate($"{SectionName}:Embeddings");
        if (string.Equals(Chat.DeploymentName, Embeddings.DeploymentName, StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"{SectionName}:Chat:DeploymentName and {SectionName}:Embeddings:DeploymentName must differ.");
        }

        if (Gateway.Replicas < 1 || Gateway.MaxReplicas < Gateway.Replicas || Gateway.ConcurrentRequests < 1)
        {
            throw new InvalidOperationException(
                $"{SectionName}:Gateway: need 1 <= Replicas <= MaxReplicas and ConcurrentRequests >= 1; got {Gateway.Replicas}, {Gateway.MaxReplicas}, {Gateway.ConcurrentRequests}.");
        }

        if (Gateway.LocalPort is < 1 or > 65535)
        {
            throw new InvalidOperationException($"{SectionName}:Gateway:LocalPort must be a TCP port (1-65535); got {Gateway.LocalPort}.");
        }

        if (HealthProbeInterval <= TimeSpan.Zero)
        {
            throw new InvalidOperationException($"{SectionName}:HealthProbeInterval must be positive.");
        }

        if (SimulatorLatencyScale is < 0 or > 100)
        {
            throw new InvalidOperationException($"{SectionName}:SimulatorLatencyScale must be between 0 and 100.");
        }
    }

    [GeneratedRegex("^[a-z][a-z0-9]{1,40}$")]
    private static partial Regex RegionName();
}

/// <summary>One region: one Azure OpenAI account, one gateway backend named after the region.</summary>
internal sealed class RegionOptions
{
    /// <summary>Azure region, e.g. <c>eastus2</c>; also the backend name and the account resource <c>aoai-{Name}</c>.</summary>
    public string Name { get; set; } = "";

    /// <summary>Gateway priority group; 1 is tried first. Default 1.</summary>
    public int Priority { get; set; } = 1;

    /// <summary>Weight inside the priority group. Default 1.</summary>
    public int Weight { get; set; } = 1;
}

/// <summary>A model deployment created in every account.</summary>
internal sealed class ModelDeploymentOptions
{
    /// <summary>Deployment name in Azure, and the logical deployment callers use at the gateway.</summary>
    public string DeploymentName { get; set; } = "";

    public string ModelName { get; set; } = "";

    public string ModelVersion { get; set; } = "";

    /// <summary><c>GlobalStandard</c>, <c>Standard</c>, <c>DataZoneStandard</c>, <c>ProvisionedManaged</c>, ...</summary>
    public string SkuName { get; set; } = "";

    /// <summary>Capacity in units of the SKU (thousands of tokens per minute for the standard SKUs).</summary>
    public int SkuCapacity { get; set; }

    internal void Validate(string key)
    {
        if (string.IsNullOrWhiteSpace(DeploymentName) || string.IsNullOrWhiteSpace(ModelName)
            || string.IsNullOrWhiteSpace(ModelVersion) || string.IsNullOrWhiteSpace(SkuName) || SkuCapacity < 1)
        {
            throw new InvalidOperationException(
                $"{key}: DeploymentName, ModelName, ModelVersion and SkuName must be set and SkuCapacity must be 1 or more.");
        }
    }
}

/// <summary>How the gateway scales.</summary>
internal sealed class GatewayScaleOptions
{
    /// <summary>Replicas in run mode, and the minimum replica count in Azure Container Apps. Default 2.</summary>
    public int Replicas { get; set; } = 2;

    /// <summary>
    /// Run mode: the fixed local port of the gateway (all replicas behind it), <c>http://localhost:{LocalPort}</c>. Default 5080.
    /// Tests randomise it.
    /// </summary>
    public int LocalPort { get; set; } = 5080;

    /// <summary>Maximum replica count in Azure Container Apps. Default 10.</summary>
    public int MaxReplicas { get; set; } = 10;

    /// <summary>Concurrent HTTP requests per replica before Container Apps adds one (HTTP scale rule). Default 100.</summary>
    public int ConcurrentRequests { get; set; } = 100;

    /// <summary><c>Gateway__Routing__Policy</c>: <c>priority</c>, <c>round-robin</c>, <c>least-latency</c> or <c>capacity</c>. Default <c>priority</c>.</summary>
    public string RoutingPolicy { get; set; } = "priority";
}
