using AoaiAspire.Bench.Contenders;
using AoaiAspire.Bench.LoadGeneration;
using AoaiAspire.Bench.Reporting;
using AoaiAspire.Bench.Simulators;

namespace AoaiAspire.Bench.Scenarios;

/// <summary>
/// Quota pressure: three regions with Azure-style limits (priority 1, 1, 2) and realistic latency, offered
/// 50 % to 150 % of their summed capacity. What matters is goodput (successful tokens per minute as a share
/// of what the regions can serve), the 429s and errors callers see, and the 429s the regions send back.
/// </summary>
/// <remarks>
/// Each call charges prompt + max_tokens ≈ 142 tokens, below the 167 tokens at which a deployment's
/// tokens-per-minute limit binds before its requests-per-minute limit (6 RPM per 1,000 TPM, enforced over
/// 10-second windows). So capacity is set by the 10-second RPM windows, which steps of 10–30 s measure
/// fairly; the one-minute token window would need steps of several minutes.
/// </remarks>
internal sealed class QuotaScenario : IScenario
{
    private static readonly RegionSpec[] Regions =
    [
        new("eastus", Priority: 1) { TokensPerMinute = 60_000, RequestsPerMinute = null, LatencyScale = 1.0 },
        new("eastus2", Priority: 1) { TokensPerMinute = 60_000, RequestsPerMinute = null, LatencyScale = 1.15 },
        new("canadaeast", Priority: 2) { TokensPerMinute = 60_000, RequestsPerMinute = null, LatencyScale = 1.3 },
    ];

    public string Name => "quota";

    public IReadOnlyList<string> DefaultContenders => [.. ContenderCatalog.Gateways, ContenderCatalog.NginxRoundRobin, ContenderCatalog.ClientRetry];

    public async Task RunAsync(BenchOptions options, Report report, CancellationToken cancellationToken)
    {
        var contenders = ScenarioSupport.Contenders(this, options, report);
        var request = ChatRequest.Create(maxTokens: 128);
        var tokensPerCall = request.TokensPerCall;
        var capacityPerMinute = Regions.Sum(r => r.CapacityTokensPerMinute(tokensPerCall));
        var capacityPerSecond = Regions.Sum(r => r.EffectiveRequestsPerMinute) / 60.0;
        await using var fleet = await SimulatorFleet.StartAsync(Regions);
        report.Text($"Regions: {string.Join(", ", Regions.Select(r => $"{r.Name} (priority {r.Priority}, {r.TokensPerMinute:N0} TPM, {r.EffectiveRequestsPerMinute} RPM, latency ×{r.LatencyScale})"))}. " +
            $"Each call: {tokensPerCall} tokens (max_tokens {request.MaxTokens}), about {19 * request.MaxTokens / 1000.0:0.0} s of simulated generation. " +
            $"Summed capacity: {capacityPerMinute:N0} tokens/min = {capacityPerSecond:0.#} calls/s (RPM-bound). Open loop, {options.Step.TotalSeconds:0} s per step, steps run back to back per contender (limits reset between contenders).");

        var results = new List<(string Contender, double Load, RunResult Run, long UpstreamThrottled, long UpstreamRequests)>();
        foreach (var name in contenders)
        {
            await fleet.ResetAsync();
            await using var contender = await ScenarioSupport.StartAsync(name, fleet, options);
            foreach (var load in options.QuotaLoads)
            {
                var before = await fleet.GetAllStatsAsync();
                var run = await OpenLoop.RunAsync(contender.SendAsync(request), capacityPerSecond * load, options.Step, options.MaxInFlight, cancellationToken);
                var after = await fleet.GetAllStatsAsync();
                var throttled = after.Zip(before).Sum(p => p.First.Throttled - p.Second.Throttled);
                var upstream = after.Zip(before).Sum(p => p.First.Requests - p.Second.Requests);
                results.Add((name, load, run, throttled, upstream));
                ScenarioSupport.Progress($"{name} at {load:P0}: goodput {Goodput(run):P1}, caller 429s {run.Count(Outcome.Throttled)}, upstream 429s {throttled}");
            }
        }

        report.Heading("Goodput and errors by offered load");
        var table = new MarkdownTable("offered", "contender", "calls/s offered", "goodput tokens/min", "goodput / capacity", "caller 429s", "caller errors", "upstream 429s", "upstream calls / caller call", "served by priority 2", "p50 ms", "p99 ms");
        foreach (var load in options.QuotaLoads)
        {
            foreach (var (name, _, run, throttled, upstream) in results.Where(r => r.Load == load))
            {
                var latency = run.OkLatency();
                table.Add(Fmt.Percent(load), name, run.OfferedPerSecond, GoodputPerMinute(run), Fmt.Percent(Goodput(run)), run.Count(Outcome.Throttled),
                    run.Lost - run.Count(Outcome.Throttled), throttled, (double)upstream / Math.Max(1, run.Samples.Count - run.Dropped), Fmt.Percent(ServedByFallback(run)), latency.P50, latency.P99);
            }
        }
        report.Table(table);
        report.Text("Goodput counts calls that succeeded, each worth the tokens it was charged, over the step's length; a share above the offered load means calls of an earlier step finished in this one. " +
            "Caller errors are everything else that was not a success (5xx, connection failures, drops at the open-loop cap). Upstream 429s come from the simulators' own counters.");

        var goodputChart = new SvgChart("quota: goodput by offered load", "offered load (% of summed capacity)", "goodput (% of capacity)");
        var throttleChart = new SvgChart("quota: 429s seen by callers", "offered load (% of summed capacity)", "% of calls answered 429");
        var p99Chart = new SvgChart("quota: p99 latency of successful calls", "offered load (% of summed capacity)", "p99 (ms)");
        foreach (var name in contenders)
        {
            var mine = results.Where(r => r.Contender == name).ToList();
            goodputChart.Series.Add(new Series(name, [.. mine.Select(r => (r.Load * 100, Goodput(r.Run) * 100))]));
            throttleChart.Series.Add(new Series(name, [.. mine.Select(r => (r.Load * 100, 100.0 * r.Run.Count(Outcome.Throttled) / Math.Max(1, r.Run.Samples.Count)))]));
            p99Chart.Series.Add(new Series(name, [.. mine.Select(r => (r.Load * 100, r.Run.OkLatency().P99))]));
        }
        report.Charts.AddRange([goodputChart, throttleChart, p99Chart]);

        // Share of successful calls answered by a priority-2 region: a priority policy keeps it near 0 until group 1 is full.
        double ServedByFallback(RunResult run) => (double)run.Samples.Count(x => x.Outcome == Outcome.Ok && x.Region >= 0 && Regions[x.Region].Priority > 1) / Math.Max(1, run.Ok);
        double GoodputPerMinute(RunResult run) => run.Ok * tokensPerCall / run.Duration.TotalMinutes;
        double Goodput(RunResult run) => GoodputPerMinute(run) / capacityPerMinute;
    }
}
