using System.ComponentModel.DataAnnotations;

namespace AoaiAspire.Gateway.Configuration;

/// <summary>Configuration section <c>Gateway</c>. Backends are read separately (<c>Gateway:Backends</c>).</summary>
internal sealed class GatewayOptions
{
    public const string SectionName = "Gateway";

    /// <summary>Accept callers without a key. Allowed only when no consumers are configured. Default false (true in demo mode).</summary>
    public bool AllowAnonymous { get; set; }

    /// <summary>
    /// Key for <c>/admin/*</c> and the status page. When absent, those endpoints are open in Development and
    /// answer 404 everywhere else. Default none.
    /// </summary>
    public string? AdminKey { get; set; }

    /// <summary><c>api-version</c> sent upstream when the caller gives none (v1-style calls). Default <c>2024-10-21</c>.</summary>
    [Required]
    public string DefaultApiVersion { get; set; } = "2024-10-21";

    /// <summary>Largest request body accepted and buffered for replay; larger gets 413. Default 16 MiB.</summary>
    [Range(1024, 1L << 30)]
    public long MaxRequestBodySize { get; set; } = 16 * 1024 * 1024;

    /// <summary>Callers by name.</summary>
    public Dictionary<string, ConsumerOptions> Consumers { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    public RoutingOptions Routing { get; set; } = new();

    public CircuitBreakerOptions CircuitBreaker { get; set; } = new();

    public UpstreamOptions Upstream { get; set; } = new();

    public TokenOptions Tokens { get; set; } = new();

    public LimitsOptions Limits { get; set; } = new();

    /// <summary>Hedged first bytes for streaming requests, per deployment, opt-in (README "Hedging").</summary>
    public Hedging.HedgingOptions Hedging { get; set; } = new();
}

/// <summary>
/// <c>Gateway:Limits</c>: what one caller, one connection or the whole process may take. Applied to Kestrel
/// at start-up (a change needs a restart), except the per-consumer concurrency, which follows reloads.
/// </summary>
internal sealed class LimitsOptions
{
    /// <summary>Open connections at most; null means no limit. Default null.</summary>
    [Range(1, 1_000_000)]
    public long? MaxConcurrentConnections { get; set; }

    /// <summary>Total size of a request's headers. Default 32 KiB.</summary>
    [Range(1024, 1024 * 1024)]
    public int MaxRequestHeadersTotalSize { get; set; } = 32 * 1024;

    /// <summary>Headers per request. Default 64.</summary>
    [Range(1, 1000)]
    public int MaxRequestHeaderCount { get; set; } = 64;

    /// <summary>Time for a client to send its request headers. Default 15 s.</summary>
    public TimeSpan RequestHeadersTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Idle time before a kept-alive connection is closed. Default 130 s (above common client pools' 120 s).</summary>
    public TimeSpan KeepAliveTimeout { get; set; } = TimeSpan.FromSeconds(130);

    /// <summary>Slowest acceptable request body upload, bytes per second, after <see cref="MinRequestBodyDataRateGracePeriod"/>. Default 240.</summary>
    [Range(1, 1_000_000_000)]
    public double MinRequestBodyDataRate { get; set; } = 240;

    /// <summary>Grace period before <see cref="MinRequestBodyDataRate"/> applies. Default 5 s.</summary>
    public TimeSpan MinRequestBodyDataRateGracePeriod { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Requests in flight per consumer unless the consumer sets its own; 0 means no limit. Default 0.</summary>
    [Range(0, 1_000_000)]
    public int MaxConcurrentRequestsPerConsumer { get; set; }

    /// <summary>
    /// On shutdown the gateway stops accepting at once and lets open requests (streams above all) finish for at
    /// most this long; then their connections are ended. Default 30 s.
    /// </summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary><c>Gateway:Tokens</c>: how requests are estimated before they run.</summary>
internal sealed class TokenOptions
{
    /// <summary>
    /// Completion tokens assumed for a request that sets no <c>max_tokens</c>, as Azure OpenAI's limiter
    /// does (measured: 648 for gpt-4o on pay-as-you-go). Default 648.
    /// </summary>
    [Range(1, 1_000_000)]
    public int DefaultCompletionTokens { get; set; } = 648;
}

/// <summary>A caller of the gateway (<c>Gateway:Consumers:{name}</c>).</summary>
internal sealed class ConsumerOptions
{
    /// <summary>Keys in clear text; several allow rotation without downtime.</summary>
    public List<string> Keys { get; set; } = [];

    /// <summary>SHA-256 hashes (hex) of keys, for operators who keep no clear keys in configuration.</summary>
    public List<string> KeyHashes { get; set; } = [];

    /// <summary>Logical deployments this consumer may call; empty means all. Default empty.</summary>
    public List<string> Deployments { get; set; } = [];

    /// <summary>Requests this consumer may have in flight; null uses <c>Gateway:Limits:MaxConcurrentRequestsPerConsumer</c>.</summary>
    [Range(1, 1_000_000)]
    public int? MaxConcurrentRequests { get; set; }

    /// <summary>Tokens per clock minute over all deployments together (estimate, corrected by usage); null means no limit. Default null. See docs/quotas.md.</summary>
    public long? TokensPerMinute { get; set; }

    /// <summary>Requests per clock minute over all deployments together; null means no limit. Default null.</summary>
    public int? RequestsPerMinute { get; set; }

    /// <summary>Limits for one deployment, applied in addition to the consumer-wide ones (<c>DeploymentLimits:{deployment}</c>). Default none.</summary>
    public Dictionary<string, Quotas.DeploymentQuotaOptions> DeploymentLimits { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Its priority class (<c>Gateway:Admission:Classes</c>); null takes <c>Gateway:Admission:DefaultClass</c>. Default null. README "Admission".</summary>
    public string? Priority { get; set; }

    /// <summary>
    /// Its patience: how long a request may wait in the admission queue for a backend instead of getting a 429 at once
    /// (a caller lowers it with <c>x-aoai-max-wait-ms</c>); null takes <c>Gateway:Admission:MaxQueueWait</c>. Default null.
    /// </summary>
    public TimeSpan? MaxQueueWait { get; set; }

    /// <summary>This consumer's quota behaviour while Redis is unreachable; null follows <c>Gateway:Quotas:WhenRedisDown</c>. Default null. See docs/quotas.md.</summary>
    public Quotas.QuotaRedisDownMode? QuotaWhenRedisDown { get; set; }
}

/// <summary><c>Gateway:Routing</c>.</summary>
internal sealed class RoutingOptions
{
    /// <summary>
    /// Backend choice inside a priority group: <c>weighted</c> (power of two choices over weighted random, by outstanding attempts per weight; default; <c>priority</c> is its
    /// former name and still accepted), <c>round-robin</c>, <c>least-latency</c>, <c>capacity</c>. Follows
    /// configuration reloads: a new value applies to the next request.
    /// </summary>
    [Required]
    public string Policy { get; set; } = LoadBalancing.LoadBalancingPolicies.Default;

    /// <summary>Upstream attempts per caller request; 0 means one per candidate backend. Default 0.</summary>
    [Range(0, 64)]
    public int MaxAttempts { get; set; }

    /// <summary>How long a backend is benched after a 429 that carries no Retry-After. Default 10 s.</summary>
    public TimeSpan DefaultThrottleDuration { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The longest a backend is benched for one 429, whatever its Retry-After says (a daily quota says
    /// 86,400 s; after this cap the backend is tried again and, if still exhausted, benched again). Default 5 min.
    /// </summary>
    public TimeSpan MaxThrottleDuration { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// How long a probe verdict that keeps a backend out (unreachable, erroring, auth failure) holds after the
    /// probe's check; a probe that stops reporting cannot bench a backend forever. Default 1 min.
    /// </summary>
    public TimeSpan ProbeVerdictLifetime { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Weight of the newest sample in the latency average (EWMA). Default 0.3.</summary>
    [Range(0.01, 1.0)]
    public double LatencySmoothing { get; set; } = 0.3;

    /// <summary><c>Gateway:Routing:Overdue</c>: new traffic avoids a backend that has stopped answering (README, "Routing").</summary>
    public OverdueOptions Overdue { get; set; } = new();
}

/// <summary>
/// <c>Gateway:Routing:Overdue</c>: a backend whose oldest outstanding attempt, and its last answer, are both older
/// than <see cref="LatencyMultiplier"/> × its smoothed time to headers (bounded by <see cref="MinDelay"/> and
/// <see cref="MaxDelay"/>) is overdue: selection passes over it, whatever the policy, until it answers again.
/// </summary>
internal sealed class OverdueOptions
{
    /// <summary>Whether the rule applies. Default true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>How many times its own smoothed time to headers a backend may stay silent. Default 3.</summary>
    [Range(1.0, 1000.0)]
    public double LatencyMultiplier { get; set; } = 3;

    /// <summary>The shortest silence that makes a backend overdue, whatever its latency. Default 500 ms.</summary>
    public TimeSpan MinDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>The longest silence tolerated, whatever its latency (and before any latency is known). Default 10 s.</summary>
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>
/// <c>Gateway:Upstream:StreamFirstByte</c>: a streaming attempt's first body byte must come within
/// <see cref="LatencyMultiplier"/> × that backend's smoothed time to first byte (bounded by <see cref="MinDeadline"/>
/// and <see cref="MaxDeadline"/>); past it, while nothing has reached the caller, the next backend is tried.
/// </summary>
internal sealed class StreamFirstByteOptions
{
    /// <summary>Whether the adaptive deadline applies (else <c>FirstByteTimeout</c> alone). Default true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>How many times its smoothed time to first byte a stream may wait. Default 4.</summary>
    [Range(1.0, 1000.0)]
    public double LatencyMultiplier { get; set; } = 4;

    /// <summary>The shortest deadline, whatever the backend's recent first bytes. Default 2 s.</summary>
    public TimeSpan MinDeadline { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>The longest deadline (and the deadline before any first byte was measured). Default 30 s.</summary>
    public TimeSpan MaxDeadline { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary><c>Gateway:CircuitBreaker</c>: per-backend breaker on 5xx, 408, timeouts and connection failures.</summary>
internal sealed class CircuitBreakerOptions
{
    /// <summary>Failures in a row that open the circuit. Default 5.</summary>
    [Range(1, 10_000)]
    public int ConsecutiveFailures { get; set; } = 5;

    /// <summary>Failure share within <see cref="SamplingDuration"/> that opens the circuit. Default 0.5.</summary>
    [Range(0.01, 1.0)]
    public double FailureRatio { get; set; } = 0.5;

    /// <summary>Attempts needed in the window before the ratio counts. Default 10.</summary>
    [Range(1, 100_000)]
    public int MinimumThroughput { get; set; } = 10;

    /// <summary>Window for the failure ratio. Default 30 s.</summary>
    public TimeSpan SamplingDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long an open circuit stays open before one trial request. Default 10 s: a region that comes back is
    /// used again within seconds, at the price of one retried request per break while it is still down. A
    /// healthy verdict from the probe ends the break early.
    /// </summary>
    public TimeSpan BreakDuration { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary><c>Gateway:Upstream</c>: timeouts of calls to backends.</summary>
internal sealed class UpstreamOptions
{
    /// <summary>TCP+TLS connect. Default 5 s.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Until the response headers arrive (a non-streaming completion sends them when done). Default 100 s.</summary>
    public TimeSpan FirstByteTimeout { get; set; } = TimeSpan.FromSeconds(100);

    /// <summary>Longest silence while copying a response body (streams). Default 30 s.</summary>
    public TimeSpan StreamIdleTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The adaptive first-byte deadline of streaming attempts (<c>Gateway:Upstream:StreamFirstByte</c>).</summary>
    public StreamFirstByteOptions StreamFirstByte { get; set; } = new();

    /// <summary>Lifetime of a pooled connection (so DNS changes are seen). Default 5 min.</summary>
    public TimeSpan PooledConnectionLifetime { get; set; } = TimeSpan.FromMinutes(5);
}
