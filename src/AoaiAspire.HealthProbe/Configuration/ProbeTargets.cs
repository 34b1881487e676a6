using AoaiAspire.Backends.Configuration;

namespace AoaiAspire.HealthProbe.Configuration;

/// <summary>
/// The backends to probe, read from <c>Gateway:Backends</c> (the gateway's own section) at every round,
/// so configuration changes apply from the next round. A bad change is logged once and the last good
/// list kept; a bad configuration at start stops the process.
/// </summary>
internal sealed partial class ProbeTargets(IConfiguration configuration, ILogger<ProbeTargets> logger)
{
    private IReadOnlyList<BackendDefinition> _current = [];
    private string? _lastErrors;
    private string? _lastNames;

    /// <summary>Reads the backends once at start.</summary>
    /// <exception cref="InvalidOperationException">The configuration is invalid; the message names the keys.</exception>
    public IReadOnlyList<BackendDefinition> ReadAtStart()
    {
        var (backends, errors) = BackendConfiguration.Read(configuration);
        if (errors.Count > 0)
        {
            throw new InvalidOperationException("Invalid backend configuration: " + string.Join(" ", errors));
        }
        return Accept(backends);
    }

    /// <summary>The backends as configured now, or the last good list when the configuration has become invalid.</summary>
    public IReadOnlyList<BackendDefinition> Current()
    {
        var (backends, errors) = BackendConfiguration.Read(configuration);
        if (errors.Count > 0)
        {
            var joined = string.Join(" ", errors);
            if (joined != _lastErrors)
            {
                _lastErrors = joined;
                LogInvalid(logger, _current.Count, joined);
            }
            return _current;
        }
        _lastErrors = null;
        return Accept(backends);
    }

    private IReadOnlyList<BackendDefinition> Accept(IReadOnlyList<BackendDefinition> backends)
    {
        var names = string.Join(", ", backends.Select(b => b.Name));
        if (names != _lastNames)
        {
            _lastNames = names;
            if (backends.Count == 0)
            {
                LogNoBackends(logger);
            }
            else
            {
                LogBackends(logger, backends.Count, names);
            }
        }
        _current = backends;
        return backends;
    }

    [LoggerMessage(3101, LogLevel.Information, "Probing {Count} backends: {Backends}.")]
    private static partial void LogBackends(ILogger logger, int count, string backends);

    [LoggerMessage(3102, LogLevel.Warning, "No backends configured under Gateway:Backends:{{name}}: nothing to probe.")]
    private static partial void LogNoBackends(ILogger logger);

    [LoggerMessage(3103, LogLevel.Error, "The backend configuration became invalid; still probing the previous {Count} backends. {Errors}")]
    private static partial void LogInvalid(ILogger logger, int count, string errors);
}
