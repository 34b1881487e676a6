using System.ComponentModel.DataAnnotations;

namespace AoaiAspire.Gateway.Affinity;

/// <summary>Stateful affinity (<c>Gateway:Affinity</c>): how many object owners a replica remembers, and for how long.</summary>
internal sealed class AffinityOptions
{
    public const string SectionName = "Gateway:Affinity";

    /// <summary>Owners kept in memory per replica (least recently used forgotten first). Default 100,000 (about 20 MB).</summary>
    [Range(1_000, 100_000_000)]
    public int Capacity { get; set; } = 100_000;

    /// <summary>How long an owner is remembered, here and in Redis: a stored response's lifetime. Default 30 days.</summary>
    public TimeSpan Lifetime { get; set; } = TimeSpan.FromDays(30);
}

/// <summary>Start-up validation of <see cref="AffinityOptions"/>, naming the key.</summary>
internal sealed class AffinityOptionsValidator : Microsoft.Extensions.Options.IValidateOptions<AffinityOptions>
{
    public Microsoft.Extensions.Options.ValidateOptionsResult Validate(string? name, AffinityOptions options)
        => options.Lifetime < TimeSpan.FromMinutes(1) || options.Lifetime > TimeSpan.FromDays(366)
            ? Microsoft.Extensions.Options.ValidateOptionsResult.Fail($"{AffinityOptions.SectionName}:Lifetime must be between 00:01:00 and 366.00:00:00 (got {options.Lifetime}).")
            : Microsoft.Extensions.Options.ValidateOptionsResult.Success;
}
