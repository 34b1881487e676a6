using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using AoaiAspire.Bench.LoadGeneration;
using AoaiAspire.Bench.Processes;

namespace AoaiAspire.Bench.Simulators;

/// <summary>A region's counters as <c>GET /admin/stats</c> reports them.</summary>
internal readonly record struct RegionStats(long Requests, long Succeeded, long Throttled, long Failed, long PromptTokens = 0, long CompletionTokens = 0);

/// <summary>A running simulated region: its own standalone simulator process on its own port.</summary>
internal sealed class SimulatedRegion(RegionSpec spec, int port, ChildProcess process)
{
    public RegionSpec Spec { get; } = spec;
    public string Name => Spec.Name;
    public int Port { get; } = port;
    public Uri Endpoint { get; } = new(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}/"));
    public ChildProcess Process { get; internal set; } = process;
}

/// <summary>
/// The simulated regions the contenders share, each a separate standalone simulator process
/// (<c>AoaiAspire.Simulator.dll</c>) so that its CPU is not the proxy's or the load generator's, and so that
/// one region can be killed outright (connections reset mid-stream) and started again on the same port.
/// Faults and counters go through the simulator's <c>/admin</c> endpoints.
/// </summary>
internal sealed class SimulatorFleet : IAsyncDisposable
{
    private readonly List<SimulatedRegion> _regions;
    private readonly string _contentRoot;

    private SimulatorFleet(List<SimulatedRegion> regions, string contentRoot)
    {
        _regions = regions;
        _contentRoot = contentRoot;
    }

    public IReadOnlyList<SimulatedRegion> Regions => _regions;
    public IReadOnlyList<string> RegionNames => [.. _regions.Select(r => r.Name)];

    public static async Task<SimulatorFleet> StartAsync(IEnumerable<RegionSpec> specs)
    {
        var contentRoot = BenchPaths.Scratch("simulators");
        var regions = specs.Select(spec =>
        {
            var port = FreePort.Next();
            return new SimulatedRegion(spec, port, StartProcess(spec, port, contentRoot));
        }).ToList();
        var fleet = new SimulatorFleet(regions, contentRoot);
        try
        {
            await Task.WhenAll(regions.Select(r => r.Process.WaitUntilReadyAsync(new Uri(r.Endpoint, "admin/stats"), TimeSpan.FromSeconds(60))));
        }
        catch
        {
            await fleet.DisposeAsync();
            throw;
        }
        return fleet;
    }

    public int IndexOf(string name) => _regions.FindIndex(r => string.Equals(r.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>Replaces a region's faults (<c>PUT /admin/faults</c>), e.g. <c>new { down = true }</c>; an empty object clears them.</summary>
    public async Task SetFaultsAsync(int region, object faults)
    {
        using var response = await LoadClient.Control.PutAsJsonAsync(new Uri(_regions[region].Endpoint, "admin/faults"), faults);
        response.EnsureSuccessStatusCode();
    }

    public async Task ClearFaultsAsync()
    {
        for (var i = 0; i < _regions.Count; i++)
        {
            await SetFaultsAsync(i, new { });
        }
    }

    /// <summary>Clears counters and rate-limit windows of every region (faults stay).</summary>
    public async Task ResetAsync()
    {
        foreach (var region in _regions)
        {
            using var response = await LoadClient.Control.PostAsync(new Uri(region.Endpoint, "admin/reset"), null);
            response.EnsureSuccessStatusCode();
        }
    }

    public async Task<RegionStats> GetStatsAsync(int region)
    {
        using var document = JsonDocument.Parse(await LoadClient.Control.GetStringAsync(new Uri(_regions[region].Endpoint, "admin/stats")));
        var root = document.RootElement;
        return new RegionStats(root.GetProperty("requests").GetInt64(), root.GetProperty("succeeded").GetInt64(),
            root.GetProperty("throttled").GetInt64(), root.GetProperty("failed").GetInt64(),
            root.GetProperty("promptTokens").GetInt64(), root.GetProperty("completionTokens").GetInt64());
    }

    public async Task<RegionStats[]> GetAllStatsAsync()
    {
        var stats = new RegionStats[_regions.Count];
        for (var i = 0; i < stats.Length; i++)
        {
            stats[i] = await GetStatsAsync(i);
        }
        return stats;
    }

    /// <summary>Kills a region's process (SIGKILL): open connections reset, new ones are refused.</summary>
    public Task KillAsync(int region) => _regions[region].Process.KillAsync();

    /// <summary>Freezes a region's process (SIGSTOP): sockets stay open, nothing answers, until <see cref="ResumeAsync"/>.</summary>
    public Task FreezeAsync(int region) => _regions[region].Process.FreezeAsync();

    /// <summary>Continues a frozen region (SIGCONT).</summary>
    public Task ResumeAsync(int region) => _regions[region].Process.ResumeAsync();

    /// <summary>Starts a killed region again on its port.</summary>
    public async Task RestartAsync(int region)
    {
        var r = _regions[region];
        await r.Process.DisposeAsync();
        r.Process = StartProcess(r.Spec, r.Port, _contentRoot);
        await r.Process.WaitUntilReadyAsync(new Uri(r.Endpoint, "admin/stats"), TimeSpan.FromSeconds(60));
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var region in _regions)
        {
            await region.Process.DisposeAsync();
        }
    }

    private static ChildProcess StartProcess(RegionSpec spec, int port, string contentRoot)
    {
        const string p = "--Simulator:Accounts:0:";
        var args = new List<string>
        {
            BenchPaths.Program("AoaiAspire.Simulator"),
            "--contentRoot", contentRoot,
            "--Logging:LogLevel:Default=Warning",
            $"{p}Name={spec.Name}",
            $"{p}Region={spec.Name}",
            string.Create(CultureInfo.InvariantCulture, $"{p}Port={port}"),
            string.Create(CultureInfo.InvariantCulture, $"{p}LatencyScale={spec.LatencyScale}"),
            string.Create(CultureInfo.InvariantCulture, $"{p}StreamChunkInterval={spec.StreamChunkInterval:c}"),
            string.Create(CultureInfo.InvariantCulture, $"{p}TokensPerChunk={spec.TokensPerChunk}"),
            string.Create(CultureInfo.InvariantCulture, $"{p}Seed={spec.Name.Sum(c => (int)c)}"),
            string.Create(CultureInfo.InvariantCulture, $"{p}Deployments:chat:TokensPerMinute={spec.TokensPerMinute}"),
        };
        if (spec.RequestsPerMinute is { } rpm)
        {
            args.Add(string.Create(CultureInfo.InvariantCulture, $"{p}Deployments:chat:RequestsPerMinute={rpm}"));
        }
        return ChildProcess.Start($"simulator {spec.Name}", "dotnet", args, contentRoot);
    }
}
