using System.Globalization;
using AoaiAspire.Bench.LoadGeneration;
using AoaiAspire.Bench.Processes;
using AoaiAspire.Bench.Simulators;

namespace AoaiAspire.Bench.Contenders;

/// <summary>
/// YARP's <c>IHttpForwarder</c> (Yarp.ReverseProxy 2.3.0) as its own process (<c>dotnet AoaiAspire.Bench.Yarp.dll</c>,
/// Production, warnings-only logging): direct forwarding with the handler settings YARP's documentation gives,
/// round robin over the regions, no retries. The cheapest correct .NET proxy, to show what the gateway costs
/// beyond the .NET HTTP stack it shares with YARP.
/// </summary>
internal sealed class YarpContender : IContender
{
    private readonly ChildProcess _process;
    private readonly HttpSender _sender;
    private readonly Uri _address;

    private YarpContender(ChildProcess process, Uri address, HttpSender sender)
    {
        _process = process;
        _address = address;
        _sender = sender;
        Proxy = new ProcessMeter(process.Id);
    }

    public string Name => ContenderCatalog.YarpRoundRobin;
    public ProcessMeter? Proxy { get; }

    public static async Task<YarpContender> StartAsync(SimulatorFleet fleet, TimeSpan requestTimeout)
    {
        var port = FreePort.Next();
        var address = new Uri(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}/"));
        var contentRoot = BenchPaths.Scratch("yarp");
        var args = new List<string>
        {
            BenchPaths.Program("AoaiAspire.Bench.Yarp"),
            "--contentRoot", contentRoot,
            "--urls", address.AbsoluteUri.TrimEnd('/'),
            "--Logging:LogLevel:Default=Warning",
        };
        for (var i = 0; i < fleet.Regions.Count; i++)
        {
            args.Add(string.Create(CultureInfo.InvariantCulture, $"--Yarp:Destinations:{i}={fleet.Regions[i].Endpoint.AbsoluteUri}"));
        }
        var process = ChildProcess.Start("yarp", "dotnet", args, contentRoot);
        try
        {
            await process.WaitUntilReadyAsync(new Uri(address, "yarp-health"), TimeSpan.FromSeconds(60));
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }
        return new YarpContender(process, address, new HttpSender(LoadClient.Shared, fleet.RegionNames, requestTimeout));
    }

    public Task<Sample> SendAsync(ChatRequest request, long dueTimestamp, CancellationToken cancellationToken)
        => _sender.SendAsync(_address, request, dueTimestamp, cancellationToken);

    public ValueTask DisposeAsync() => _process.DisposeAsync();
}
