using AoaiAspire.Bench.Contenders;
using AoaiAspire.Bench.LoadGeneration;
using AoaiAspire.Bench.Reporting;
using AoaiAspire.Bench.Simulators;

namespace AoaiAspire.Bench.Scenarios;

/// <summary>
/// Issue #2's first benchmark: what the gateway costs in front of one backend that answers at once
/// (LatencyScale 0, limits out of reach), against the same request sent directly, through YARP's
/// <c>IHttpForwarder</c> and through nginx; proxy CPU per 1,000 requests as a ratio to YARP's and nginx's.
/// </summary>
/// <remarks>
/// 1. saturation: a closed loop of <c>--workers</c> callers for <c>--duration</c>, per contender;
/// 2. fixed loads: open loop at shares (<c>--loads</c>) of the gateway's saturation figure, so every contender
///    can carry them; latency from the time each request was due; CPU seconds and peak RSS of the proxy process.
/// </remarks>
internal sealed class OverheadScenario : IScenario
{
    public string Name => "overhead";

    public IReadOnlyList<string> DefaultContenders => [ContenderCatalog.Direct, ContenderCatalog.GatewayPrefix + "weighted", ContenderCatalog.YarpRoundRobin, ContenderCatalog.NginxRoundRobin];

    public async Task RunAsync(BenchOptions options, Report report, CancellationToken cancellationToken)
    {
        var contenders = ScenarioSupport.Contenders(this, options, report);
        var request = ChatRequest.Create(maxTokens: 16);
        await using var fleet = await SimulatorFleet.StartAsync([new RegionSpec("eastus") { LatencyScale = 0 }]);
        report.Text($"One simulated region (separate process), LatencyScale 0, limits out of reach; request: a small non-streaming chat completion ({request.Body.Length} bytes, max_tokens {request.MaxTokens}). " +
            $"Saturation: closed loop, {options.Workers} workers, {options.Warmup.TotalSeconds:0} s warm-up then {options.Duration.TotalSeconds:0} s measured. Proxy CPU and peak RSS are of the proxy process alone (nginx: master and workers).");

        // The simulator is warmed once, directly, so that whichever contender runs first does not pay for its JIT.
        await using (var warm = await ContenderCatalog.StartAsync(ContenderCatalog.Direct, fleet, options.RequestTimeout))
        {
            await ClosedLoop.RunAsync(warm.SendAsync(request), options.Workers, options.Warmup * 2, cancellationToken);
        }

        // 1. Saturation: --rounds rounds, the contenders interleaved in each, so that a burst of load from
        // elsewhere on a shared machine hits one round of every contender rather than all rounds of one.
        // Each contender's table row is its median round by proxy CPU per request (direct: by req/s).
        var rounds = new Dictionary<string, List<(RunResult Run, double Cpu, long PeakRss)>>();
        for (var round = 1; round <= options.Rounds; round++)
        {
            foreach (var name in contenders)
            {
                await using var contender = await ScenarioSupport.StartAsync(name, fleet, options);
                await ClosedLoop.RunAsync(contender.SendAsync(request), options.Workers, options.Warmup, cancellationToken);
                contender.Proxy?.ResetPeak();
                var cpu0 = contender.Proxy?.CpuSeconds ?? double.NaN;
                var run = await ClosedLoop.RunAsync(contender.SendAsync(request), options.Workers, options.Duration, cancellationToken);
                var cpu = (contender.Proxy?.CpuSeconds ?? double.NaN) - cpu0;
                (rounds.TryGetValue(name, out var list) ? list : rounds[name] = []).Add((run, cpu, contender.Proxy?.PeakRssBytes ?? 0));
                ScenarioSupport.Progress($"round {round}, {name}: {run.OkPerSecond:0} req/s at saturation, {cpu / run.Ok * 1e6:0.0} proxy CPU ms / 1k req; load average {Machine.LoadAverage()}");
            }
        }
        var saturation = rounds.ToDictionary(r => r.Key, r => r.Value
            .OrderBy(x => double.IsNaN(x.Cpu) ? -x.Run.OkPerSecond : x.Cpu / x.Run.Ok).ElementAt(r.Value.Count / 2));
        string Spread(string name) => rounds[name].Count < 2 || double.IsNaN(rounds[name][0].Cpu)
            ? "–"
            : $"{Fmt.Number(rounds[name].Min(x => x.Cpu / x.Run.Ok * 1e6))}–{Fmt.Number(rounds[name].Max(x => x.Cpu / x.Run.Ok * 1e6))}";

        var baseline = saturation.TryGetValue(ContenderCatalog.Direct, out var direct) ? direct.Run : null;
        report.Heading(options.Rounds > 1 ? $"Saturation (closed loop; median of {options.Rounds} interleaved rounds)" : "Saturation (closed loop)");
        var table = new MarkdownTable("contender", "req/s", "vs direct", "p50 ms", "p99 ms", "p50 vs direct", "not ok", "proxy CPU s", "proxy CPU ms / 1k req", "vs yarp-rr", "vs nginx-rr", "CPU ms / 1k req, all rounds", "proxy peak RSS MiB");
        double CpuPerThousand(string name) => saturation.TryGetValue(name, out var s) ? s.Cpu / s.Run.Ok * 1e6 : double.NaN;
        foreach (var (name, (run, cpu, peak)) in saturation)
        {
            var latency = run.OkLatency();
            var perThousand = cpu / run.Ok * 1e6;
            table.Add(name, run.OkPerSecond, Fmt.Ratio(run.OkPerSecond, baseline?.OkPerSecond ?? double.NaN), latency.P50, latency.P99,
                Fmt.Ratio(latency.P50, baseline?.OkLatency().P50 ?? double.NaN), run.Lost, cpu, perThousand,
                Fmt.Ratio(perThousand, CpuPerThousand(ContenderCatalog.YarpRoundRobin)), Fmt.Ratio(perThousand, CpuPerThousand(ContenderCatalog.NginxRoundRobin)), Spread(name), PeakMiB(peak));
        }
        report.Table(table);
        report.Text("Proxy CPU ms / 1k req: the proxy process's CPU time (utime + stime) over the measured seconds, per 1,000 successful requests; 'vs' columns divide it by yarp-rr's and nginx-rr's figure from the same run" +
            (options.Rounds > 1 ? $" (each the median of {options.Rounds} rounds; the range over all rounds beside it). Every round starts each proxy afresh." : "."));

        // 2. Fixed offered loads, as shares of the gateway's saturation figure (else the slowest contender's).
        var reference = saturation.Where(s => s.Key.StartsWith(ContenderCatalog.GatewayPrefix, StringComparison.Ordinal)).Select(s => s.Value.Run.OkPerSecond).DefaultIfEmpty(saturation.Values.Min(s => s.Run.OkPerSecond)).First();
        var rates = options.Loads.Select(share => Math.Max(1, Math.Round(reference * share / 10) * 10)).ToList();
        var results = new Dictionary<(string Contender, double Rate), (RunResult Run, double Cpu, long PeakRss)>();
        foreach (var name in contenders)
        {
            await using var contender = await ScenarioSupport.StartAsync(name, fleet, options);
            await ClosedLoop.RunAsync(contender.SendAsync(request), options.Workers, options.Warmup, cancellationToken);
            foreach (var rate in rates)
            {
                contender.Proxy?.ResetPeak();
                var cpu0 = contender.Proxy?.CpuSeconds ?? double.NaN;
                var run = await OpenLoop.RunAsync(contender.SendAsync(request), rate, options.Duration, options.MaxInFlight, cancellationToken);
                results[(name, rate)] = (run, (contender.Proxy?.CpuSeconds ?? double.NaN) - cpu0, contender.Proxy?.PeakRssBytes ?? 0);
                ScenarioSupport.Progress($"{name} at {rate} req/s: p50 {run.OkLatency().P50:0.00} ms, p99 {run.OkLatency().P99:0.00} ms");
            }
        }

        report.Heading($"Fixed offered loads (open loop, {options.Duration.TotalSeconds:0} s each; {string.Join(", ", options.Loads.Select(l => Fmt.Percent(l)))} of the gateway's {reference:0} req/s)");
        table = new MarkdownTable("offered req/s", "contender", "ok req/s", "p50 ms", "p90 ms", "p99 ms", "added p50 ms", "added p99 ms", "not ok", "proxy CPU s", "proxy CPU % of a core", "CPU ms / 1k req", "vs yarp-rr", "vs nginx-rr", "proxy peak RSS MiB");
        foreach (var rate in rates)
        {
            var directRun = results.TryGetValue((ContenderCatalog.Direct, rate), out var d) ? d.Run : null;
            foreach (var name in contenders)
            {
                var (run, cpu, peak) = results[(name, rate)];
                var latency = run.OkLatency();
                var directLatency = directRun?.OkLatency();
                table.Add(rate, name, run.OkPerSecond, latency.P50, latency.P90, latency.P99,
                    name == ContenderCatalog.Direct ? null : latency.P50 - (directLatency?.P50 ?? double.NaN),
                    name == ContenderCatalog.Direct ? null : latency.P99 - (directLatency?.P99 ?? double.NaN),
                    run.Lost, cpu, cpu / run.Duration.TotalSeconds * 100, cpu / run.Ok * 1e6,
                    Fmt.Ratio(cpu / run.Ok, PerRequest(ContenderCatalog.YarpRoundRobin, rate)), Fmt.Ratio(cpu / run.Ok, PerRequest(ContenderCatalog.NginxRoundRobin, rate)), PeakMiB(peak));
            }
        }
        report.Table(table);

        double PerRequest(string name, double rate) => results.TryGetValue((name, rate), out var r) ? r.Cpu / r.Run.Ok : double.NaN;

        foreach (var (title, pick) in new (string, Func<LatencyStats, double>)[] { ("p50 latency by offered load", l => l.P50), ("p99 latency by offered load", l => l.P99) })
        {
            var chart = new SvgChart($"overhead: {title}", "offered load (req/s)", "latency (ms)");
            chart.Series.AddRange(contenders.Select(name => new Series(name, [.. rates.Select(rate => (rate, pick(results[(name, rate)].Run.OkLatency())))])));
            report.Charts.Add(chart);
        }
        var cpuChart = new SvgChart("overhead: proxy CPU by offered load", "offered load (req/s)", "% of one core");
        cpuChart.Series.AddRange(contenders.Where(n => !double.IsNaN(results[(n, rates[0])].Cpu)).Select(name => new Series(name, [.. rates.Select(rate => (rate, results[(name, rate)].Cpu / results[(name, rate)].Run.Duration.TotalSeconds * 100))])));
        report.Charts.Add(cpuChart);
    }

    private static double? PeakMiB(long bytes) => bytes == 0 ? null : bytes / (1024.0 * 1024.0);
}

/// <summary>Adapts a contender to the load generators.</summary>
internal static class ContenderLoad
{
    public static SendRequest SendAsync(this IContender contender, ChatRequest request)
        => (due, cancellationToken) => contender.SendAsync(request, due, cancellationToken);
}
