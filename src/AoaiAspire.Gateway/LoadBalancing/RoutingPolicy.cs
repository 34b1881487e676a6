using System.Collections.Frozen;
using AoaiAspire.Gateway.Configuration;
using Microsoft.Extensions.Options;

namespace AoaiAspire.Gateway.LoadBalancing;

/// <summary>
/// The policy named by <c>Gateway:Routing:Policy</c>, looked up by name among the registered policies and
/// swapped when configuration reloads, so a changed setting applies to the next request without a restart.
/// The selector asks this object, which asks the current policy: one volatile read per pick.
/// </summary>
internal sealed partial class RoutingPolicy : ILoadBalancingPolicy, IDisposable
{
    private readonly FrozenDictionary<string, ILoadBalancingPolicy> _byName;
    private readonly ILogger<RoutingPolicy> _logger;
    private readonly IDisposable? _reload;
    private volatile ILoadBalancingPolicy _current;

    public RoutingPolicy(IEnumerable<ILoadBalancingPolicy> policies, IOptionsMonitor<GatewayOptions> options, ILogger<RoutingPolicy> logger)
    {
        _byName = policies.ToFrozenDictionary(p => p.Name, StringComparer.Ordinal);
        _logger = logger;
        _current = Resolve(options.CurrentValue.Routing.Policy)
            ?? throw new InvalidOperationException($"Gateway:Routing:Policy '{options.CurrentValue.Routing.Policy}' is not one of: {string.Join(", ", LoadBalancingPolicies.Names)}.");
        _reload = options.OnChange(o => Apply(o.Routing.Policy));
    }

    /// <summary>The policy in force now.</summary>
    public ILoadBalancingPolicy Current => _current;

    public string Name => _current.Name;

    public int Pick(DeploymentRoute route, ReadOnlySpan<int> available, long estimatedTokens) => _current.Pick(route, available, estimatedTokens);

    private ILoadBalancingPolicy? Resolve(string? name) =>
        LoadBalancingPolicies.Canonical(name) is { } canonical && _byName.TryGetValue(canonical, out var policy) ? policy : null;

    private void Apply(string? name)
    {
        var next = Resolve(name);
        if (next is null)
        {
            LogUnknownPolicy(_logger, name, _current.Name);
            return;
        }
        var previous = _current;
        if (!ReferenceEquals(previous, next))
        {
            _current = next;
            LogPolicyChanged(_logger, previous.Name, next.Name);
        }
    }

    public void Dispose() => _reload?.Dispose();

    [LoggerMessage(1104, LogLevel.Information, "Routing policy changed from {Previous} to {Policy}.")]
    private static partial void LogPolicyChanged(ILogger logger, string previous, string policy);

    [LoggerMessage(1105, LogLevel.Error, "Routing policy change refused: '{Requested}' is not a known policy; {Policy} stays in force.")]
    private static partial void LogUnknownPolicy(ILogger logger, string? requested, string policy);
}
