using System.Globalization;
using AoaiAspire.Bench.LoadGeneration;
using AoaiAspire.Bench.Processes;
using AoaiAspire.Bench.Simulators;

namespace AoaiAspire.Bench.Contenders;

/// <summary>
/// The gateway deployed as it would be in production: several replicas (separate processes) sharing one
/// <c>redis-server</c> (started on a free port), plus the health probe (<c>AoaiAspire.HealthProbe.dll</c>,
/// its default interval) publishing verdicts there; callers spread round robin over the replicas, as an L4
/// load balancer in front of them would.
/// </summary>
internal sealed class GatewayReplicasContender : IContender
{
    private readonly RedisServer _redis;
    private readonly ChildProcess? _probe;
    private readonly List<GatewayContender> _replicas;
    private int _next = -1;

    private GatewayReplicasContender(string name, RedisServer redis, ChildProcess? probe, List<GatewayContender> replicas)
    {
        Name = name;
        _redis = redis;
        _probe = probe;
        _replicas = replicas;
    }

    public string Name { get; }

    /// <summary>The first replica (the others do the same work).</summary>
    public ProcessMeter? Proxy => _replicas[0].Proxy;

    public int Replicas => _replicas.Count;

    /// <param name="extraArguments">More configuration for every replica (e.g. hedging).</param>
    /// <param name="name">The contender's name; default <c>gateway-&lt;policy&gt;</c>.</param>
    public static async Task<GatewayReplicasContender> StartAsync(string policy, int replicas, SimulatorFleet fleet, TimeSpan requestTimeout,
        IEnumerable<string>? extraArguments = null, string? name = null)
    {
        var redis = await RedisServer.StartAsync();
        ChildProcess? probe = null;
        var started = new List<GatewayContender>();
        try
        {
            string[] shared = [$"--ConnectionStrings:redis={redis.ConnectionString}", .. extraArguments ?? []];
            for (var i = 0; i < replicas; i++)
            {
                started.Add(await GatewayContender.StartAsync(policy, fleet, requestTimeout, shared));
            }
            probe = StartProbe(fleet, redis);
            return new GatewayReplicasContender(name ?? ContenderCatalog.GatewayPrefix + policy, redis, probe, started);
        }
        catch
        {
            foreach (var replica in started)
            {
                await replica.DisposeAsync();
            }
            if (probe is not null)
            {
                await probe.DisposeAsync();
            }
            await redis.DisposeAsync();
            throw;
        }
    }

    private static ChildProcess StartProbe(SimulatorFleet fleet, RedisServer redis)
    {
        var contentRoot = BenchPaths.Scratch("probe");
        var args = new List<string>
        {
            BenchPaths.Program("AoaiAspire.HealthProbe"),
            "--contentRoot", contentRoot,
            "--urls", string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{FreePort.Next()}"),
            "--Logging:LogLevel:Default=Warning",
            $"--ConnectionStrings:redis={redis.ConnectionString}",
        };
        foreach (var region in fleet.Regions)
        {
            var b = $"--Gateway:Backends:{region.Name}:";
            args.Add($"{b}Endpoint={region.Endpoint.AbsoluteUri}");
            args.Add($"{b}ApiKey=bench-upstream-key");
            args.Add(string.Create(CultureInfo.InvariantCulture, $"{b}Priority={region.Spec.Priority}"));
            args.Add($"{b}Deployments:{ChatRequest.Deployment}={ChatRequest.Deployment}");
        }
        return ChildProcess.Start("health probe", "dotnet", args, contentRoot);
    }

    public Task<Sample> SendAsync(ChatRequest request, long dueTimestamp, CancellationToken cancellationToken)
    {
        var replica = _replicas[(int)((uint)Interlocked.Increment(ref _next) % (uint)_replicas.Count)];
        return replica.SendAsync(request, dueTimestamp, cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var replica in _replicas)
        {
            await replica.DisposeAsync();
        }
        if (_probe is not null)
        {
            await _probe.DisposeAsync();
        }
        await _redis.DisposeAsync();
    }
}
