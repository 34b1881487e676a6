using System.Diagnostics;
using AoaiAspire.Bench.Contenders;
using AoaiAspire.Bench.LoadGeneration;
using AoaiAspire.Bench.Reporting;
using AoaiAspire.Bench.Simulators;

namespace AoaiAspire.Bench.Scenarios;

/// <summary>
/// A noisy neighbour: two priority-1 regions, streaming calls, and one region whose first bytes are slow for
/// a share of calls. The simulator has no per-call "slow share" fault, so the bench switches eastus's
/// <c>ExtraLatency</c> (which delays everything, the first byte included) on for a share of every second and
/// off for the rest: calls that arrive while it is on wait that long. Reported: time to first byte p50/p90/p99
/// per contender, and the tokens the regions generated (their own counters), the figure hedging will be
/// judged by (the baseline has no hedging, so it spends exactly what the callers asked for).
/// </summary>
internal sealed class NoisyNeighbourScenario : IScenario
{
    private const int Noisy = 0;
    private static readonly TimeSpan Period = TimeSpan.FromSeconds(1);

    private static readonly RegionSpec[] Regions =
    [
        new("eastus", Priority: 1) { LatencyScale = 1 },
        new("eastus2", Priority: 1) { LatencyScale = 1 },
    ];

    public string Name => "noisy";

    public IReadOnlyList<string> DefaultContenders => [ContenderCatalog.GatewayPrefix + "weighted", ContenderCatalog.HedgedGateway, ContenderCatalog.NginxRoundRobin];

    public async Task RunAsync(BenchOptions options, Report report, CancellationToken cancellationToken)
    {
        var contenders = ScenarioSupport.Contenders(this, options, report);
        var request = ChatRequest.Create(maxTokens: 20, stream: true);
        var share = options.NoisyShare;
        var delay = options.NoisyDelay;
        var duration = options.NoisyDuration;
        await using var fleet = await SimulatorFleet.StartAsync(Regions);
        report.Text($"Regions: {string.Join(", ", Regions.Select(r => r.Name))} (both priority 1, limits out of reach). Streaming calls (max_tokens {request.MaxTokens}, a chunk every 50 ms), open loop at {options.NoisyRate:0} calls/s for {duration.TotalSeconds:0} s. " +
            $"{Regions[Noisy].Name}'s Faults.ExtraLatency is {delay.TotalMilliseconds:0} ms for the first {share * 100:0} % of every second and 0 for the rest, so about {share * 100:0} % of the calls it gets wait {delay.TotalMilliseconds:0} ms before their first byte. " +
            "The simulator has no fault that slows only a share of calls; this duty cycle stands in for one.");

        var results = new List<(string Name, RunResult Run, RegionStats[] Upstream)>();
        foreach (var name in contenders)
        {
            await fleet.ClearFaultsAsync();
            await using var contender = await ScenarioSupport.StartAsync(name, fleet, options);
            await OpenLoop.RunAsync(contender.SendAsync(request), options.NoisyRate, TimeSpan.FromSeconds(2), options.MaxInFlight, cancellationToken);
            await fleet.ResetAsync();
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var driver = ToggleAsync(fleet, share, delay, stop.Token);
            var run = await OpenLoop.RunAsync(contender.SendAsync(request), options.NoisyRate, duration, options.MaxInFlight, cancellationToken);
            await stop.CancelAsync();
            await driver;
            await fleet.ClearFaultsAsync();
            var upstream = await fleet.GetAllStatsAsync();
            results.Add((name, run, upstream));
            ScenarioSupport.Progress($"{name}: first byte p50 {run.FirstByte().P50:0} ms, p99 {run.FirstByte().P99:0} ms, {run.Lost} not ok");
        }

        report.Heading($"Time to first byte with a noisy {Regions[Noisy].Name} ({share * 100:0} % of each second +{delay.TotalMilliseconds:0} ms)");
        var table = new MarkdownTable("contender", "calls", "[DONE]", "not ok", "first byte p50 ms", "p90 ms", "p99 ms", "max ms", $"served by {Regions[Noisy].Name}", "upstream calls", "upstream tokens", "tokens per successful call");
        foreach (var (name, run, upstream) in results)
        {
            var first = run.FirstByte();
            var tokens = upstream.Sum(u => u.PromptTokens + u.CompletionTokens);
            table.Add(name, run.Samples.Count, run.Ok, run.Lost, first.P50, first.P90, first.P99, first.Max,
                Fmt.Percent((double)run.Samples.Count(s => s.Outcome == Outcome.Ok && s.Region == Noisy) / Math.Max(1, run.Ok)), upstream.Sum(u => u.Requests), tokens, (double)tokens / Math.Max(1, run.Ok));
        }
        report.Table(table);
        report.Text("First byte: from the moment a call was due to its first body byte. Upstream calls and tokens: the regions' own counters (prompt + completion tokens of the calls they finished), reset after the warm-up.");

        var chart = new SvgChart("noisy: time to first byte percentiles", "percentile", "ms") { LogY = true };
        foreach (var (name, run, _) in results)
        {
            var first = run.FirstByte();
            chart.Series.Add(new Series(name, [.. new[] { 50.0, 75, 90, 95, 99 }.Select(p => (p, first.Percentile(p)))]));
        }
        report.Charts.Add(chart);
    }

    /// <summary>Switches the noisy region's extra latency on for the first <paramref name="share"/> of every period.</summary>
    private static async Task ToggleAsync(SimulatorFleet fleet, double share, TimeSpan delay, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                await fleet.SetFaultsAsync(Noisy, new { extraLatency = delay.ToString("c", System.Globalization.CultureInfo.InvariantCulture) });
                var periods = Math.Floor(Stopwatch.GetElapsedTime(started) / Period);
                await Task.Delay(((periods + share) * Period) - Stopwatch.GetElapsedTime(started) is { } on && on > TimeSpan.Zero ? on : TimeSpan.Zero, cancellationToken);
                await fleet.SetFaultsAsync(Noisy, new { });
                await Task.Delay(((periods + 1) * Period) - Stopwatch.GetElapsedTime(started) is { } off && off > TimeSpan.Zero ? off : TimeSpan.Zero, cancellationToken);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
