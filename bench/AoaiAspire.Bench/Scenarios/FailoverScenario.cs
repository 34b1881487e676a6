using System.Diagnostics;
using AoaiAspire.Bench.Contenders;
using AoaiAspire.Bench.LoadGeneration;
using AoaiAspire.Bench.Reporting;
using AoaiAspire.Bench.Simulators;

namespace AoaiAspire.Bench.Scenarios;

/// <summary>
/// Steady load while regions misbehave, one event per phase: a region goes down (connections reset), comes
/// back; another turns slow (one second of extra latency), recovers; then a region answers 500 to 30 % of
/// calls. Per contender and phase: what callers lost, their latency, and how long until traffic left the
/// region at fault (read from that region's own request counter, sampled every 250 ms).
/// </summary>
internal sealed class FailoverScenario : IScenario
{
    private const double SampleInterval = 0.25;

    private static readonly RegionSpec[] Regions =
    [
        new("eastus", Priority: 1) { LatencyScale = 0.5 },
        new("eastus2", Priority: 1) { LatencyScale = 0.5 },
        new("canadaeast", Priority: 2) { LatencyScale = 0.5 },
    ];

    private sealed record Phase(string Label, int Region, object Faults, bool Recovery = false);

    private static readonly Phase[] Phases =
    [
        new("baseline", -1, new { }),
        new("eastus down", 0, new { down = true }),
        new("eastus back", 0, new { }, Recovery: true),
        new("eastus2 +1 s", 1, new { extraLatency = "00:00:01" }),
        new("eastus2 back", 1, new { }, Recovery: true),
        new("eastus 30 % 500", 0, new { serverErrorRate = 0.3 }),
        new("eastus back", 0, new { }, Recovery: true),
    ];

    public string Name => "failover";

    public IReadOnlyList<string> DefaultContenders => [.. ContenderCatalog.Gateways, ContenderCatalog.NginxRoundRobin, ContenderCatalog.ClientRetry];

    public async Task RunAsync(BenchOptions options, Report report, CancellationToken cancellationToken)
    {
        var contenders = ScenarioSupport.Contenders(this, options, report);
        var request = ChatRequest.Create(maxTokens: 16);
        var phase = options.Phase.TotalSeconds;
        var total = TimeSpan.FromSeconds(phase * Phases.Length);
        await using var fleet = await SimulatorFleet.StartAsync(Regions);
        report.Text($"Regions: {string.Join(", ", Regions.Select(r => $"{r.Name} (priority {r.Priority})"))}, limits out of reach, latency ×0.5 (about {19 * 16 * 0.5:0} ms a call). " +
            $"Open loop at {options.Rate:0} calls/s for {total.TotalSeconds:0} s; every {phase:0} s the next event: {string.Join(" → ", Phases.Select(p => p.Label))}. " +
            "A region that is down resets every connection it is sent (Faults.Down); slow adds one second before answering (Faults.ExtraLatency).");

        var runs = new Dictionary<string, (RunResult Run, List<(double T, long[] Requests)> Upstream)>();
        foreach (var name in contenders)
        {
            await fleet.ClearFaultsAsync();
            await fleet.ResetAsync();
            await using var contender = await ScenarioSupport.StartAsync(name, fleet, options);
            // A short warm-up so that JIT and first connections are not counted as the baseline.
            await OpenLoop.RunAsync(contender.SendAsync(request), options.Rate, TimeSpan.FromSeconds(2), options.MaxInFlight, cancellationToken);

            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var upstream = new List<(double T, long[] Requests)>();
            var started = Stopwatch.GetTimestamp();
            var driver = DriveAsync(fleet, phase, started, upstream, stop.Token);
            var run = await OpenLoop.RunAsync(contender.SendAsync(request), options.Rate, total, options.MaxInFlight, cancellationToken);
            await stop.CancelAsync();
            await driver;
            await fleet.ClearFaultsAsync();
            runs[name] = (run, upstream);
            ScenarioSupport.Progress($"{name}: {run.Ok} ok, {run.Lost} lost of {run.Samples.Count}");
        }

        report.Heading("Per event");
        var table = new MarkdownTable("event", "contender", "calls", "caller errors", "lost", "retried", "p50 ms", "p99 ms", "max ms", "region at fault: calls/s baseline → now", "time to route around (back)");
        for (var p = 0; p < Phases.Length; p++)
        {
            var (from, to) = (p * phase, (p + 1) * phase);
            foreach (var (name, (run, upstream)) in runs)
            {
                var samples = run.Between(from, to).ToList();
                var latency = new LatencyStats(samples.Where(s => s.Outcome == Outcome.Ok).Select(s => s.LatencyMs));
                var errors = samples.Count(s => s.Outcome is not (Outcome.Ok or Outcome.Dropped));
                var lost = samples.Count(s => s.Outcome != Outcome.Ok);
                var retried = samples.Count(s => s.Attempts > 1);
                var (before, during, routeAround) = Phases[p].Region < 0
                    ? ((double?)null, (double?)null, "–")
                    : RouteAround(upstream, Phases[p].Region, from, to, phase, Phases[p].Recovery);
                table.Add($"{from:0}–{to:0} s {Phases[p].Label}", name, samples.Count, errors, lost, retried, latency.P50, latency.P99, latency.Max,
                    before is null ? "–" : $"{Fmt.Number(before.Value)} → {Fmt.Number(during!.Value)}", routeAround);
            }
        }
        report.Table(table);
        report.Text("Caller errors: answers that were not a success (5xx, 429, connection failures). Lost: calls that did not succeed, drops included. Retried: calls that took more than one upstream attempt " +
            "(x-aoai-attempts from the gateway; the client's own count for client-retry; nginx does not say). Time to route around: from the event until the region at fault last received more than a quarter " +
            "of its baseline rate (its own request counter, 0.5 s windows); 'never' when it still did at the end of the phase. In the phases where the region is back, " +
            "the same column says when it first got a quarter of its baseline rate again ('not yet' when it did not within the phase).");

        var p99Chart = new SvgChart("failover: p99 latency per second", "time (s)", "p99 of successful calls (ms)") { LogY = true };
        var errorChart = new SvgChart("failover: calls lost per second", "time (s)", "calls not succeeded");
        foreach (var (name, (run, _)) in runs)
        {
            var seconds = Enumerable.Range(0, (int)Math.Ceiling(total.TotalSeconds)).ToList();
            p99Chart.Series.Add(new Series(name, [.. seconds.Select(s => (s + 0.5, new LatencyStats(run.Between(s, s + 1).Where(x => x.Outcome == Outcome.Ok).Select(x => x.LatencyMs)).P99))]));
            errorChart.Series.Add(new Series(name, [.. seconds.Select(s => (s + 0.5, (double)run.Between(s, s + 1).Count(x => x.Outcome != Outcome.Ok)))]));
        }
        for (var p = 1; p < Phases.Length; p++)
        {
            p99Chart.Markers.Add(new Marker(p * phase, Phases[p].Label));
            errorChart.Markers.Add(new Marker(p * phase, Phases[p].Label));
        }
        report.Charts.AddRange([p99Chart, errorChart]);
    }

    /// <summary>Applies each phase's faults on time and samples every region's request counter.</summary>
    private static async Task DriveAsync(SimulatorFleet fleet, double phase, long started, List<(double T, long[] Requests)> upstream, CancellationToken cancellationToken)
    {
        var next = 1;
        try
        {
            using var timer = new PeriodicTimer(TimeSpan.FromSeconds(SampleInterval));
            do
            {
                var t = Stopwatch.GetElapsedTime(started).TotalSeconds;
                if (next < Phases.Length && t >= next * phase)
                {
                    await fleet.SetFaultsAsync(Phases[next].Region, Phases[next].Faults);
                    next++;
                }
                var stats = await fleet.GetAllStatsAsync();
                upstream.Add((Stopwatch.GetElapsedTime(started).TotalSeconds, [.. stats.Select(s => s.Requests)]));
            }
            while (await timer.WaitForNextTickAsync(cancellationToken));
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static (double? Before, double? During, string RouteAround) RouteAround(List<(double T, long[] Requests)> upstream, int region, double from, double to, double phase, bool recovery)
    {
        double Rate(double a, double b)
        {
            var start = upstream.LastOrDefault(u => u.T <= a, upstream[0]);
            var end = upstream.LastOrDefault(u => u.T <= b, upstream[^1]);
            return end.T - start.T <= 0 ? 0 : (end.Requests[region] - start.Requests[region]) / (end.T - start.T);
        }

        var before = Rate(0, phase);
        var during = Rate(from, to);
        if (before < 1)
        {
            return (before, during, "n/a (idle before)");
        }
        if (recovery)
        {
            var back = upstream.Where(u => u.T >= from + 0.5 && u.T <= to).Select(u => u.T).FirstOrDefault(t => Rate(t - 0.5, t) > before / 4, double.NaN);
            return (before, during, double.IsNaN(back) ? "back: not yet" : $"back: {back - from:0.0} s");
        }
        var lastHot = double.NaN;
        foreach (var (t, _) in upstream.Where(u => u.T >= from + 0.5 && u.T <= to))
        {
            if (Rate(t - 0.5, t) > before / 4)
            {
                lastHot = t;
            }
        }
        if (double.IsNaN(lastHot))
        {
            return (before, during, "< 0.5 s");
        }
        return (before, during, lastHot >= to - 0.5 ? "never" : $"{lastHot - from:0.0} s");
    }
}
