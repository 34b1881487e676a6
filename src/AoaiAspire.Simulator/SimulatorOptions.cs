using System.ComponentModel.DataAnnotations;

namespace AoaiAspire.Simulator;

/// <summary>Configuration section <c>Simulator</c>: the simulated Azure OpenAI accounts one process hosts.</summary>
public sealed class SimulatorOptions
{
    public const string SectionName = "Simulator";

    /// <summary>The accounts; each listens on its own port.</summary>
    public List<SimulatedAccountOptions> Accounts { get; set; } = [];
}

/// <summary>One simulated Azure OpenAI account (a resource in one region).</summary>
public sealed class SimulatedAccountOptions
{
    /// <summary>Name of the account, e.g. <c>eastus</c>. Default <c>sim</c>.</summary>
    [Required]
    public string Name { get; set; } = "sim";

    /// <summary>Region sent back in <c>x-ms-region</c>. Default <c>eastus</c>.</summary>
    public string Region { get; set; } = "eastus";

    /// <summary>Loopback port to listen on; 0 picks a free one. Default 0.</summary>
    [Range(0, 65535)]
    public int Port { get; set; }

    /// <summary>The key callers must send in <c>api-key</c>; null accepts any non-empty key. Default null.</summary>
    public string? ApiKey { get; set; }

    /// <summary>When true, only <c>Authorization: Bearer</c> is accepted (accounts with key auth disabled). Default false.</summary>
    public bool RequireBearerToken { get; set; }

    /// <summary>
    /// The bearer token callers must send; null accepts any non-empty token (the simulator cannot check an
    /// Entra ID signature). Set it to test that a token really travels end to end. Default null.
    /// </summary>
    public string? ExpectedBearerToken { get; set; }

    /// <summary>Time between two chunks of a streamed response, before <see cref="LatencyScale"/>. Default 50 ms.</summary>
    public TimeSpan StreamChunkInterval { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Completion tokens carried by one chunk of a streamed response; raise it to keep long streams short. Default 1.</summary>
    [Range(1, 4096)]
    public int TokensPerChunk { get; set; } = 1;

    /// <summary>Multiplies every simulated latency; 0 answers at once. Default 1.</summary>
    [Range(0, 100)]
    public double LatencyScale { get; set; } = 1.0;

    /// <summary>Seed of the random source (latency jitter, fault shares); null seeds from the clock.</summary>
    public int? Seed { get; set; }

    /// <summary>Deployments by name.</summary>
    public Dictionary<string, SimulatedDeploymentOptions> Deployments { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Faults injected at start; change them at run time through <c>PUT /admin/faults</c> or <see cref="SimulatedAccount.Faults"/>.</summary>
    public FaultOptions Faults { get; set; } = new();
}

public enum DeploymentKind
{
    Chat,
    Embeddings,
}

/// <summary>A deployment and its limits.</summary>
public sealed class SimulatedDeploymentOptions
{
    /// <summary>Model name reported in responses. Default <c>gpt-4o-mini</c>.</summary>
    public string Model { get; set; } = "gpt-4o-mini";

    /// <summary>Chat (chat and completions) or embeddings. Default chat.</summary>
    public DeploymentKind Kind { get; set; } = DeploymentKind.Chat;

    /// <summary>Tokens per minute. Default 30,000.</summary>
    [Range(1, int.MaxValue)]
    public int TokensPerMinute { get; set; } = 30_000;

    /// <summary>Requests per minute; null means 6 per 1,000 TPM as Azure OpenAI does. Default null.</summary>
    public int? RequestsPerMinute { get; set; }

    /// <summary>Tokens charged for the completion when a request sets no <c>max_tokens</c>. Default 648 (gpt-4o as measured).</summary>
    [Range(0, int.MaxValue)]
    public int DefaultMaxTokensCharge { get; set; } = 648;
}

/// <summary>Faults the account injects. Shares are 0..1 of requests.</summary>
public sealed class FaultOptions
{
    /// <summary>Share of requests answered 500. Default 0.</summary>
    [Range(0, 1)]
    public double ServerErrorRate { get; set; }

    /// <summary>Share of requests answered 503. Default 0.</summary>
    [Range(0, 1)]
    public double ServiceUnavailableRate { get; set; }

    /// <summary>Share of requests that hang (no response) for <see cref="TimeoutDuration"/>. Default 0.</summary>
    [Range(0, 1)]
    public double TimeoutRate { get; set; }

    /// <summary>How long a hanging request hangs. Default 100 s.</summary>
    public TimeSpan TimeoutDuration { get; set; } = TimeSpan.FromSeconds(100);

    /// <summary>Share of requests whose connection is dropped without a response. Default 0.</summary>
    [Range(0, 1)]
    public double DropRate { get; set; }

    /// <summary>The account is down: every connection is dropped. Default false.</summary>
    public bool Down { get; set; }

    /// <summary>Latency added to every request (a slow region). Default 0.</summary>
    public TimeSpan ExtraLatency { get; set; }

    /// <summary>When set, every request is throttled with a 429 carrying this Retry-After. Default null.</summary>
    public TimeSpan? ForceThrottle { get; set; }
}
