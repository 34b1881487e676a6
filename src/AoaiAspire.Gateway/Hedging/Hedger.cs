using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using AoaiAspire.Gateway.Configuration;
using AoaiAspire.Gateway.Availability;
using AoaiAspire.Gateway.Telemetry;
using Microsoft.Extensions.Options;

namespace AoaiAspire.Gateway.Hedging;

/// <summary>How a hedged request came out (values of <see cref="TelemetryNames.HedgeOutcome"/>).</summary>
internal static class HedgeOutcomes
{
    /// <summary>The hedge was sent and produced the first byte.</summary>
    public const string HedgeWon = "hedge_won";
    /// <summary>The hedge was sent, but the first backend still produced the first byte.</summary>
    public const string FirstWon = "first_won";
    /// <summary>The hedge was sent and neither answered usefully: the attempt loop goes on.</summary>
    public const string BothFailed = "both_failed";
    /// <summary>Due, but the deployment's hedge budget (share of requests, or extra tokens a minute) was spent.</summary>
    public const string NoBudget = "no_budget";
    /// <summary>Due, but no other backend could take the request.</summary>
    public const string NoBackend = "no_backend";
}

/// <summary>
/// Decides whether and when a streaming request is hedged, keeps each deployment's hedge budget, and counts what
/// hedging did and cost (metrics and the status page). Lock-free; nothing here runs for a deployment that does not hedge.
/// </summary>
internal sealed class Hedger
{
    private const long Unit = 1_000_000;

    private readonly IOptionsMonitor<GatewayOptions> _options;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, DeploymentHedging> _deployments = new(StringComparer.OrdinalIgnoreCase);
    private readonly Counter<long> _hedges;
    private readonly Counter<long> _extraTokens;

    public Hedger(IOptionsMonitor<GatewayOptions> options, TimeProvider time, IMeterFactory meterFactory)
    {
        _options = options;
        _time = time;
        var meter = meterFactory.Create(TelemetryNames.Meter);
        _hedges = meter.CreateCounter<long>(TelemetryNames.Hedges, "{request}", "Streaming requests whose hedge was due, by outcome.");
        _extraTokens = meter.CreateCounter<long>(TelemetryNames.HedgeExtraTokens, "{token}", "Estimated prompt tokens sent to a second backend by hedges.");
    }

    /// <summary>
    /// For a request to <paramref name="deployment"/> whose first backend is <paramref name="first"/>: whether it may
    /// be hedged, and after how long without a first byte (a non-streaming one: without its answer). Every request a
    /// hedging deployment may hedge passes here once, which is what refills its budget.
    /// </summary>
    public bool TryPlan(string deployment, BackendState first, out TimeSpan delay, bool stream = true)
    {
        var options = _options.CurrentValue.Hedging;
        if (options.Deployments.Count == 0 || (!stream && !options.NonStreaming) || !options.Applies(deployment))
        {
            delay = default;
            return false;
        }
        For(deployment).Refill(options.MaxShare, options.MaxBurst);
        delay = (stream ? first.FirstBytes : first.AnswerTimes).TryPercentile(options.Percentile, options.MinSamples, out var percentile)
            ? TimeSpan.FromTicks(Math.Clamp(percentile.Ticks, options.MinDelay.Ticks, options.MaxDelay.Ticks))
            : options.MaxDelay;
        return true;
    }

    /// <summary>Takes one hedge from the deployment's budget (and its estimated tokens from the minute's cap); false, counted, when spent.</summary>
    public bool TryTake(string deployment, long estimatedPromptTokens)
    {
        var options = _options.CurrentValue.Hedging;
        var state = For(deployment);
        if (!state.TryTake(estimatedPromptTokens, options.MaxExtraTokensPerMinute, _time.GetUtcNow().UtcTicks / TimeSpan.TicksPerMinute))
        {
            Ended(deployment, HedgeOutcomes.NoBudget);
            return false;
        }
        Interlocked.Increment(ref state.Sent);
        Interlocked.Add(ref state.ExtraTokens, estimatedPromptTokens);
        _extraTokens.Add(estimatedPromptTokens, new KeyValuePair<string, object?>(TelemetryNames.RequestModel, deployment));
        return true;
    }

    /// <summary>Counts how a due hedge ended.</summary>
    public void Ended(string deployment, string outcome)
    {
        var state = For(deployment);
        switch (outcome)
        {
            case HedgeOutcomes.HedgeWon: Interlocked.Increment(ref state.HedgeWon); break;
            case HedgeOutcomes.FirstWon: Interlocked.Increment(ref state.FirstWon); break;
            case HedgeOutcomes.BothFailed: Interlocked.Increment(ref state.BothFailed); break;
            case HedgeOutcomes.NoBudget: Interlocked.Increment(ref state.NoBudget); break;
            default: Interlocked.Increment(ref state.NoBackend); break;
        }
        _hedges.Add(1, new TagList { { TelemetryNames.RequestModel, deployment }, { TelemetryNames.HedgeOutcome, outcome } });
    }

    /// <summary>What hedging has done per deployment since start (the status page).</summary>
    public IReadOnlyList<HedgingReport> Report()
    {
        var options = _options.CurrentValue.Hedging;
        return [.. options.Deployments.Select(name => For(name)).Distinct().Select(s => new HedgingReport(
            s.Deployment, Interlocked.Read(ref s.Streams), Interlocked.Read(ref s.Sent), Interlocked.Read(ref s.HedgeWon), Interlocked.Read(ref s.FirstWon),
            Interlocked.Read(ref s.BothFailed), Interlocked.Read(ref s.NoBudget), Interlocked.Read(ref s.NoBackend), Interlocked.Read(ref s.ExtraTokens)))];
    }

    private DeploymentHedging For(string deployment) => _deployments.GetOrAdd(deployment, static name => new DeploymentHedging(name));

    private sealed class DeploymentHedging(string deployment)
    {
        public readonly string Deployment = deployment;
        public long Streams;
        public long Sent;
        public long HedgeWon;
        public long FirstWon;
        public long BothFailed;
        public long NoBudget;
        public long NoBackend;
        public long ExtraTokens;
        private long _credit;
        private long _minute;
        private long _minuteTokens;

        public void Refill(double share, int maxBurst)
        {
            Interlocked.Increment(ref Streams);
            var add = (long)(share * Unit);
            var max = maxBurst * Unit;
            var current = Volatile.Read(ref _credit);
            while (current < max)
            {
                var seen = Interlocked.CompareExchange(ref _credit, Math.Min(max, current + add), current);
                if (seen == current)
                {
                    return;
                }
                current = seen;
            }
        }

        public bool TryTake(long tokens, long maxTokensPerMinute, long minute)
        {
            if (maxTokensPerMinute > 0)
            {
                if (Interlocked.Exchange(ref _minute, minute) != minute)
                {
                    Interlocked.Exchange(ref _minuteTokens, 0);
                }
                if (Interlocked.Read(ref _minuteTokens) + tokens > maxTokensPerMinute)
                {
                    return false;
                }
            }
            var current = Volatile.Read(ref _credit);
            while (current >= Unit)
            {
                var seen = Interlocked.CompareExchange(ref _credit, current - Unit, current);
                if (seen == current)
                {
                    if (maxTokensPerMinute > 0)
                    {
                        Interlocked.Add(ref _minuteTokens, tokens);
                    }
                    return true;
                }
                current = seen;
            }
            return false;
        }
    }
}

/// <summary>One deployment's hedging since start: streaming requests seen, hedges sent and who won, hedges not sent and why, estimated extra prompt tokens.</summary>
internal sealed record HedgingReport(string Deployment, long Streams, long Sent, long HedgeWon, long FirstWon, long BothFailed, long NoBudget, long NoBackend, long ExtraPromptTokens);
