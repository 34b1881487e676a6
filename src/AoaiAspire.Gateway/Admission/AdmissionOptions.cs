using System.ComponentModel.DataAnnotations;
using AoaiAspire.Gateway.Configuration;
using Microsoft.Extensions.Options;

namespace AoaiAspire.Gateway.Admission;

/// <summary>
/// <c>Gateway:Admission</c>: the queue that holds a request no backend can take right now, instead of answering 429,
/// while one will within the caller's patience (README "Admission"). Read at start-up.
/// </summary>
internal sealed class AdmissionOptions
{
    public const string SectionName = "Gateway:Admission";

    /// <summary>The class of the two built in when <see cref="Classes"/> is empty, and the default <see cref="DefaultClass"/>.</summary>
    public const string Interactive = "interactive";

    /// <summary>The lower of the two built-in classes.</summary>
    public const string Batch = "batch";

    /// <summary>
    /// Requests this replica holds at most, all deployments and classes together; a request that would be one more gets
    /// today's answer (429 with the soonest Retry-After) at once. 0 turns queueing off. Default 1000.
    /// </summary>
    [Range(0, 1_000_000)]
    public int QueueLimit { get; set; } = 1000;

    /// <summary>
    /// The patience of consumers that set no <c>Gateway:Consumers:{name}:MaxQueueWait</c> (and of anonymous callers):
    /// the longest a request is held. Default 0: such callers get the 429 at once, as before queueing existed.
    /// </summary>
    public TimeSpan MaxQueueWait { get; set; } = TimeSpan.Zero;

    /// <summary>
    /// Up to this much random delay is added to each wake-up at a throttle's end, so that replicas holding requests for the
    /// same backend do not all send at the same instant. Default 50 ms.
    /// </summary>
    public TimeSpan WakeJitter { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// How long a dispatched request holds its deployment's one dispatch slot after it has picked its backend, unless it
    /// is answered sooner: the next waiting request is sent only then, so a backend that refuses (429s come back at once)
    /// is benched before the next looks. 0 (the default) releases the slot as soon as the backend is picked: the queue
    /// drains as fast as requests can select, at the price of bursts into a backend that has just come back. A positive
    /// hold caps the drain at one request per hold per deployment while backends answer slowly. Default 0.
    /// </summary>
    public TimeSpan DispatchHold { get; set; } = TimeSpan.Zero;

    /// <summary>The class of consumers that name none. Default <c>interactive</c>.</summary>
    [Required]
    public string DefaultClass { get; set; } = Interactive;

    /// <summary>
    /// Priority classes by name (<c>Classes:{name}:Order</c>, lower first). Empty (the default) means two:
    /// <c>interactive</c> (order 0) above <c>batch</c> (order 1).
    /// </summary>
    public Dictionary<string, PriorityClassOptions> Classes { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The classes in force: <see cref="Classes"/>, or the two built-in ones when it is empty.</summary>
    public IReadOnlyDictionary<string, PriorityClassOptions> EffectiveClasses => Classes.Count > 0 ? Classes
        : new Dictionary<string, PriorityClassOptions>(StringComparer.OrdinalIgnoreCase)
        {
            [Interactive] = new() { Order = 0 },
            [Batch] = new() { Order = 1 },
        };
}

/// <summary><c>Gateway:Admission:Classes:{name}</c>: one priority class.</summary>
internal sealed class PriorityClassOptions
{
    /// <summary>Dispatch order: a waiting request of a lower order always goes before one of a higher. Required, unique.</summary>
    public int Order { get; set; }

    /// <summary>
    /// Backend priority groups (<c>Gateway:Backends:{name}:Priority</c>) this class never uses, queued or not: for example
    /// <c>[1]</c> keeps batch traffic off provisioned (PTU) deployments. Default none.
    /// </summary>
    public List<int> ExcludedPriorityGroups { get; set; } = [];

    /// <summary>
    /// What lower classes leave of each backend's current token minute for this class (and the classes above it): its
    /// measured demand on the deployment (estimated tokens per second over the last minute, this replica) times the time
    /// left in the minute times this factor, shared evenly among the deployment's backends. A lower-class request waits
    /// (or gets its 429) rather than take a backend below that. 0 keeps nothing back; it applies only while this class
    /// has asked for something in the last minute and a backend has reported what it has left. Default 1.25.
    /// </summary>
    public double ReserveFactor { get; set; } = DefaultReserveFactor;

    public const double DefaultReserveFactor = 1.25;
}

/// <summary>Checks the admission settings at start-up; every message names the key to fix.</summary>
/// <remarks>
/// The consumers' <c>Priority</c> is checked against the classes bound from configuration here, not through
/// <c>IOptions&lt;AdmissionOptions&gt;</c>: this validator is itself one of those options' validators.
/// </remarks>
internal sealed class AdmissionOptionsValidator(IConfiguration configuration) : IValidateOptions<AdmissionOptions>, IValidateOptions<GatewayOptions>
{
    /// <summary>The longest patience accepted: a held request keeps its connection and its consumer's concurrency slot.</summary>
    public static readonly TimeSpan MaxPatience = TimeSpan.FromMinutes(10);

    public ValidateOptionsResult Validate(string? name, AdmissionOptions options)
    {
        var errors = new List<string>();
        const string prefix = AdmissionOptions.SectionName;
        Patience(options.MaxQueueWait, $"{prefix}:MaxQueueWait", errors);
        if (options.WakeJitter < TimeSpan.Zero || options.WakeJitter > TimeSpan.FromSeconds(5))
        {
            errors.Add($"{prefix}:WakeJitter must be between 00:00:00 and 00:00:05 (default 00:00:00.050).");
        }
        if (options.DispatchHold < TimeSpan.Zero || options.DispatchHold > TimeSpan.FromSeconds(10))
        {
            errors.Add($"{prefix}:DispatchHold must be between 00:00:00 and 00:00:10 (default 00:00:00).");
        }
        var classes = options.EffectiveClasses;
        if (!classes.ContainsKey(options.DefaultClass ?? ""))
        {
            errors.Add($"{prefix}:DefaultClass '{options.DefaultClass}' is not one of the classes: {string.Join(", ", classes.Keys)}.");
        }
        foreach (var (className, c) in classes)
        {
            if (string.IsNullOrWhiteSpace(className) || c is null)
            {
                errors.Add($"{prefix}:Classes has an entry without a name or settings.");
                continue;
            }
            if (classes.Any(o => o.Value is not null && !string.Equals(o.Key, className, StringComparison.OrdinalIgnoreCase) && o.Value.Order == c.Order))
            {
                errors.Add($"{prefix}:Classes:{className}:Order {c.Order} is shared with another class; each class needs its own order.");
            }
            if (c.ReserveFactor is < 0 or > 10 || double.IsNaN(c.ReserveFactor))
            {
                errors.Add($"{prefix}:Classes:{className}:ReserveFactor must be between 0 (keep nothing back) and 10; it is {c.ReserveFactor} (default {PriorityClassOptions.DefaultReserveFactor}).");
            }
            if (c.ExcludedPriorityGroups.Any(g => g < 0))
            {
                errors.Add($"{prefix}:Classes:{className}:ExcludedPriorityGroups holds a negative priority group.");
            }
        }
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors.Distinct());
    }

    public ValidateOptionsResult Validate(string? name, GatewayOptions options)
    {
        var errors = new List<string>();
        var classes = (configuration.GetSection(AdmissionOptions.SectionName).Get<AdmissionOptions>() ?? new AdmissionOptions()).EffectiveClasses;
        foreach (var (consumer, c) in options.Consumers)
        {
            var prefix = $"{GatewayOptions.SectionName}:Consumers:{consumer}";
            if (c.Priority is { } priority && !classes.ContainsKey(priority))
            {
                errors.Add($"{prefix}:Priority '{priority}' is not one of the classes of {AdmissionOptions.SectionName}:Classes: {string.Join(", ", classes.Keys)}.");
            }
            if (c.MaxQueueWait is { } wait)
            {
                Patience(wait, $"{prefix}:MaxQueueWait", errors);
            }
        }
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void Patience(TimeSpan value, string key, List<string> errors)
    {
        if (value < TimeSpan.Zero || value > MaxPatience)
        {
            errors.Add($"{key} must be between 00:00:00 (answer at once) and {MaxPatience:c}; it is {value:c}.");
        }
    }
}
