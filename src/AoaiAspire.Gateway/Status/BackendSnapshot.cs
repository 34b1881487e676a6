using System.Text.Json.Serialization;
using AoaiAspire.Backends.Configuration;
using AoaiAspire.Gateway.Configuration;
using AoaiAspire.Gateway.Availability;
using AoaiAspire.Gateway.Tokens;

namespace AoaiAspire.Gateway.Status;

/// <summary>The state summary of a backend, worst first: what keeps it out of rotation, if anything.</summary>
internal static class BackendStateNames
{
    public const string CircuitOpen = "circuit-open";
    public const string ProbeDown = "probe-down";
    public const string Throttled = "throttled";
    public const string HalfOpen = "half-open";
    public const string Available = "available";
}

/// <summary>
/// <c>GET /admin/backends</c>: the operator's picture of the gateway at one instant. Names, regions, hosts,
/// states, counters and token totals — never a key: <see cref="BackendDefinition.ApiKey"/> and the endpoint's
/// user info and path are not read.
/// </summary>
internal static class BackendSnapshot
{
    public static BackendsReport Build(BackendCatalog catalog, UsageLedger ledger, BackendEventLog events, DateTimeOffset now, IReadOnlyList<Hedging.HedgingReport>? hedging = null, Admission.AdmissionReport? admission = null)
    {
        var ticks = now.UtcTicks;
        var ledgerRows = ledger.Snapshot().Select(kv => (kv.Key, Requests: kv.Value.Requests, Prompt: kv.Value.PromptTokens, Completion: kv.Value.CompletionTokens)).ToArray();

        var backends = catalog.Backends
            .OrderBy(s => s.Definition.Priority).ThenBy(s => s.Name, StringComparer.Ordinal)
            .Select(state => Describe(state, catalog, ticks))
            .ToArray();

        var routes = catalog.DeploymentNames.Select(name => new RouteReport(name, [.. catalog.Routes[name].Candidates.Select(c => new RouteCandidateReport(
            c.Backend.Name, c.UpstreamDeployment, c.Backend.Priority, c.Backend.Weight))])).ToArray();

        return new BackendsReport(
            now,
            backends,
            routes,
            new UsageReport(
                Totals(ledgerRows, r => r.Backend),
                Totals(ledgerRows, r => r.Consumer),
                Totals(ledgerRows, r => r.Deployment)),
            events.Count,
            [.. events.Snapshot().Select(e => new EventReport(
                Time(e.At)!.Value, e.Backend, Kind(e.Kind), Time(e.Until), Telemetry.GatewayTelemetry.SourceName(e.Source), e.Verdict is { } v ? Verdict(v) : null))])
        {
            Hedging = hedging ?? [],
            Admission = admission,
        };
    }

    private static BackendReport Describe(BackendState state, BackendCatalog catalog, long now)
    {
        var definition = state.Definition;
        var circuit = state.Circuit;
        var circuitOpenUntil = state.CircuitOpenUntil;
        var verdict = state.ProbeVerdict;
        var checkedAt = state.ProbeCheckedAt;

        // The same rules as BackendState.IsAvailable, spelled out so the operator sees which one applies.
        var throttledUntil = state.ThrottledUntil;
        if (verdict == HealthStatus.Throttled && state.ProbeVerdictUntil > throttledUntil)
        {
            throttledUntil = state.ProbeVerdictUntil;
        }
        var probeDown = state.ProbeSaysDown(now);
        var summary =
            circuit == CircuitState.Open && circuitOpenUntil > now ? BackendStateNames.CircuitOpen
            : probeDown ? BackendStateNames.ProbeDown
            : throttledUntil > now ? BackendStateNames.Throttled
            : circuit != CircuitState.Closed ? BackendStateNames.HalfOpen // open with its break over: the next request is the trial
            : BackendStateNames.Available;

        var deployments = new List<DeploymentReport>();
        foreach (var (logical, upstream) in definition.Deployments.OrderBy(d => d.Key, StringComparer.Ordinal))
        {
            var candidate = catalog.Routes.TryGetValue(logical, out var route)
                ? route.Candidates.FirstOrDefault(c => ReferenceEquals(c.State, state))
                : null;
            var tokens = candidate?.Capacity.RemainingTokens(now) ?? -1;
            var requests = candidate?.Capacity.RemainingRequests(now) ?? -1;
            deployments.Add(new DeploymentReport(logical, upstream, tokens < 0 ? null : tokens, requests < 0 ? null : requests));
        }

        var latency = state.LatencyMs;
        return new BackendReport(
            definition.Name,
            definition.Region,
            definition.Priority,
            definition.Weight,
            definition.Endpoint.Authority, // host[:port]; never user info or path
            definition.Auth == UpstreamAuthKind.ApiKey ? "api-key" : "entra-id",
            summary,
            throttledUntil > now ? Time(throttledUntil) : null,
            circuit switch { CircuitState.Open => "open", CircuitState.HalfOpen => "half-open", _ => "closed" },
            circuit == CircuitState.Open && circuitOpenUntil > now ? Time(circuitOpenUntil) : null,
            new ProbeReport(
                Verdict(verdict),
                checkedAt == 0 ? null : Math.Round(state.ProbeLatency.TotalMilliseconds, 1),
                Time(checkedAt),
                verdict == HealthStatus.Throttled && state.ProbeVerdictUntil > now ? Time(state.ProbeVerdictUntil) : null),
            double.IsNaN(latency) ? null : Math.Round(latency, 1),
            state.Requests,
            state.Failures,
            state.Throttles,
            state.CircuitOpenings,
            deployments)
        {
            InFlight = state.Outstanding.Count,
            OldestInFlightMs = state.Outstanding.Count > 0 && state.Outstanding.OldestAge(now) is var age && age > TimeSpan.Zero ? Math.Round(age.TotalMilliseconds, 1) : null,
        };
    }

    private static TokenTotals[] Totals<T>(IEnumerable<(UsageLedger.UsageKey Key, long Requests, long Prompt, long Completion)> rows, Func<UsageLedger.UsageKey, T> by)
        where T : notnull
        => [.. rows.GroupBy(r => by(r.Key))
            .Select(g => new TokenTotals(g.Key.ToString()!, g.Sum(r => r.Requests), g.Sum(r => r.Prompt), g.Sum(r => r.Completion), g.Sum(r => r.Prompt + r.Completion)))
            .OrderByDescending(t => t.TotalTokens).ThenBy(t => t.Name, StringComparer.Ordinal)];

    internal static DateTimeOffset? Time(long utcTicks) => utcTicks <= 0 ? null : new DateTimeOffset(utcTicks, TimeSpan.Zero);

    internal static string Kind(BackendStateChangeKind kind) => kind switch
    {
        BackendStateChangeKind.Throttled => "throttled",
        BackendStateChangeKind.CircuitOpened => "circuit-opened",
        BackendStateChangeKind.CircuitClosed => "circuit-closed",
        BackendStateChangeKind.ProbeVerdictChanged => "probe",
        _ => kind.ToString().ToLowerInvariant(),
    };

    internal static string Verdict(HealthStatus verdict) => verdict switch
    {
        HealthStatus.Unknown => "unknown",
        HealthStatus.Healthy => "healthy",
        HealthStatus.Throttled => "throttled",
        HealthStatus.AuthFailure => "auth-failure",
        HealthStatus.Unreachable => "unreachable",
        HealthStatus.Erroring => "erroring",
        _ => verdict.ToString().ToLowerInvariant(),
    };
}

internal sealed record BackendsReport(
    DateTimeOffset GeneratedAt, BackendReport[] Backends, RouteReport[] Routes, UsageReport Usage, long EventsSinceStart, EventReport[] Events)
{
    /// <summary>What hedging did per hedging deployment since start (empty when none hedges).</summary>
    public IReadOnlyList<Hedging.HedgingReport> Hedging { get; init; } = [];
    /// <summary>This replica's admission queue: waiting requests and waits per priority class.</summary>
    public Admission.AdmissionReport? Admission { get; init; }
}

internal sealed record BackendReport(
    string Name, string Region, int Priority, int Weight, string Endpoint, string Auth, string State,
    DateTimeOffset? ThrottledUntil, string Circuit, DateTimeOffset? CircuitOpenUntil, ProbeReport Probe, double? LatencyMs,
    long Requests, long Failures, long Throttles, long CircuitOpenings, IReadOnlyList<DeploymentReport> Deployments)
{
    /// <summary>Attempts on this backend waiting for their headers (a stream: its first byte), on this replica.</summary>
    public int InFlight { get; init; }

    /// <summary>How long the oldest of them has waited, in milliseconds; null when none waits.</summary>
    public double? OldestInFlightMs { get; init; }
}

internal sealed record ProbeReport(string Verdict, double? LatencyMs, DateTimeOffset? CheckedAt, DateTimeOffset? ThrottledUntil);

/// <summary>A deployment on a backend; remaining capacity is null when no recent response told it.</summary>
internal sealed record DeploymentReport(string Deployment, string Upstream, long? RemainingTokens, long? RemainingRequests);

internal sealed record RouteReport(string Deployment, RouteCandidateReport[] Candidates);

internal sealed record RouteCandidateReport(string Backend, string Upstream, int Priority, int Weight);

internal sealed record UsageReport(TokenTotals[] ByBackend, TokenTotals[] ByConsumer, TokenTotals[] ByDeployment);

internal sealed record TokenTotals(string Name, long Requests, long PromptTokens, long CompletionTokens, long TotalTokens);

internal sealed record EventReport(DateTimeOffset Time, string Backend, string Kind, DateTimeOffset? Until, string Source, string? Verdict);

/// <summary><c>GET /admin/usage</c>: column-wise series, one value per interval, oldest first.</summary>
internal sealed record UsageHistoryReport(
    DateTimeOffset GeneratedAt, int IntervalSeconds, DateTimeOffset[] Times, SeriesReport[] Backends, SeriesReport[] Consumers);

internal sealed record SeriesReport(string Name, long[] Requests, long[] Tokens, long[] Throttles);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(BackendsReport))]
[JsonSerializable(typeof(UsageHistoryReport))]
internal sealed partial class StatusJsonContext : JsonSerializerContext;
