namespace AoaiAspire.Backends.Configuration;

/// <summary>How the gateway and the probe authenticate to a backend.</summary>
internal enum UpstreamAuthKind
{
    ApiKey,
    EntraId,
}

/// <summary>A validated, resolved backend: what the gateway and the probe work with.</summary>
internal sealed class BackendDefinition
{
    public BackendDefinition(string name, Uri endpoint, string region, int priority, int weight, string? apiKey, IReadOnlyDictionary<string, string> deployments)
    {
        Name = name;
        Endpoint = endpoint;
        Region = region;
        Priority = priority;
        Weight = weight;
        ApiKey = apiKey;
        Deployments = deployments;
    }

    public string Name { get; }

    /// <summary>Base address, always ending in '/'.</summary>
    public Uri Endpoint { get; }
    public string Region { get; }
    public int Priority { get; }
    public int Weight { get; }
    public string? ApiKey { get; }
    public UpstreamAuthKind Auth => ApiKey is null ? UpstreamAuthKind.EntraId : UpstreamAuthKind.ApiKey;

    /// <summary>Logical deployment → upstream deployment name.</summary>
    public IReadOnlyDictionary<string, string> Deployments { get; }

    public override string ToString() => $"{Name} ({Region}, priority {Priority}, weight {Weight}, {Endpoint})";
}
