using AoaiAspire.Gateway.Configuration;
using Microsoft.Extensions.Options;

namespace AoaiAspire.Gateway.Quotas;

/// <summary>Checks the quota settings at start-up; every message names the key to fix.</summary>
internal sealed class QuotaOptionsValidator : IValidateOptions<GatewayOptions>, IValidateOptions<ConsumerQuotaOptions>
{
    public ValidateOptionsResult Validate(string? name, GatewayOptions options)
    {
        var errors = new List<string>();
        foreach (var (consumer, c) in options.Consumers)
        {
            var prefix = $"{GatewayOptions.SectionName}:Consumers:{consumer}";
            Positive(c.TokensPerMinute, $"{prefix}:TokensPerMinute", errors);
            Positive(c.RequestsPerMinute, $"{prefix}:RequestsPerMinute", errors);
            foreach (var (deployment, d) in c.DeploymentLimits)
            {
                if (string.IsNullOrWhiteSpace(deployment))
                {
                    errors.Add($"{prefix}:DeploymentLimits has an entry without a deployment name.");
                    continue;
                }
                if (d is null)
                {
                    continue;
                }
                Positive(d.TokensPerMinute, $"{prefix}:DeploymentLimits:{deployment}:TokensPerMinute", errors);
                Positive(d.RequestsPerMinute, $"{prefix}:DeploymentLimits:{deployment}:RequestsPerMinute", errors);
            }
        }
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    public ValidateOptionsResult Validate(string? name, ConsumerQuotaOptions options)
    {
        var errors = new List<string>();
        if (options.SyncInterval < TimeSpan.FromMilliseconds(10) || options.SyncInterval > TimeSpan.FromSeconds(30))
        {
            errors.Add($"{ConsumerQuotaOptions.SectionName}:SyncInterval must be between 00:00:00.010 and 00:00:30 (default 00:00:00.100).");
        }
        if (!(options.MaxUnsyncedShare > 0 && options.MaxUnsyncedShare <= 1))
        {
            errors.Add($"{ConsumerQuotaOptions.SectionName}:MaxUnsyncedShare must be greater than 0 and at most 1 (default 0.01).");
        }
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void Positive(long? value, string key, List<string> errors)
    {
        if (value is <= 0)
        {
            errors.Add($"{key} must be a positive number (or absent for no limit); it is {value}.");
        }
    }
}
