namespace AoaiAspire.Backends.State;

/// <summary>
/// The Redis keys and channels every gateway replica and health probe agree on. Listed in README
/// ("Redis keys and channels"); change them only together with it.
/// </summary>
internal static class SharedStateNames
{
    /// <summary>Prefix of every key the project writes.</summary>
    public const string Prefix = "aoai:";

    /// <summary>Channel of <see cref="BackendEvent"/> messages (throttles, circuits, probe verdicts).</summary>
    public const string EventsChannel = "aoai:events";

    /// <summary>Unix ms until which a logical deployment on the backend is throttled (string integer; expires with it).</summary>
    public static string ThrottleKey(string backend, string deployment) => $"aoai:backend:{backend}:deployment:{deployment}:throttled-until";

    /// <summary>Unix ms until which the backend's circuit is open (string integer; expires with it).</summary>
    public static string CircuitKey(string backend) => $"aoai:backend:{backend}:circuit-open-until";

    /// <summary>The latest probe verdict, JSON <see cref="BackendHealthReport"/>, expiring after a few probe intervals.</summary>
    public static string HealthKey(string backend) => $"aoai:backend:{backend}:health";

    /// <summary>Lease a probe replica holds while it probes one backend for one interval.</summary>
    public static string ProbeLeaseKey(string backend) => $"aoai:probe:lease:{backend}";

    /// <summary>
    /// A process's identity in events and verdicts: machine, process id and a random part, at most 48
    /// characters (a short machine name gives a shorter id; slicing a fixed 48 threw on those).
    /// </summary>
    public static string NewInstanceId()
    {
        var id = $"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid():N}";
        return id.Length > 48 ? id[..48] : id;
    }

    /// <summary>Prefix of the consumer quota keys.</summary>
    public const string QuotaPrefix = "aoai:quota:";

    /// <summary>The deployment part of a consumer-wide quota key (all deployments together).</summary>
    public const string QuotaAllDeployments = "*";

    /// <summary>Quota measure: tokens charged in the window.</summary>
    public const string QuotaTokens = "tokens";

    /// <summary>Quota measure: requests admitted in the window.</summary>
    public const string QuotaRequests = "requests";

    /// <summary>
    /// What one consumer spent in one clock minute, over every replica (string integer, INCRBY; expires
    /// two minutes after the last write). <paramref name="deployment"/> is <see cref="QuotaAllDeployments"/>
    /// for the consumer-wide count; <paramref name="windowUnixMinute"/> is unix seconds / 60 of the window start.
    /// </summary>
    public static string QuotaKey(string consumer, string deployment, long windowUnixMinute, string measure)
        => $"aoai:quota:{consumer}:{deployment}:{windowUnixMinute}:{measure}";

    /// <summary>
    /// A random value set once per Redis dataset (no expiry). When it changes, Redis lost its data (restart
    /// without persistence, flush) and each replica pushes again what it had counted in the current window.
    /// </summary>
    public const string QuotaEpochKey = "aoai:quota:epoch";
}
