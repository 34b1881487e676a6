using Microsoft.Extensions.Options;

namespace AoaiAspire.Gateway.Configuration;

/// <summary>Checks what attributes cannot; every message names the key to fix.</summary>
internal sealed class GatewayOptionsValidator(IHostEnvironment environment) : IValidateOptions<GatewayOptions>
{
    public ValidateOptionsResult Validate(string? name, GatewayOptions options)
    {
        var errors = new List<string>();
        if (!LoadBalancing.LoadBalancingPolicies.IsKnown(options.Routing.Policy))
        {
            errors.Add($"Gateway:Routing:Policy '{options.Routing.Policy}' is not one of: {string.Join(", ", LoadBalancing.LoadBalancingPolicies.Names)}.");
        }
        Positive(options.Routing.DefaultThrottleDuration, "Gateway:Routing:DefaultThrottleDuration", errors);
        Positive(options.Routing.MaxThrottleDuration, "Gateway:Routing:MaxThrottleDuration", errors);
        Positive(options.Routing.ProbeVerdictLifetime, "Gateway:Routing:ProbeVerdictLifetime", errors);
        Positive(options.CircuitBreaker.SamplingDuration, "Gateway:CircuitBreaker:SamplingDuration", errors);
        Positive(options.CircuitBreaker.BreakDuration, "Gateway:CircuitBreaker:BreakDuration", errors);
        Positive(options.Upstream.ConnectTimeout, "Gateway:Upstream:ConnectTimeout", errors);
        Positive(options.Upstream.FirstByteTimeout, "Gateway:Upstream:FirstByteTimeout", errors);
        Positive(options.Upstream.StreamIdleTimeout, "Gateway:Upstream:StreamIdleTimeout", errors);
        var overdue = options.Routing.Overdue;
        Positive(overdue.MinDelay, "Gateway:Routing:Overdue:MinDelay", errors);
        if (overdue.MaxDelay < overdue.MinDelay)
        {
            errors.Add("Gateway:Routing:Overdue:MaxDelay must not be shorter than Gateway:Routing:Overdue:MinDelay.");
        }
        if (!(overdue.LatencyMultiplier >= 1.0 && overdue.LatencyMultiplier <= 1000.0))
        {
            errors.Add("Gateway:Routing:Overdue:LatencyMultiplier must be between 1 and 1000.");
        }
        errors.AddRange(options.Hedging.Validate());
        var firstByte = options.Upstream.StreamFirstByte;
        Positive(firstByte.MinDeadline, "Gateway:Upstream:StreamFirstByte:MinDeadline", errors);
        if (firstByte.MaxDeadline < firstByte.MinDeadline)
        {
            errors.Add("Gateway:Upstream:StreamFirstByte:MaxDeadline must not be shorter than Gateway:Upstream:StreamFirstByte:MinDeadline.");
        }
        if (!(firstByte.LatencyMultiplier >= 1.0 && firstByte.LatencyMultiplier <= 1000.0))
        {
            errors.Add("Gateway:Upstream:StreamFirstByte:LatencyMultiplier must be between 1 and 1000.");
        }
        Positive(options.Limits.RequestHeadersTimeout, "Gateway:Limits:RequestHeadersTimeout", errors);
        Positive(options.Limits.KeepAliveTimeout, "Gateway:Limits:KeepAliveTimeout", errors);
        Positive(options.Limits.ShutdownTimeout, "Gateway:Limits:ShutdownTimeout", errors);
        if (options.Limits.MinRequestBodyDataRateGracePeriod < TimeSpan.FromSeconds(1))
        {
            errors.Add("Gateway:Limits:MinRequestBodyDataRateGracePeriod must be at least 00:00:01 (Kestrel's minimum).");
        }

        foreach (var (consumer, c) in options.Consumers)
        {
            if (c.Keys.Count == 0 && c.KeyHashes.Count == 0)
            {
                errors.Add($"Gateway:Consumers:{consumer} has no Keys or KeyHashes.");
            }
            if (c.Keys.Any(k => string.IsNullOrWhiteSpace(k) || k.Length < 8))
            {
                errors.Add($"Gateway:Consumers:{consumer}:Keys holds a key shorter than 8 characters.");
            }
            if (c.KeyHashes.Any(h => h.Length != 64 || !h.All(Uri.IsHexDigit)))
            {
                errors.Add($"Gateway:Consumers:{consumer}:KeyHashes must be SHA-256 hashes, 64 hex digits each.");
            }
        }
        if (options.Consumers.Count == 0 && !options.AllowAnonymous && !environment.IsDevelopment())
        {
            errors.Add("Gateway:Consumers is empty: configure at least one consumer with Keys (Gateway:Consumers:{name}:Keys:0), or set Gateway:AllowAnonymous=true to accept any caller.");
        }
        if (options.AdminKey is { Length: > 0 and < 16 })
        {
            errors.Add("Gateway:AdminKey must be at least 16 characters.");
        }
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void Positive(TimeSpan value, string key, List<string> errors)
    {
        if (value <= TimeSpan.Zero)
        {
            errors.Add($"{key} must be a positive duration such as 00:00:10.");
        }
    }
}
