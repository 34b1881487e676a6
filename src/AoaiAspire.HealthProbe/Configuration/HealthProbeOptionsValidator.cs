using Microsoft.Extensions.Options;

namespace AoaiAspire.HealthProbe.Configuration;

/// <summary>Checks <see cref="HealthProbeOptions"/> at start; every message names the key to fix.</summary>
internal sealed class HealthProbeOptionsValidator : IValidateOptions<HealthProbeOptions>
{
    private const string Section = HealthProbeOptions.SectionName;

    public ValidateOptionsResult Validate(string? name, HealthProbeOptions options)
    {
        var errors = new List<string>();
        if (options.Interval < TimeSpan.FromMilliseconds(100))
        {
            errors.Add($"{Section}:Interval must be at least 100 ms (it is {options.Interval}).");
        }
        if (options.Timeout <= TimeSpan.Zero)
        {
            errors.Add($"{Section}:Timeout must be positive (it is {options.Timeout}).");
        }
        else if (options.Timeout > options.Interval)
        {
            // A longer probe would outlive its lease and overlap the next round.
            errors.Add($"{Section}:Timeout ({options.Timeout}) must not exceed {Section}:Interval ({options.Interval}).");
        }
        if (string.IsNullOrWhiteSpace(options.Path))
        {
            errors.Add($"{Section}:Path must name what to request, e.g. 'openai/models?api-version=2024-10-21'.");
        }
        else if (Uri.TryCreate(options.Path, UriKind.Absolute, out var absolute) && absolute.Scheme is "http" or "https")
        {
            errors.Add($"{Section}:Path must be relative to each backend's endpoint, not an absolute URL.");
        }
        if (options.VerdictTimeToLive is { } ttl && ttl < options.Interval)
        {
            errors.Add($"{Section}:VerdictTimeToLive ({ttl}) must be at least {Section}:Interval ({options.Interval}), or verdicts vanish between rounds.");
        }
        if (options.ThrottleDefault <= TimeSpan.Zero)
        {
            errors.Add($"{Section}:ThrottleDefault must be positive (it is {options.ThrottleDefault}).");
        }
        if (options.MaxConcurrency is < 1 or > 256)
        {
            errors.Add($"{Section}:MaxConcurrency must be from 1 to 256 (it is {options.MaxConcurrency}).");
        }
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
