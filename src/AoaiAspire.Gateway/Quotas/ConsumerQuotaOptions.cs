using System.ComponentModel.DataAnnotations;

namespace AoaiAspire.Gateway.Quotas;

/// <summary>
/// Limits of one consumer on one deployment (<c>Gateway:Consumers:{name}:DeploymentLimits:{deployment}</c>).
/// They apply to that deployment only, in addition to the consumer-wide limits, which count every deployment.
/// </summary>
internal sealed class DeploymentQuotaOptions
{
    /// <summary>Tokens per clock minute on this deployment; null means no limit of its own. Default null.</summary>
    public long? TokensPerMinute { get; set; }

    /// <summary>Requests per clock minute on this deployment; null means no limit of its own. Default null.</summary>
    public int? RequestsPerMinute { get; set; }
}

/// <summary><c>Gateway:Quotas</c>: how the quota counts are shared across replicas (limits are per consumer).</summary>
internal sealed class ConsumerQuotaOptions
{
    public const string SectionName = "Gateway:Quotas";

    /// <summary>
    /// How often each replica pushes its unsynchronised counts to Redis and reads the totals back. Shorter means
    /// less overshoot and more Redis traffic (one round trip per replica per interval). Default 100 ms.
    /// </summary>
    public TimeSpan SyncInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// With Redis connected: the share of a limit one replica may admit between two synchronisations (the first request
    /// after a synchronisation always passes). It bounds the overshoot to about 2 × (replicas − 1) × this share of the
    /// limit however fast requests arrive, and caps one replica's pace at this share per <see cref="SyncInterval"/>
    /// (0.01 per 100 ms = 6 × the limit per minute); a request refused by it gets a Retry-After of one
    /// <see cref="SyncInterval"/>. 1 turns it off. Default 0.01.
    /// </summary>
    [Range(0.0001, 1.0)]
    public double MaxUnsyncedShare { get; set; } = 0.01;

    /// <summary>
    /// What a consumer's quota does while a configured Redis is unreachable, unless the consumer sets its own
    /// <c>Gateway:Consumers:{name}:QuotaWhenRedisDown</c>. <see cref="QuotaRedisDownMode.FailOpen"/>: each replica counts
    /// alone (with N replicas a consumer may get up to N times its limit during the outage).
    /// <see cref="QuotaRedisDownMode.FailClosed"/>: requests of consumers with limits are refused with 503 until the counts
    /// are shared again. Default FailOpen. No effect without Redis configured (one replica counts exactly).
    /// </summary>
    [EnumDataType(typeof(QuotaRedisDownMode))]
    public QuotaRedisDownMode WhenRedisDown { get; set; } = QuotaRedisDownMode.FailOpen;
}

/// <summary>Quota behaviour while the shared counts are unreachable (see docs/quotas.md).</summary>
internal enum QuotaRedisDownMode
{
    /// <summary>Admit on this replica's own counts.</summary>
    FailOpen,

    /// <summary>Refuse (503) what cannot be counted across replicas.</summary>
    FailClosed,
}
