using AoaiAspire.Backends.Configuration;
using AoaiAspire.Gateway.Availability;
using Microsoft.Extensions.Primitives;

namespace AoaiAspire.Gateway.Configuration;

/// <summary>
/// Holds the current <see cref="BackendCatalog"/> and rebuilds it when configuration changes, keeping each
/// backend's state (throttles, circuit) by name. A reload with errors is refused whole and the previous
/// catalog stays in force, so a typo never leaves the gateway with a half list.
/// </summary>
internal sealed partial class BackendRegistry : IDisposable
{
    private readonly IConfiguration _configuration;
    private readonly ILogger<BackendRegistry> _logger;
    private readonly Dictionary<string, BackendState> _states = new(StringComparer.OrdinalIgnoreCase);
    private readonly IDisposable _reload;
    private volatile BackendCatalog _catalog;

    public BackendRegistry(IConfiguration configuration, ILogger<BackendRegistry> logger)
    {
        _configuration = configuration;
        _logger = logger;
        var (backends, errors) = BackendConfiguration.Read(configuration);
        if (errors.Count > 0)
        {
            throw new InvalidOperationException("Invalid backend configuration: " + string.Join(" ", errors));
        }
        if (backends.Count == 0)
        {
            throw new InvalidOperationException(
                $"No backends configured: set {BackendConfiguration.BackendsSection}:{{name}}:Endpoint and {BackendConfiguration.BackendsSection}:{{name}}:Deployments:{{logical}}={{upstream}} (see README, Configuration).");
        }
        _catalog = Build(backends);
        _reload = ChangeToken.OnChange(configuration.GetReloadToken, Reload);
    }

    public BackendCatalog Catalog => _catalog;

    public bool TryGetState(string backend, out BackendState state)
    {
        lock (_states)
        {
            return _states.TryGetValue(backend, out state!);
        }
    }

    private BackendCatalog Build(IReadOnlyList<BackendDefinition> backends)
    {
        var states = new List<BackendState>(backends.Count);
        lock (_states)
        {
            foreach (var definition in backends)
            {
                if (_states.TryGetValue(definition.Name, out var state))
                {
                    state.Definition = definition;
                }
                else
                {
                    _states[definition.Name] = state = new BackendState(definition);
                }
                states.Add(state);
            }
        }
        var catalog = new BackendCatalog(states);
        foreach (var route in catalog.Routes.Values)
        {
            if (route.Candidates.Length > BackendCatalog.MaxCandidatesPerDeployment)
            {
                throw new InvalidOperationException($"Deployment '{route.Name}' has {route.Candidates.Length} backends; at most {BackendCatalog.MaxCandidatesPerDeployment} are supported.");
            }
        }
        return catalog;
    }

    private void Reload()
    {
        try
        {
            var (backends, errors) = BackendConfiguration.Read(_configuration);
            if (errors.Count > 0 || backends.Count == 0)
            {
                LogReloadRefused(_logger, errors.Count == 0 ? "no backends" : string.Join(" ", errors));
                return;
            }
            var catalog = Build(backends);
            _catalog = catalog;
            LogReloaded(_logger, catalog.Backends.Length, catalog.Routes.Count);
        }
        catch (InvalidOperationException ex)
        {
            LogReloadRefused(_logger, ex.Message);
        }
    }

    public void Dispose() => _reload.Dispose();

    [LoggerMessage(1101, LogLevel.Information, "Backend configuration reloaded: {Backends} backends, {Deployments} deployments.")]
    private static partial void LogReloaded(ILogger logger, int backends, int deployments);

    [LoggerMessage(1102, LogLevel.Error, "Backend configuration change refused, the previous configuration stays in force: {Reason}")]
    private static partial void LogReloadRefused(ILogger logger, string reason);
}
