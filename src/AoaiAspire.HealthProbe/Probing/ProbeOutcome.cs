using AoaiAspire.Backends.State;

namespace AoaiAspire.HealthProbe.Probing;

/// <summary>One probe's verdict as published, and a short reason for logs and <c>/status</c> (never a secret).</summary>
internal sealed record ProbeOutcome(BackendHealthReport Report, string Detail);
