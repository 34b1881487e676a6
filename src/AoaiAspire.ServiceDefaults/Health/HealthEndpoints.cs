namespace AoaiAspire.ServiceDefaults.Health;

/// <summary>The paths <c>MapDefaultEndpoints()</c> maps and the tag that marks liveness checks.</summary>
public static class HealthEndpoints
{
    /// <summary>Readiness: every registered check. Healthy and Degraded answer 200, Unhealthy 503.</summary>
    public const string HealthPath = "/health";

    /// <summary>Liveness: only the checks tagged <see cref="LiveTag"/>.</summary>
    public const string AlivePath = "/alive";

    /// <summary>Tag for checks that say whether the process should be restarted.</summary>
    public const string LiveTag = "live";
}
