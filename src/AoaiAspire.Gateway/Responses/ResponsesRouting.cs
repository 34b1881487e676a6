using AoaiAspire.Gateway.Configuration;

namespace AoaiAspire.Gateway.Responses;

/// <summary>
/// The route for a call on a stored response whose owner is not known: every backend once, in priority order, each
/// as a candidate of one of its deployments (retrieval runs no model, so which one does not matter). Built once per
/// backend catalog.
/// </summary>
internal sealed class ResponsesRouting
{
    public const string AllBackendsRouteName = "*";

    private (BackendCatalog Catalog, DeploymentRoute Route, IReadOnlyDictionary<string, string> DeploymentOf)? _all;

    /// <summary>The route; <paramref name="deploymentOf"/> gives the logical deployment each backend's candidate stands for.</summary>
    public DeploymentRoute AllBackends(BackendCatalog catalog, out IReadOnlyDictionary<string, string> deploymentOf)
    {
        var all = _all;
        if (all is { } known && ReferenceEquals(known.Catalog, catalog))
        {
            deploymentOf = known.DeploymentOf;
            return known.Route;
        }
        var logical = new Dictionary<string, string>(StringComparer.Ordinal);
        var candidates = catalog.Backends
            .Where(state => state.Definition.Deployments.Count > 0)
            .OrderBy(state => state.Definition.Priority)
            .ThenBy(state => state.Name, StringComparer.Ordinal)
            .Take(BackendCatalog.MaxCandidatesPerDeployment)
            .Select(state =>
            {
                var (name, upstream) = state.Definition.Deployments.OrderBy(d => d.Key, StringComparer.Ordinal).First();
                logical[state.Name] = name;
                return new BackendCandidate(state, name, upstream);
            })
            .ToArray();
        var route = new DeploymentRoute(AllBackendsRouteName, candidates);
        deploymentOf = logical;
        _all = (catalog, route, logical);
        return route;
    }
}
