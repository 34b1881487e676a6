using System.Text.Json.Serialization;

namespace AoaiAspire.Simulator.Endpoints;

/// <summary>Source-generated serialization of the admin payloads; TimeSpans use the standard <c>"00:00:05"</c> form.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    PropertyNameCaseInsensitive = true,
    UseStringEnumConverter = true)]
[JsonSerializable(typeof(FaultOptions))]
internal sealed partial class SimulatorJsonContext : JsonSerializerContext;
