using AoaiAspire.Bench.Contenders;
using AoaiAspire.Bench.LoadGeneration;
using AoaiAspire.Bench.Reporting;
using AoaiAspire.Bench.Simulators;

namespace AoaiAspire.Bench.Scenarios;

/// <summary>
/// Quota pressure: three regions with Azure-style limits (priority 1, 1, 2) and realistic latency, offered
/// shares of their summed capacity. What matters is goodput (successful tokens as a share of what the
/// regions' rate-limit windows really admit over the step), the 429s and errors callers see, and the 429s
/// the regions send back.
/// </summary>
/// <remarks>
/// <para>
/// Each call charges prompt + max_tokens = 270 tokens, above the 167 tokens at which a deployment's
/// tokens-per-minute limit binds before its requests-per-minute limit (6 RPM per 1,000 TPM), so the
/// one-minute token window sets the capacity and the 10-second request windows only cap bursts.
/// </para>
/// <para>
/// The simulator's windows are fixed windows that open at the first request after the previous one closed.
/// So that a step is credited with exactly the windows it can use, every step starts from reset windows
/// (<c>POST /admin/reset</c>) and a freshly started contender (no throttle memory from the previous step),
/// lasts a whole number of minutes (<c>--step</c>), and is measured from its first request: the k-th token
/// window of a region opens at t ≥ (k − 1) min, so a step of n minutes holds at most n token windows and
/// 6n request windows per region. That, times what one window admits, is the step's enforced capacity.
/// </para>
/// </remarks>
internal sealed class QuotaScenario : IScenario
{
    internal const int MaxTokens = 256;

    internal static readonly RegionSpec[] Regions =
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
        var request = ChatRequest.Create(maxTokens: MaxTokens);
        var tokensPerCall = request.TokensPerCall;
        var step = options.Step;
        if (step.TotalSeconds < 60 || step.TotalSeconds % 60 != 0)
        {
            throw new ArgumentException($"--step {step.TotalSeconds:0}: the quota scenario's steps must be whole minutes (60, 120, …) so that each holds whole token windows.");
        }
        var stepCapacity = Regions.Select(r => EnforcedCalls(r, tokensPerCall, step)).ToArray();
        var capacityCalls = stepCapacity.Sum();
        var capacityPerSecond = capacityCalls / step.TotalSeconds;
        await using var fleet = await SimulatorFleet.StartAsync(Regions);
        report.Text($"Regions: {string.Join(", ", Regions.Select(r => $"{r.Name} (priority {r.Priority}, {r.TokensPerMinute:N0} TPM, {r.EffectiveRequestsPerMinute} RPM = {Math.Max(1, r.EffectiveRequestsPerMinute / 6)} per 10 s, latency ×{r.LatencyScale})"))}. " +
            $"Each call: {tokensPerCall} tokens charged on arrival (prompt {request.PromptTokens} + max_tokens {request.MaxTokens}; the simulator generates exactly max_tokens, so usage equals the charge), about {19 * request.MaxTokens / 1000.0:0.0} s of simulated generation. " +
            $"Enforced capacity per {step.TotalMinutes:0}-minute step: {string.Join(" + ", stepCapacity)} = {capacityCalls} calls ({capacityPerSecond:0.##} calls/s, {capacityCalls * tokensPerCall / step.TotalMinutes:N0} tokens/min; token-bound). " +
            $"Every step: windows reset, the contender started afresh, open loop for {step.TotalSeconds:0} s from the first request, then every call awaited.");
        ScenarioSupport.Progress($"quota: {contenders.Count} contenders × {options.QuotaLoads.Count} steps of {step.TotalSeconds:0} s: about {contenders.Count * options.QuotaLoads.Count * (step.TotalSeconds + 12) / 60:0} min");

        var results = new List<(string Contender, double Load, RunResult Run, RegionStats[] Upstream)>();
        foreach (var name in contenders)
        {
            foreach (var load in options.QuotaLoads)
            {
                await using var contender = await ScenarioSupport.StartAsync(name, fleet, options);
                // A few one-token calls so that JIT and first connections are paid before the windows reset.
                await OpenLoop.RunAsync(contender.SendAsync(ChatRequest.Create(maxTokens: 1)), 5, TimeSpan.FromSeconds(1), options.MaxInFlight, cancellationToken);
                await fleet.ResetAsync();
                var run = await OpenLoop.RunAsync(contender.SendAsync(request), capacityPerSecond * load, step, options.MaxInFlight, cancellationToken);
                var upstream = await fleet.GetAllStatsAsync();
                results.Add((name, load, run, upstream));
                ScenarioSupport.Progress($"{name} at {load:P0}: goodput {run.Ok / (double)capacityCalls:P1} of enforced capacity, caller 429s {run.Count(Outcome.Throttled)}, upstream 429s {upstream.Sum(u => u.Throttled)}, admitted per region {string.Join("/", upstream.Select(u => u.Succeeded))}");
            }
        }

        report.Heading($"Goodput and errors by offered load ({step.TotalSeconds:0} s steps)");
        var table = new MarkdownTable("offered", "contender", "calls/s offered", "goodput tokens/min", "goodput / enforced capacity", "caller 429s", "caller errors", "upstream 429s", "upstream calls / caller call", "admitted per region / its capacity", "served by priority 2", "p50 ms", "p99 ms");
        foreach (var load in options.QuotaLoads)
        {
            foreach (var (name, _, run, upstream) in results.Where(r => r.Load == load))
            {
                var latency = run.OkLatency();
                table.Add(Fmt.Percent(load), name, run.OfferedPerSecond, run.Ok * tokensPerCall / step.TotalMinutes, Fmt.Percent(run.Ok / (double)capacityCalls), run.Count(Outcome.Throttled),
                    run.Lost - run.Count(Outcome.Throttled), upstream.Sum(u => u.Throttled), (double)upstream.Sum(u => u.Requests) / Math.Max(1, run.Samples.Count - run.Dropped),
                    string.Join(" / ", upstream.Select((u, i) => Fmt.Percent(u.Succeeded / (double)stepCapacity[i]))), Fmt.Percent(ServedByFallback(run)), latency.P50, latency.P99);
            }
        }
        report.Table(table);
        report.Text("Goodput: calls due in the step that succeeded, each worth the tokens it was charged, per minute of the step. Enforced capacity: per region, the windows a step of whole minutes can hold " +
            "(one token window per minute, six request windows per minute, each opened at the first request after the previous closed) times the calls one window admits, the lower of the two; summed over the regions. " +
            "Admitted per region: the region's own count of successful calls in the step (its counters are reset with its windows) over its enforced capacity; none can exceed 100 %. " +
            "Caller errors are everything else that was not a success (5xx, connection failures, drops at the open-loop cap). Upstream 429s and calls come from the simulators' own counters.");

        var goodputChart = new SvgChart("quota: goodput by offered load", "offered load (% of enforced capacity)", "goodput (% of enforced capacity)");
        var throttleChart = new SvgChart("quota: 429s seen by callers", "offered load (% of enforced capacity)", "% of calls answered 429");
        var p99Chart = new SvgChart("quota: p99 latency of successful calls", "offered load (% of enforced capacity)", "p99 (ms)");
        foreach (var name in contenders)
        {
            var mine = results.Where(r => r.Contender == name).ToList();
            goodputChart.Series.Add(new Series(name, [.. mine.Select(r => (r.Load * 100, 100.0 * r.Run.Ok / capacityCalls))]));
            throttleChart.Series.Add(new Series(name, [.. mine.Select(r => (r.Load * 100, 100.0 * r.Run.Count(Outcome.Throttled) / Math.Max(1, r.Run.Samples.Count)))]));
            p99Chart.Series.Add(new Series(name, [.. mine.Select(r => (r.Load * 100, r.Run.OkLatency().P99))]));
        }
        report.Charts.AddRange([goodputChart, throttleChart, p99Chart]);

        // Share of successful calls answered by a priority-2 region: a priority policy keeps it near 0 until group 1 is full.
        double ServedByFallback(RunResult run) => (double)run.Samples.Count(x => x.Outcome == Outcome.Ok && x.Region >= 0 && Regions[x.Region].Priority > 1) / Math.Max(1, run.Ok);
    }

    /// <summary>
    /// Calls a region's windows can admit over a step of whole minutes that starts with reset windows: at most
    /// one token window per minute and six request windows per minute open in it.
    /// </summary>
    internal static int EnforcedCalls(RegionSpec region, int tokensPerCall, TimeSpan step)
    {
        var minutes = (int)(step.TotalSeconds / 60);
        var byTokens = minutes * (region.TokensPerMinute / tokensPerCall);
        var byRequests = minutes * 6 * Math.Max(1, region.EffectiveRequestsPerMinute / 6);
        return Math.Min(byTokens, byRequests);
    }
}
