using System.Collections.Frozen;
using AoaiAspire.Backends.Configuration;
using AoaiAspire.Gateway.Availability;

namespace AoaiAspire.Gateway.Configuration;

/// <summary>A backend as a candidate for one logical deployment.</summary>
internal sealed class BackendCandidate(BackendState state, string logicalDeployment, string upstreamDeployment)
{
    public BackendState State { get; } = state;
    public BackendDefinition Backend => State.Definition;
    public string UpstreamDeployment { get; } = upstreamDeployment;

    /// <summary><c>{endpoint}openai/deployments/{upstream}/</c>, computed once.</summary>
    public string DeploymentBase { get; } = state.Definition.Endpoint.AbsoluteUri + "openai/deployments/" + Uri.EscapeDataString(upstreamDeployment) + "/";

    /// <summary>What this deployment on this backend has left in its rate-limit minute.</summary>
    public DeploymentCapacity Capacity { get; } = state.CapacityOf(logicalDeployment);

    /// <summary><c>{endpoint}openai/</c>, for calls that are not per deployment.</summary>
    public string OpenAiBase { get; } = state.Definition.Endpoint.AbsoluteUri + "openai/";
}

/// <summary>The candidates of one logical deployment, ordered by priority group.</summary>
internal sealed class DeploymentRoute
{
    public DeploymentRoute(string name, BackendCandidate[] candidates)
    {
        Name = name;
        Candidates = candidates;
        var groups = new List<(int Start, int Length)>();
        for (var i = 0; i < candidates.Length;)
        {
            var j = i;
            while (j < candidates.Length && candidates[j].Backend.Priority == candidates[i].Backend.Priority)
            {
                j++;
            }
            groups.Add((i, j - i));
            i = j;
        }
        Groups = [.. groups];
    }

    public string Name { get; }

    /// <summary>Sorted by priority (lowest first), then by name for a stable order.</summary>
    public BackendCandidate[] Candidates { get; }

    /// <summary>Index ranges of <see cref="Candidates"/> sharing one priority.</summary>
    public (int Start, int Length)[] Groups { get; }

    /// <summary>Round-robin cursor for this route.</summary>
    internal int Cursor;

    /// <summary>What each priority class has asked of this deployment lately; made by the admission queue on first use (Admission/ClassDemand.cs).</summary>
    internal Admission.ClassDemand? Demand;
}

/// <summary>An immutable snapshot of the backends and routes; replaced whole when configuration changes.</summary>
internal sealed class BackendCatalog
{
    public const int MaxCandidatesPerDeployment = 64;

    public BackendCatalog(IReadOnlyList<BackendState> backends)
    {
        Backends = [.. backends];
        var byDeployment = new Dictionary<string, List<BackendCandidate>>(StringComparer.OrdinalIgnoreCase);
        foreach (var state in backends)
        {
            foreach (var (logical, upstream) in state.Definition.Deployments)
            {
                if (!byDeployment.TryGetValue(logical, out var list))
                {
                    byDeployment[logical] = list = [];
                }
                list.Add(new BackendCandidate(state, logical, upstream));
            }
        }
        Routes = byDeployment.ToFrozenDictionary(
            kv => kv.Key,
            kv => new DeploymentRoute(kv.Key, [.. kv.Value.OrderBy(c => c.Backend.Priority).ThenBy(c => c.Backend.Name, StringComparer.Ordinal)]),
            StringComparer.OrdinalIgnoreCase);
        DeploymentNames = [.. Routes.Keys.Order(StringComparer.Ordinal)];
    }

    public BackendState[] Backends { get; }
    public FrozenDictionary<string, DeploymentRoute> Routes { get; }
    public string[] DeploymentNames { get; }
}
