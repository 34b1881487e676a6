using System.ComponentModel.DataAnnotations;

namespace AoaiAspire.Backends.Configuration;

/// <summary>
/// One Azure OpenAI account (or compatible endpoint), bound from <c>Gateway:Backends:{name}</c>.
/// </summary>
internal sealed class BackendOptions
{
    /// <summary>Base address, e.g. <c>https://contoso-eastus.openai.azure.com/</c>. Required unless <see cref="Connection"/> is set.</summary>
    public Uri? Endpoint { get; set; }

    /// <summary>
    /// Name of a connection string (<c>ConnectionStrings:{name}</c>) in the Aspire form
    /// <c>Endpoint=https://…;Key=…</c> or <c>Endpoint=https://…;Deployment=…</c>. When set, its endpoint
    /// and key are used. This is how the AppHost hands over the accounts it provisions.
    /// </summary>
    public string? Connection { get; set; }

    /// <summary>The upstream <c>api-key</c>. When absent the gateway authenticates with Entra ID. Default none.</summary>
    public string? ApiKey { get; set; }

    /// <summary>Region label used in telemetry and on the status page; defaults to the backend name.</summary>
    public string? Region { get; set; }

    /// <summary>Priority group: 1 is tried first (PTU), higher numbers are fallbacks. Default 1.</summary>
    [Range(0, 1000)]
    public int Priority { get; set; } = 1;

    /// <summary>Relative share of traffic within its priority group. Default 1.</summary>
    [Range(1, 10_000)]
    public int Weight { get; set; } = 1;

    /// <summary>
    /// Logical deployment name (what callers use) → upstream deployment name on this account.
    /// Example: <c>"chat": "gpt-4o-mini-eastus"</c>.
    /// </summary>
    public Dictionary<string, string> Deployments { get; set; } = new(StringComparer.OrdinalIgnoreCase);
}
