using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace AoaiAspire.Simulator.Hosting;

/// <summary>
/// Checks <see cref="SimulatorOptions"/> at start-up: the DataAnnotations of every account, deployment and
/// fault set, plus the rules between them. Every message names the configuration key, e.g.
/// <c>Simulator:Accounts:1:Deployments:chat:TokensPerMinute</c>.
/// </summary>
internal sealed class SimulatorOptionsValidator : IValidateOptions<SimulatorOptions>
{
    public ValidateOptionsResult Validate(string? name, SimulatorOptions options)
    {
        var errors = ValidateAccounts(options.Accounts, SimulatorOptions.SectionName + ":Accounts", standalone: true);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <param name="standalone">
    /// In the standalone program port 0 means "the app's own URLs", so only one account may have it;
    /// in-process it means "a free port", which any number of accounts may ask for.
    /// </param>
    public static List<string> ValidateAccounts(IReadOnlyList<SimulatedAccountOptions> accounts, string prefix, bool standalone)
    {
        var errors = new List<string>();
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var ports = new HashSet<int>();
        string? appUrlAccount = null;
        for (var i = 0; i < accounts.Count; i++)
        {
            var account = accounts[i];
            var key = $"{prefix}:{i}";
            if (account is null)
            {
                errors.Add($"{key} is missing.");
                continue;
            }

            AddAnnotationErrors(account, key, errors);
            if (!string.IsNullOrWhiteSpace(account.Name) && !names.Add(account.Name))
            {
                errors.Add($"{key}:Name '{account.Name}' is used by another account; account names must be unique.");
            }

            if (account.Port != 0 && !ports.Add(account.Port))
            {
                errors.Add($"{key}:Port {account.Port} is used by another account; each account needs its own port.");
            }

            if (standalone && account.Port == 0)
            {
                if (appUrlAccount is not null)
                {
                    errors.Add($"{key}:Port is 0 (serve on the app's own URLs) but account '{appUrlAccount}' already does; give one of them a port.");
                }

                appUrlAccount = account.Name;
            }

            if (account.StreamChunkInterval < TimeSpan.Zero)
            {
                errors.Add($"{key}:StreamChunkInterval must not be negative.");
            }

            if (account.ApiKey is { Length: 0 })
            {
                errors.Add($"{key}:ApiKey is empty; leave it out to accept any key.");
            }

            foreach (var (deploymentName, deployment) in account.Deployments)
            {
                var deploymentKey = $"{key}:Deployments:{deploymentName}";
                if (deployment is null)
                {
                    errors.Add($"{deploymentKey} is missing.");
                    continue;
                }

                AddAnnotationErrors(deployment, deploymentKey, errors);
                if (deployment.RequestsPerMinute is < 1)
                {
                    errors.Add($"{deploymentKey}:RequestsPerMinute must be at least 1 (or left out for 6 per 1,000 TPM).");
                }
            }

            errors.AddRange(ValidateFaults(account.Faults ?? new FaultOptions(), $"{key}:Faults"));
        }

        return errors;
    }

    public static List<string> ValidateFaults(FaultOptions faults, string key)
    {
        var errors = new List<string>();
        AddAnnotationErrors(faults, key, errors);
        if (faults.DropRate + faults.ServerErrorRate + faults.ServiceUnavailableRate + faults.TimeoutRate > 1.000001)
        {
            errors.Add($"{key}: DropRate + ServerErrorRate + ServiceUnavailableRate + TimeoutRate must not exceed 1.");
        }

        if (faults.TimeoutDuration < TimeSpan.Zero)
        {
            errors.Add($"{key}:TimeoutDuration must not be negative.");
        }

        if (faults.ExtraLatency < TimeSpan.Zero)
        {
            errors.Add($"{key}:ExtraLatency must not be negative.");
        }

        if (faults.ForceThrottle is { } throttle && throttle <= TimeSpan.Zero)
        {
            errors.Add($"{key}:ForceThrottle must be positive (or left out).");
        }

        return errors;
    }

    private static void AddAnnotationErrors(object instance, string key, List<string> errors)
    {
        var results = new List<ValidationResult>();
        if (Validator.TryValidateObject(instance, new ValidationContext(instance), results, validateAllProperties: true))
        {
            return;
        }

        foreach (var result in results)
        {
            var member = result.MemberNames.FirstOrDefault();
            errors.Add(member is null ? $"{key}: {result.ErrorMessage}" : $"{key}:{member}: {result.ErrorMessage}");
        }
    }
}
