using AoaiAspire.Bench.LoadGeneration;
using AoaiAspire.Bench.Simulators;
using AoaiAspire.Gateway.LoadBalancing;

namespace AoaiAspire.Bench.Contenders;

/// <summary>The contenders by name, and how to start each over a fleet of simulated regions.</summary>
internal static class ContenderCatalog
{
    public const string Direct = "direct";
    public const string NginxRoundRobin = "nginx-rr";
    public const string YarpRoundRobin = "yarp-rr";
    public const string ClientRetry = "client-retry";

    /// <summary>The gateway (weighted policy) with hedged first bytes on for the bench's deployment.</summary>
    public const string HedgedGateway = "gateway-hedged";

    /// <summary>
    /// Its hedging settings in the noisy scenario, where a fifth of one region's streams are slow: the delay is the first
    /// backend's p75 time to first byte (at least 50 ms, at most 2 s), and up to 30 % of streams may be hedged.
    /// </summary>
    public static readonly string[] HedgingArguments = Hedging(percentile: 0.75, maxShare: 0.3, maxBurst: 10, nonStreaming: false);

    /// <summary>
    /// In the freeze scenario, whose calls are not streamed: non-streaming hedging on, the delay the first backend's
    /// p99 time to a full answer (at least 50 ms, at most 2 s), at most 10 % of calls hedged, up to 50 at once (the calls
    /// a replica has in flight to a region when it freezes).
    /// </summary>
    public static readonly string[] FreezeHedgingArguments = Hedging(percentile: 0.99, maxShare: 0.1, maxBurst: 50, nonStreaming: true);

    private static string[] Hedging(double percentile, double maxShare, int maxBurst, bool nonStreaming) =>
    [
        $"--Gateway:Hedging:Deployments:0={ChatRequest.Deployment}",
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"--Gateway:Hedging:Percentile={percentile}"),
        "--Gateway:Hedging:MinDelay=00:00:00.050",
        "--Gateway:Hedging:MaxDelay=00:00:02",
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"--Gateway:Hedging:MaxShare={maxShare}"),
        $"--Gateway:Hedging:NonStreaming={(nonStreaming ? "true" : "false")}",
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"--Gateway:Hedging:MaxBurst={maxBurst}"),
    ];
    /// <summary>The gateway (weighted policy) with the bench's consumers in priority classes, patient enough to wait in its admission queue.</summary>
    public const string QueueingGateway = "gateway-queue";

    /// <summary>The priority scenario's consumers: name, key, class. Other contenders ignore the keys (the gateway contenders accept any caller).</summary>
    public static readonly (string Name, string Key, string Class)[] PriorityConsumers =
    [
        ("interactive", "bench-key-interactive", "interactive"),
        ("batch-a", "bench-key-batch-a", "batch"),
        ("batch-b", "bench-key-batch-b", "batch"),
    ];

    /// <summary>Its settings: every consumer may wait up to 30 s for a backend instead of a 429.</summary>
    public static readonly string[] QueueingArguments =
    [
        .. PriorityConsumers.SelectMany(c => new[]
        {
            $"--Gateway:Consumers:{c.Name}:Keys:0={c.Key}",
            $"--Gateway:Consumers:{c.Name}:Priority={c.Class}",
            $"--Gateway:Consumers:{c.Name}:MaxQueueWait=00:00:30",
        }),
    ];

    /// <summary><see cref="QueueingGateway"/> with a dispatch hold of 50 ms (README "Admission").</summary>
    public const string QueueingHeldGateway = "gateway-queue-hold";

    public const string GatewayPrefix = "gateway-";

    /// <summary>The gateway from another build (<c>--baseline &lt;dir&gt;</c>), any policy name that build knows.</summary>
    public const string BaselinePrefix = "baseline-";

    /// <summary>
    /// One gateway contender per routing policy the gateway knows (<see cref="LoadBalancingPolicies.Names"/>):
    /// a policy added there (e.g. <c>capacity</c>) is benchmarked as <c>gateway-capacity</c> with no change here.
    /// </summary>
    public static IReadOnlyList<string> Gateways => [.. LoadBalancingPolicies.Names.Select(p => GatewayPrefix + p)];

    public static IReadOnlyList<string> All => [Direct, .. Gateways, HedgedGateway, QueueingGateway, QueueingHeldGateway, NginxRoundRobin, YarpRoundRobin, ClientRetry];

    /// <summary>Null when the contender can run here, else why not (printed, and the contender skipped).</summary>
    public static string? Unavailable(string name, string? baselineGateway = null) => name switch
    {
        _ when name.StartsWith(BaselinePrefix, StringComparison.Ordinal) && baselineGateway is null =>
            $"'{name}' runs the gateway of another build: give its directory with --baseline <dir>",
        _ when name.StartsWith(BaselinePrefix, StringComparison.Ordinal) && !File.Exists(Path.Combine(baselineGateway!, "AoaiAspire.Gateway.dll")) =>
            $"there is no AoaiAspire.Gateway.dll in '{baselineGateway}'",
        _ when name.StartsWith(BaselinePrefix, StringComparison.Ordinal) => null,
        NginxRoundRobin when NginxContender.FindNginx() is null =>
            "nginx is not installed (looked on PATH and in /usr/sbin); install it, e.g. 'apt-get install nginx', to compare with nginx-rr",
        _ when !All.Contains(name) => $"unknown contender '{name}'; known: {string.Join(", ", All)}",
        _ => null,
    };

    public static async Task<IContender> StartAsync(string name, SimulatorFleet fleet, TimeSpan requestTimeout, string? baselineGateway = null) => name switch
    {
        _ when name.StartsWith(BaselinePrefix, StringComparison.Ordinal) && baselineGateway is not null =>
            await GatewayContender.StartAsync(name[BaselinePrefix.Length..], fleet, requestTimeout, program: Path.Combine(baselineGateway, "AoaiAspire.Gateway.dll"), namePrefix: BaselinePrefix),
        Direct => new DirectContender(fleet, requestTimeout),
        NginxRoundRobin => await NginxContender.StartAsync(fleet, requestTimeout),
        YarpRoundRobin => await YarpContender.StartAsync(fleet, requestTimeout),
        ClientRetry => new ClientRetryContender(fleet, requestTimeout),
        HedgedGateway => await GatewayContender.StartAsync("weighted", fleet, requestTimeout, HedgingArguments, name: HedgedGateway),
        QueueingGateway => await GatewayContender.StartAsync("weighted", fleet, requestTimeout, QueueingArguments, name: QueueingGateway),
        QueueingHeldGateway => await GatewayContender.StartAsync("weighted", fleet, requestTimeout, [.. QueueingArguments, "--Gateway:Admission:DispatchHold=00:00:00.050"], name: QueueingHeldGateway),
        _ when name.StartsWith(GatewayPrefix, StringComparison.Ordinal) => await GatewayContender.StartAsync(name[GatewayPrefix.Length..], fleet, requestTimeout),
        _ => throw new ArgumentException(Unavailable(name), nameof(name)),
    };
}
