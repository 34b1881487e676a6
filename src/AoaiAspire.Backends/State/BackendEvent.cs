using System.Text.Json;
using System.Text.Json.Serialization;

namespace AoaiAspire.Backends.State;

/// <summary>What the probe found.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<HealthStatus>))]
internal enum HealthStatus
{
    Unknown,
    Healthy,
    Throttled,
    AuthFailure,
    Unreachable,
    Erroring,
}

internal static class HealthStatusExtensions
{
    /// <summary>The probe's "down": the backend cannot serve (unreachable, failing, refusing our credentials); throttled is not down.</summary>
    public static bool IsDown(this HealthStatus status) => status is HealthStatus.Unreachable or HealthStatus.Erroring or HealthStatus.AuthFailure;
}

[JsonConverter(typeof(JsonStringEnumConverter<BackendEventKind>))]
internal enum BackendEventKind
{
    Throttled,
    CircuitOpened,
    Health,
}

/// <summary>A probe's verdict on one backend.</summary>
internal sealed record BackendHealthReport(
    string Backend,
    HealthStatus Status,
    long CheckedAtUnixMs,
    double LatencyMs,
    long RetryAtUnixMs,
    int? HttpStatus,
    string Reporter);

/// <summary>A backend and its logical deployments, for reading their shared state back.</summary>
internal sealed record BackendDeployments(string Backend, IReadOnlyList<string> Deployments);

/// <summary>One message on <see cref="SharedStateNames.EventsChannel"/>.</summary>
internal sealed record BackendEvent(BackendEventKind Kind, string Backend, long UntilUnixMs, string Origin, BackendHealthReport? Health = null)
{
    /// <summary>The logical deployment a throttle applies to (Azure OpenAI limits are per deployment).</summary>
    public string? Deployment { get; init; }

    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this, SharedStateJsonContext.Default.BackendEvent);

    public static BackendEvent? FromJson(ReadOnlySpan<byte> json)
    {
        try
        {
            return JsonSerializer.Deserialize(json, SharedStateJsonContext.Default.BackendEvent);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(BackendEvent))]
[JsonSerializable(typeof(BackendHealthReport))]
internal sealed partial class SharedStateJsonContext : JsonSerializerContext;
