using System.Text.Json.Serialization;
using AoaiAspire.Backends.State;
using AoaiAspire.HealthProbe.Probing;

namespace AoaiAspire.HealthProbe.Status;

/// <summary><c>GET /status</c>: the latest verdicts this replica produced. Names, statuses and timings only, never a key or a token.</summary>
internal static class StatusEndpoints
{
    public const string Path = "/status";

    public static IEndpointRouteBuilder MapProbeStatus(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet(Path, (ProbeVerdicts verdicts, IBackendStateStore store) => TypedResults.Json(Describe(verdicts, store), StatusJsonContext.Default.ProbeStatus));
        return endpoints;
    }

    internal static ProbeStatus Describe(ProbeVerdicts verdicts, IBackendStateStore store) => new(
        store.InstanceId,
        store.IsShared ? "redis" : "in-memory",
        store.IsConnected,
        verdicts.Rounds,
        verdicts.LastRoundCompletedAt,
        [.. verdicts.Snapshot().Select(v => new BackendStatus(
            v.Backend,
            v.Region,
            v.Report.Status,
            v.Report.HttpStatus,
            v.Report.LatencyMs,
            DateTimeOffset.FromUnixTimeMilliseconds(v.Report.CheckedAtUnixMs),
            v.Report.RetryAtUnixMs > 0 ? DateTimeOffset.FromUnixTimeMilliseconds(v.Report.RetryAtUnixMs) : null,
            v.Detail,
            v.Published))]);
}

internal sealed record ProbeStatus(
    string Instance, string SharedState, bool SharedStateConnected, long Rounds, DateTimeOffset? LastRoundCompletedAt, IReadOnlyList<BackendStatus> Backends);

internal sealed record BackendStatus(
    string Name, string Region, HealthStatus Status, int? HttpStatus, double LatencyMs, DateTimeOffset CheckedAt, DateTimeOffset? RetryAt, string Detail, bool Published);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(ProbeStatus))]
internal sealed partial class StatusJsonContext : JsonSerializerContext;
