using AoaiAspire.Backends.State;
using AoaiAspire.Gateway.Configuration;

namespace AoaiAspire.Gateway.Quotas;

/// <summary>
/// Per-consumer token and request quotas over fixed clock-minute windows, decided from memory only.
/// </summary>
/// <remarks>
/// <para>Each consumer has a consumer-wide counter (<c>TokensPerMinute</c>, <c>RequestsPerMinute</c>, every
/// deployment together) and a counter per deployment that has limits of its own (<c>DeploymentLimits</c>); a request
/// must fit every counter that applies to it and is charged to all of them. The counters are built from
/// configuration, so a lookup allocates nothing and unknown deployment names cannot grow the table.</para>
/// <para>Alone, the counts are this replica's. With Redis, <see cref="QuotaSynchronizer"/> pushes each counter's
/// pending charges every <see cref="ConsumerQuotaOptions.SyncInterval"/> and brings back the total of every replica;
/// see docs/quotas.md for the accuracy this gives.</para>
/// </remarks>
internal sealed class ConsumerQuotas : IConsumerQuotas
{
    private const long WindowMilliseconds = 60_000;

    private readonly TimeProvider _time;
    private readonly ConsumerQuotaOptions _options;
    private readonly Lock _reloadGate = new();
    private volatile Dictionary<string, ConsumerEntry> _consumers = new(StringComparer.OrdinalIgnoreCase);
    private volatile QuotaCounter[] _counters = [];
    private volatile bool _capUnsynced;
    private volatile bool _sharedStoreDown;
    private volatile bool _failsClosed;

    public ConsumerQuotas(GatewayOptions options, ConsumerQuotaOptions quotaOptions, TimeProvider time)
    {
        _time = time;
        _options = quotaOptions;
        Reload(options);
    }

    public TimeProvider Time => _time;

    /// <summary>Every counter in use, for the synchronisation loop.</summary>
    internal QuotaCounter[] Counters => _counters;

    /// <summary>
    /// True while the counts are shared (Redis connected): then a replica admits at most
    /// <see cref="ConsumerQuotaOptions.MaxUnsyncedShare"/> of a limit between two synchronisations.
    /// </summary>
    internal bool IsShared
    {
        get => _capUnsynced;
        set => _capUnsynced = value;
    }

    /// <summary>
    /// True while a configured Redis is unreachable (set by <see cref="QuotaSynchronizer"/>): consumers that fail closed
    /// are refused then. Never true without Redis configured.
    /// </summary>
    internal bool SharedStoreDown
    {
        get => _sharedStoreDown;
        set => _sharedStoreDown = value;
    }

    /// <summary>True when some consumer with limits fails closed while Redis is down.</summary>
    internal bool FailsClosed => _failsClosed;

    /// <summary>The window (unix minute) the clock is in now.</summary>
    internal long CurrentWindow() => _time.GetUtcNow().ToUnixTimeMilliseconds() / WindowMilliseconds;

    public QuotaDecision TryAdmit(string consumer, string deployment, long estimatedTokens)
    {
        if (!_consumers.TryGetValue(consumer, out var entry) || entry.Route(deployment) is not { } route)
        {
            return QuotaDecision.Unlimited;
        }

        var nowMs = _time.GetUtcNow().ToUnixTimeMilliseconds();
        if (entry.FailClosed && _sharedStoreDown)
        {
            // Cannot be counted with the other replicas: refused, and asked to come back after a synchronisation interval.
            return new QuotaDecision(false, null, null, _options.SyncInterval < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : _options.SyncInterval, default) { Uncountable = true };
        }
        var tokens = Math.Max(0, estimatedTokens);
        var window = nowMs / WindowMilliseconds;
        var capUnsynced = _capUnsynced;

        // Lock order: the deployment counter, then the consumer-wide one (route.First is the deployment counter when both exist).
        lock (route.First.Gate)
        {
            if (route.Second is not { } second)
            {
                return Decide(route, route.First, null, window, nowMs, tokens, capUnsynced);
            }
            lock (second.Gate)
            {
                return Decide(route, route.First, second, window, nowMs, tokens, capUnsynced);
            }
        }
    }

    public void Correct(in QuotaReservation reservation, long actualTokens)
    {
        if (reservation.Counter is not QuotaRoute route)
        {
            return;
        }
        var delta = Math.Max(0, actualTokens) - reservation.EstimatedTokens;
        // A correction for a window that is over is dropped: that window's count no longer decides anything.
        if (delta == 0 || CurrentWindow() != reservation.WindowStart)
        {
            return;
        }
        Apply(route.First, reservation.WindowStart, delta);
        if (route.Second is { } second)
        {
            Apply(second, reservation.WindowStart, delta);
        }

        static void Apply(QuotaCounter counter, long window, long delta)
        {
            lock (counter.Gate)
            {
                if (counter.Window == window)
                {
                    counter.PendingTokens += delta;
                }
            }
        }
    }

    /// <summary>What a consumer has used in the current window (<paramref name="deployment"/> null: consumer-wide); false when it has no such limit.</summary>
    internal bool TryGetUsage(string consumer, string? deployment, out QuotaUsage usage)
    {
        usage = default;
        if (!_consumers.TryGetValue(consumer, out var entry))
        {
            return false;
        }
        var counter = deployment is null ? entry.Total : entry.ByDeployment.GetValueOrDefault(deployment)?.First;
        if (counter is null)
        {
            return false;
        }
        var window = CurrentWindow();
        lock (counter.Gate)
        {
            counter.Roll(window);
            usage = new QuotaUsage(counter.Window, counter.UsedTokens, Limit(counter.TokenLimit), counter.UsedRequests, Limit(counter.RequestLimit));
        }
        return true;
    }

    /// <summary>Builds the counters from configuration, keeping the counts of counters that still exist.</summary>
    internal void Reload(GatewayOptions options)
    {
        lock (_reloadGate)
        {
            var existing = _counters.ToDictionary(c => (c.Consumer, c.Deployment));
            var consumers = new Dictionary<string, ConsumerEntry>(StringComparer.OrdinalIgnoreCase);
            var counters = new List<QuotaCounter>();
            var anyFailsClosed = false;
            foreach (var (name, c) in options.Consumers)
            {
                var total = c.TokensPerMinute is null && c.RequestsPerMinute is null
                    ? null
                    : Counter(name, SharedStateNames.QuotaAllDeployments, c.TokensPerMinute, c.RequestsPerMinute);
                var byDeployment = new Dictionary<string, QuotaRoute>(StringComparer.OrdinalIgnoreCase);
                foreach (var (deployment, d) in c.DeploymentLimits)
                {
                    if (d is null || (d.TokensPerMinute is null && d.RequestsPerMinute is null))
                    {
                        continue;
                    }
                    byDeployment[deployment] = new QuotaRoute(Counter(name, deployment, d.TokensPerMinute, d.RequestsPerMinute), total);
                }
                if (total is not null || byDeployment.Count > 0)
                {
                    var failClosed = (c.QuotaWhenRedisDown ?? _options.WhenRedisDown) == QuotaRedisDownMode.FailClosed;
                    anyFailsClosed |= failClosed;
                    consumers[name] = new ConsumerEntry(total, total is null ? null : new QuotaRoute(total, null), byDeployment, failClosed);
                }
            }
            _counters = [.. counters];
            _consumers = consumers;
            _failsClosed = anyFailsClosed;

            QuotaCounter Counter(string consumer, string deployment, long? tokens, long? requests)
            {
                if (!existing.TryGetValue((consumer, deployment), out var counter))
                {
                    counter = new QuotaCounter(consumer, deployment);
                }
                lock (counter.Gate)
                {
                    counter.SetLimits(tokens, requests, _options.MaxUnsyncedShare);
                }
                counters.Add(counter);
                return counter;
            }
        }
    }

    private QuotaDecision Decide(QuotaRoute route, QuotaCounter first, QuotaCounter? second, long window, long nowMs, long tokens, bool capUnsynced)
    {
        first.Roll(window);
        second?.Roll(window);
        var verdict = Check(first, tokens, capUnsynced);
        if (second is not null)
        {
            verdict = (Verdict)Math.Max((int)verdict, (int)Check(second, tokens, capUnsynced));
        }

        if (verdict == Verdict.Fits)
        {
            first.PendingTokens += tokens;
            first.PendingRequests++;
            if (second is not null)
            {
                second.PendingTokens += tokens;
                second.PendingRequests++;
            }
        }

        var remainingTokens = Remaining(first.TokenLimit, first.UsedTokens, second?.TokenLimit ?? QuotaCounter.NoLimit, second?.UsedTokens ?? 0);
        var remainingRequests = Remaining(first.RequestLimit, first.UsedRequests, second?.RequestLimit ?? QuotaCounter.NoLimit, second?.UsedRequests ?? 0);
        var untilWindowEnd = TimeSpan.FromMilliseconds(((window + 1) * WindowMilliseconds) - nowMs);
        return verdict switch
        {
            Verdict.Fits => new QuotaDecision(true, remainingTokens, remainingRequests, TimeSpan.Zero, new QuotaReservation(route, window, tokens)),
            // Room comes back at the next synchronisation, when the other replicas' counts are known.
            Verdict.Unsynced => new QuotaDecision(false, remainingTokens, remainingRequests, _options.SyncInterval < untilWindowEnd ? _options.SyncInterval : untilWindowEnd, default),
            _ => new QuotaDecision(false, remainingTokens, remainingRequests, untilWindowEnd, default),
        };
    }

    private static Verdict Check(QuotaCounter counter, long tokens, bool capUnsynced)
    {
        if ((counter.TokenLimit != QuotaCounter.NoLimit && counter.UsedTokens + tokens > counter.TokenLimit)
            || (counter.RequestLimit != QuotaCounter.NoLimit && counter.UsedRequests + 1 > counter.RequestLimit))
        {
            return Verdict.Exhausted;
        }
        // The first request after a synchronisation always passes, so a small cap never blocks a consumer outright.
        if (capUnsynced && counter.PendingRequests > 0
            && (counter.PendingTokens + tokens > counter.UnsyncedTokenCap || counter.PendingRequests + 1 > counter.UnsyncedRequestCap))
        {
            return Verdict.Unsynced;
        }
        return Verdict.Fits;
    }

    private static long? Remaining(long limitA, long usedA, long limitB, long usedB)
    {
        if (limitA == QuotaCounter.NoLimit && limitB == QuotaCounter.NoLimit)
        {
            return null;
        }
        var a = limitA == QuotaCounter.NoLimit ? long.MaxValue : limitA - usedA;
        var b = limitB == QuotaCounter.NoLimit ? long.MaxValue : limitB - usedB;
        return Math.Max(0, Math.Min(a, b));
    }

    private static long? Limit(long limit) => limit == QuotaCounter.NoLimit ? null : limit;

    // Ordered: the worst verdict of two counters wins.
    private enum Verdict
    {
        Fits = 0,
        Unsynced = 1,
        Exhausted = 2,
    }

    private sealed record ConsumerEntry(QuotaCounter? Total, QuotaRoute? Default, Dictionary<string, QuotaRoute> ByDeployment, bool FailClosed)
    {
        public QuotaRoute? Route(string deployment)
            => ByDeployment.Count != 0 && ByDeployment.TryGetValue(deployment, out var route) ? route : Default;
    }
}

/// <summary>The counters one request is charged to: its deployment's (when it has limits) and the consumer-wide one.</summary>
internal sealed class QuotaRoute(QuotaCounter first, QuotaCounter? second)
{
    public QuotaCounter First { get; } = first;

    public QuotaCounter? Second { get; } = second;
}

/// <summary>One counter's state in the current window (limits null when absent).</summary>
internal readonly record struct QuotaUsage(long WindowUnixMinute, long UsedTokens, long? TokenLimit, long UsedRequests, long? RequestLimit);
