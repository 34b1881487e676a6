using System.Globalization;
using AoaiAspire.Bench.LoadGeneration;
using AoaiAspire.Bench.Processes;
using AoaiAspire.Bench.Simulators;

namespace AoaiAspire.Bench.Contenders;

/// <summary>
/// The gateway as it ships: its Release build run as a separate process (<c>dotnet AoaiAspire.Gateway.dll</c>)
/// on a free port, configured on the command line with every region of the fleet as a backend and one
/// routing policy; Production environment, so no demo backends, and warnings-only logging.
/// </summary>
internal sealed class GatewayContender : IContender
{
    private readonly ChildProcess _process;
    private readonly HttpSender _sender;
    private readonly Uri _address;

    private GatewayContender(string name, ChildProcess process, Uri address, HttpSender sender)
    {
        Name = name;
        _process = process;
        _address = address;
        _sender = sender;
        Proxy = new ProcessMeter(process.Id);
    }

    public string Name { get; }
    public ProcessMeter? Proxy { get; }

    /// <param name="extraArguments">More configuration, e.g. <c>--ConnectionStrings:redis=…</c> for replicas that share state.</param>
    /// <param name="program">Another build's <c>AoaiAspire.Gateway.dll</c> (the baseline contenders); default the one next to the bench.</param>
    /// <param name="namePrefix">The contender's name is this followed by the policy.</param>
    public static async Task<GatewayContender> StartAsync(string policy, SimulatorFleet fleet, TimeSpan requestTimeout, IEnumerable<string>? extraArguments = null,
        string? program = null, string namePrefix = ContenderCatalog.GatewayPrefix, string? name = null)
    {
        var port = FreePort.Next();
        var address = new Uri(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}/"));
        var contentRoot = BenchPaths.Scratch("gateway");
        var args = new List<string>
        {
            program ?? BenchPaths.Program("AoaiAspire.Gateway"),
            "--contentRoot", contentRoot,
            "--urls", address.AbsoluteUri.TrimEnd('/'),
            "--Logging:LogLevel:Default=Warning",
            "--Gateway:AllowAnonymous=true",
            $"--Gateway:Routing:Policy={policy}",
        };
        foreach (var region in fleet.Regions)
        {
            var b = $"--Gateway:Backends:{region.Name}:";
            args.Add($"{b}Endpoint={region.Endpoint.AbsoluteUri}");
            args.Add($"{b}ApiKey=bench-upstream-key");
            args.Add(string.Create(CultureInfo.InvariantCulture, $"{b}Priority={region.Spec.Priority}"));
            args.Add($"{b}Deployments:{ChatRequest.Deployment}={ChatRequest.Deployment}");
        }
        args.AddRange(extraArguments ?? []);
        var process = ChildProcess.Start($"gateway ({policy})", "dotnet", args, contentRoot);
        try
        {
            await process.WaitUntilReadyAsync(new Uri(address, "health"), TimeSpan.FromSeconds(60));
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }
        return new GatewayContender(name ?? namePrefix + policy, process, address, new HttpSender(LoadClient.Shared, fleet.RegionNames, requestTimeout));
    }

    public Task<Sample> SendAsync(ChatRequest request, long dueTimestamp, CancellationToken cancellationToken)
        => _sender.SendAsync(_address, request, dueTimestamp, cancellationToken);

    public ValueTask DisposeAsync() => _process.DisposeAsync();
}
