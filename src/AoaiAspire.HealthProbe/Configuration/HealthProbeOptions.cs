namespace AoaiAspire.HealthProbe.Configuration;

/// <summary>
/// How the health probe works, bound from the <c>HealthProbe</c> section and validated at start
/// (<see cref="HealthProbeOptionsValidator"/>). See docs/health-probe.md.
/// </summary>
internal sealed class HealthProbeOptions
{
    public const string SectionName = "HealthProbe";

    /// <summary>Time between the starts of two rounds. Default 10 s.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Time one probe may take, connection included, before the backend is called unreachable. Default 5 s.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// What is requested (GET), relative to each backend's endpoint. Default
    /// <c>openai/models?api-version=2024-10-21</c>: cheap, authenticated, and not charged against any deployment's quota.
    /// </summary>
    public string Path { get; set; } = "openai/models?api-version=2024-10-21";

    /// <summary>
    /// How long a published verdict lives in Redis, so the verdict of a probe that died fades instead of
    /// standing for ever. Default (null) three times <see cref="Interval"/>.
    /// </summary>
    public TimeSpan? VerdictTimeToLive { get; set; }

    /// <summary>How long a backend that answered 429 without <c>retry-after-ms</c> or <c>retry-after</c> is reported throttled. Default 10 s.</summary>
    public TimeSpan ThrottleDefault { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Backends probed at the same time. Default 8.</summary>
    public int MaxConcurrency { get; set; } = 8;

    /// <summary>
    /// Client id of the user-assigned managed identity used for backends without an api-key. Default
    /// none: <c>AZURE_CLIENT_ID</c> if set, else the default Azure credential chain.
    /// </summary>
    public string? ManagedIdentityClientId { get; set; }

    /// <summary><see cref="VerdictTimeToLive"/>, or three intervals when it is not set.</summary>
    public TimeSpan EffectiveVerdictTimeToLive => VerdictTimeToLive ?? Interval * 3;

    /// <summary>
    /// How long the lease on one backend is held: a little less than an interval, so the holder's next round
    /// (whose timer may fire a hair early against Redis's clock) finds it free again, while a replica
    /// whose rounds are offset by part of an interval still finds it taken.
    /// </summary>
    public TimeSpan LeaseDuration => Interval * 0.9;

    /// <summary>
    /// How long without a completed round before <c>/health</c> says unhealthy: by then this replica's
    /// verdicts are fading from Redis.
    /// </summary>
    public TimeSpan StaleAfter => (Interval * 3) + Timeout;
}
