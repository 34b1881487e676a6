using System.Diagnostics;
using AoaiAspire.Bench.Contenders;
using AoaiAspire.Bench.LoadGeneration;
using AoaiAspire.Bench.Reporting;
using AoaiAspire.Bench.Simulators;

namespace AoaiAspire.Bench.Scenarios;

/// <summary>
/// A region that freezes: three regions (two in priority group 1, one in group 2), steady open-loop load,
/// and one priority-1 region's simulator process stopped with SIGSTOP for a few seconds, then continued
/// with SIGCONT. Its sockets stay open and the kernel keeps accepting and buffering, but nothing answers:
/// the failure a connect timeout or a reset cannot see. Per second and per phase (before, frozen, after):
/// how many new requests still went to the frozen region, caller latency, failures, and how long after the
/// freeze began new requests stopped going there.
/// </summary>
/// <remarks>
/// The gateway runs as <c>--replicas</c> replicas sharing a <c>redis-server</c>, with the health probe,
/// callers spread round robin over the replicas. Which region served a request is read from the
/// simulator's <c>x-ms-region</c> header, which every contender passes on; a request is counted in the
/// second it was due.
/// </remarks>
internal sealed class FreezeScenario : IScenario
{
    private const int Frozen = 0;

    private static readonly RegionSpec[] Regions =
    [
        new("eastus", Priority: 1) { LatencyScale = 0.5 },
        new("eastus2", Priority: 1) { LatencyScale = 0.5 },
        new("canadaeast", Priority: 2) { LatencyScale = 0.5 },
    ];

    public string Name => "freeze";

    public IReadOnlyList<string> DefaultContenders => [ContenderCatalog.GatewayPrefix + "weighted", ContenderCatalog.HedgedGateway, ContenderCatalog.NginxRoundRobin];

    public async Task RunAsync(BenchOptions options, Report report, CancellationToken cancellationToken)
    {
        var contenders = ScenarioSupport.Contenders(this, options, report);
        if (contenders.Any(c => c.StartsWith(ContenderCatalog.GatewayPrefix, StringComparison.Ordinal)) && Processes.RedisServer.Find() is null)
        {
            throw new ArgumentException("the freeze scenario runs the gateway as replicas sharing a redis-server, which is not installed; install it, e.g. 'apt-get install redis-server'");
        }
        var request = ChatRequest.Create(maxTokens: 16);
        var before = options.FreezeBefore.TotalSeconds;
        var frozenFor = options.FreezeFor.TotalSeconds;
        var after = options.FreezeAfter.TotalSeconds;
        var total = TimeSpan.FromSeconds(before + frozenFor + after);
        await using var fleet = await SimulatorFleet.StartAsync(Regions);
        report.Text($"Regions: {string.Join(", ", Regions.Select(r => $"{r.Name} (priority {r.Priority})"))}, limits out of reach, latency ×0.5 (about {19 * 16 * 0.5:0} ms a call). " +
            $"Open loop at {options.FreezeRate:0} calls/s for {total.TotalSeconds:0} s; {Regions[Frozen].Name}'s simulator process is stopped (SIGSTOP) at {before:0} s and continued (SIGCONT) at {before + frozenFor:0} s. " +
            $"Gateway: {options.Replicas} replicas (separate processes) sharing one redis-server, plus the health probe at its default interval, callers spread round robin over the replicas; " +
            "every other setting at its default. nginx: round robin, its defaults (proxy_next_upstream error timeout; proxy_read_timeout = the bench's request timeout).");

        var runs = new Dictionary<string, RunResult>();
        foreach (var name in contenders)
        {
            await fleet.ResetAsync();
            await using var contender = name == ContenderCatalog.HedgedGateway
                ? await GatewayReplicasContender.StartAsync("weighted", options.Replicas, fleet, options.RequestTimeout, ContenderCatalog.FreezeHedgingArguments, name)
                : name.StartsWith(ContenderCatalog.GatewayPrefix, StringComparison.Ordinal)
                ? await GatewayReplicasContender.StartAsync(name[ContenderCatalog.GatewayPrefix.Length..], options.Replicas, fleet, options.RequestTimeout)
                : await ScenarioSupport.StartAsync(name, fleet, options);
            await OpenLoop.RunAsync(contender.SendAsync(request), options.FreezeRate, TimeSpan.FromSeconds(3), options.MaxInFlight, cancellationToken);

            var started = Stopwatch.GetTimestamp();
            var load = OpenLoop.RunAsync(contender.SendAsync(request), options.FreezeRate, total, options.MaxInFlight, cancellationToken);
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(before) - Stopwatch.GetElapsedTime(started), cancellationToken);
                await fleet.FreezeAsync(Frozen);
                ScenarioSupport.Progress($"{name}: {Regions[Frozen].Name} frozen");
                await Task.Delay(TimeSpan.FromSeconds(before + frozenFor) - Stopwatch.GetElapsedTime(started), cancellationToken);
            }
            finally
            {
                await fleet.ResumeAsync(Frozen);
            }
            ScenarioSupport.Progress($"{name}: {Regions[Frozen].Name} continued");
            var run = await load;
            runs[name] = run;
            ScenarioSupport.Progress($"{name}: {run.Ok} ok, {run.Lost} not ok of {run.Samples.Count}; p99 {run.OkLatency().P99:0} ms");
        }

        (string Label, double From, double To)[] phases = [("before", 0, before), ("frozen", before, before + frozenFor), ("after", before + frozenFor, total.TotalSeconds)];
        report.Heading($"Per phase ({Regions[Frozen].Name} frozen from {before:0} s to {before + frozenFor:0} s)");
        var table = new MarkdownTable("phase", "contender", "calls", $"to {Regions[Frozen].Name}", "to others", "failed", "retried", "p50 ms", "p99 ms", "max ms", "waited > 1 s");
        foreach (var (label, from, to) in phases)
        {
            foreach (var (name, run) in runs)
            {
                var samples = run.Between(from, to).ToList();
                var latency = new LatencyStats(samples.Where(s => s.Outcome == Outcome.Ok).Select(s => s.LatencyMs));
                table.Add($"{from:0}–{to:0} s {label}", name, samples.Count, samples.Count(s => s.Region == Frozen), samples.Count(s => s.Region >= 0 && s.Region != Frozen),
                    samples.Count(s => s.Outcome != Outcome.Ok), samples.Count(s => s.Attempts > 1), latency.P50, latency.P99, latency.Max, samples.Count(s => s.LatencyMs > 1000));
            }
        }
        report.Table(table);

        report.Heading("Routing around the frozen region");
        var summary = new MarkdownTable("contender", $"calls due while frozen", $"of them served by {Regions[Frozen].Name}", $"last call due while frozen that went to {Regions[Frozen].Name}", "p99 ms frozen / p99 ms before", "failed (whole run)");
        foreach (var (name, run) in runs)
        {
            var during = run.Between(before, before + frozenFor).ToList();
            var toFrozen = during.Where(s => s.Region == Frozen).ToList();
            var last = toFrozen.Count == 0 ? "none went there" : $"{toFrozen.Max(s => s.StartS) - before:0.0} s after the freeze{(toFrozen.Max(s => s.StartS) >= before + frozenFor - 0.5 ? " (until the end: never stopped)" : "")}";
            var p99Before = new LatencyStats(run.Between(0, before).Where(s => s.Outcome == Outcome.Ok).Select(s => s.LatencyMs)).P99;
            var p99During = new LatencyStats(during.Where(s => s.Outcome == Outcome.Ok).Select(s => s.LatencyMs)).P99;
            summary.Add(name, during.Count, toFrozen.Count, last, Fmt.Ratio(p99During, p99Before), run.Lost);
        }
        report.Table(summary);

        report.Heading("Per second");
        var headers = new List<string> { "second", "event" };
        foreach (var name in runs.Keys)
        {
            headers.AddRange([$"{name}: to {Regions[Frozen].Name}", $"{name}: p50 ms", $"{name}: p99 ms", $"{name}: failed"]);
        }
        var perSecond = new MarkdownTable([.. headers]);
        for (var s = 0; s < (int)Math.Ceiling(total.TotalSeconds); s++)
        {
            var cells = new List<object?> { $"{s}–{s + 1}", s >= before && s < before + frozenFor ? "frozen" : "" };
            foreach (var run in runs.Values)
            {
                var second = run.Between(s, s + 1).ToList();
                var latency = new LatencyStats(second.Where(x => x.Outcome == Outcome.Ok).Select(x => x.LatencyMs));
                cells.AddRange([second.Count(x => x.Region == Frozen), latency.P50, latency.P99, second.Count(x => x.Outcome != Outcome.Ok)]);
            }
            perSecond.Add([.. cells]);
        }
        report.Table(perSecond);
        report.Text($"To {Regions[Frozen].Name}: calls due in that second that {Regions[Frozen].Name} answered (x-ms-region), whenever the answer came. Retried: calls that took more than one upstream attempt (x-aoai-attempts; nginx does not say). " +
            "Latency from the moment a call was due to the end of its answer; failed: anything but a success (5xx, 429, connection failure, timeout at the bench's --timeout).");

        var p99Chart = new SvgChart("freeze: p99 latency per second", "time (s)", "p99 of successful calls (ms)") { LogY = true };
        var frozenChart = new SvgChart($"freeze: calls per second that went to {Regions[Frozen].Name}", "time (s)", "calls due that second");
        foreach (var (name, run) in runs)
        {
            var seconds = Enumerable.Range(0, (int)Math.Ceiling(total.TotalSeconds)).ToList();
            p99Chart.Series.Add(new Series(name, [.. seconds.Select(s => (s + 0.5, new LatencyStats(run.Between(s, s + 1).Where(x => x.Outcome == Outcome.Ok).Select(x => x.LatencyMs)).P99))]));
            frozenChart.Series.Add(new Series(name, [.. seconds.Select(s => (s + 0.5, (double)run.Between(s, s + 1).Count(x => x.Region == Frozen)))]));
        }
        foreach (var chart in new[] { p99Chart, frozenChart })
        {
            chart.Markers.Add(new Marker(before, "SIGSTOP"));
            chart.Markers.Add(new Marker(before + frozenFor, "SIGCONT"));
        }
        report.Charts.AddRange([p99Chart, frozenChart]);
    }
}
