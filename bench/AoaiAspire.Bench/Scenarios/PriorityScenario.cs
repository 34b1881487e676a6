using AoaiAspire.Bench.Contenders;
using AoaiAspire.Bench.LoadGeneration;
using AoaiAspire.Bench.Reporting;
using AoaiAspire.Bench.Simulators;

namespace AoaiAspire.Bench.Scenarios;

/// <summary>
/// Caller priority under quota pressure: the quota scenario's three regions, shared by an <c>interactive</c> consumer
/// offering 30 % of their enforced capacity and two equal <c>batch</c> consumers offering 60 % each (120 % together).
/// Per consumer: the 429s it sees, its p99, its goodput; for the two batch consumers, Jain's fairness index.
/// </summary>
/// <remarks>
/// Each consumer is its own open loop with its own key. <c>gateway-queue</c> knows them as consumers (classes
/// <c>interactive</c> and <c>batch</c>, 30 s of patience each: README "Admission"); every other contender takes them
/// as anonymous callers, as it would today. A reference step runs the interactive consumer alone (30 %) through the
/// first contender, for its unloaded p99. The regions' own counters read at the step's end give what they admitted
/// within the step, which cannot exceed the enforced capacity; calls that waited past the step's end are still
/// counted as served for their consumer (the per-consumer columns), which is why those can add up to more.
/// </remarks>
internal sealed class PriorityScenario : IScenario
{
    private const double InteractiveShare = 0.30;
    private const double BatchShare = 0.60;

    public string Name => "priority";

    public IReadOnlyList<string> DefaultContenders => [ContenderCatalog.QueueingGateway, ContenderCatalog.QueueingHeldGateway, ContenderCatalog.GatewayPrefix + "weighted", ContenderCatalog.NginxRoundRobin, ContenderCatalog.ClientRetry];

    public async Task RunAsync(BenchOptions options, Report report, CancellationToken cancellationToken)
    {
        var contenders = ScenarioSupport.Contenders(this, options, report);
        var request = ChatRequest.Create(maxTokens: QuotaScenario.MaxTokens);
        var tokensPerCall = request.TokensPerCall;
        var step = options.Step;
        if (step.TotalSeconds < 60 || step.TotalSeconds % 60 != 0)
        {
            throw new ArgumentException($"--step {step.TotalSeconds:0}: the priority scenario's steps must be whole minutes (60, 120, …).");
        }
        var regions = QuotaScenario.Regions;
        var capacityCalls = regions.Sum(r => QuotaScenario.EnforcedCalls(r, tokensPerCall, step));
        var capacityPerSecond = capacityCalls / step.TotalSeconds;
        var consumers = ContenderCatalog.PriorityConsumers;
        var shares = consumers.Select(c => c.Class == "interactive" ? InteractiveShare : BatchShare).ToArray();
        await using var fleet = await SimulatorFleet.StartAsync(regions);
        report.Text($"Regions as in the quota scenario: {string.Join(", ", regions.Select(r => $"{r.Name} (priority {r.Priority}, {r.TokensPerMinute:N0} TPM)"))}; " +
            $"{tokensPerCall} tokens per call; enforced capacity {capacityCalls} calls per {step.TotalMinutes:0}-minute step ({capacityPerSecond:0.##} calls/s). " +
            $"Consumers, each an open loop with its own key for {step.TotalSeconds:0} s: {string.Join(", ", consumers.Select((c, i) => $"{c.Name} ({c.Class}, {shares[i]:P0} of capacity)"))}. " +
            $"{ContenderCatalog.QueueingGateway}: the gateway with these consumers in their classes and MaxQueueWait 30 s each; {ContenderCatalog.QueueingHeldGateway}: the same with DispatchHold 50 ms; the other contenders see anonymous callers. " +
            "Every step: windows reset, the contender started afresh.");
        ScenarioSupport.Progress($"priority: {contenders.Count} contenders + 1 reference step of {step.TotalSeconds:0} s: about {(contenders.Count + 1) * (step.TotalSeconds + 40) / 60:0} min");

        // The interactive consumer alone, for its unloaded p99.
        RunResult unloaded;
        await using (var reference = await ScenarioSupport.StartAsync(contenders[0], fleet, options))
        {
            await WarmUpAsync(reference, options, cancellationToken);
            await fleet.ResetAsync();
            unloaded = await OpenLoop.RunAsync(reference.SendAsync(request.WithApiKey(consumers[0].Key)), capacityPerSecond * InteractiveShare, step, options.MaxInFlight, cancellationToken);
        }
        ScenarioSupport.Progress($"interactive alone through {contenders[0]}: p99 {unloaded.OkLatency().P99:0} ms, 429s {unloaded.Count(Outcome.Throttled)}");

        var results = new List<(string Contender, RunResult[] Runs, RegionStats[] AtEnd, RegionStats[] After)>();
        foreach (var name in contenders)
        {
            await using var contender = await ScenarioSupport.StartAsync(name, fleet, options);
            await WarmUpAsync(contender, options, cancellationToken);
            await fleet.ResetAsync();
            var atEnd = Task.Run(async () =>
            {
                await Task.Delay(step, cancellationToken);
                return await fleet.GetAllStatsAsync();
            }, cancellationToken);
            var runs = await Task.WhenAll(consumers.Select((c, i) =>
                OpenLoop.RunAsync(contender.SendAsync(request.WithApiKey(c.Key)), capacityPerSecond * shares[i], step, options.MaxInFlight, cancellationToken)));
            var after = await fleet.GetAllStatsAsync();
            results.Add((name, runs, await atEnd, after));
            ScenarioSupport.Progress($"{name}: {string.Join("; ", consumers.Select((c, i) => $"{c.Name} ok {runs[i].Ok}, 429s {runs[i].Count(Outcome.Throttled)}, p99 {runs[i].OkLatency().P99:0} ms"))}");
        }

        report.Heading($"Per consumer ({step.TotalSeconds:0} s step)");
        var table = new MarkdownTable("contender", "consumer", "calls/s offered", "calls", "served", "caller 429s", "caller errors", "p50 ms", "p99 ms", "p99 / interactive alone", "served tokens/min", "served / enforced capacity");
        var unloadedP99 = unloaded.OkLatency().P99;
        foreach (var (name, runs, _, _) in results)
        {
            for (var i = 0; i < consumers.Length; i++)
            {
                var run = runs[i];
                var latency = run.OkLatency();
                table.Add(name, consumers[i].Name, run.OfferedPerSecond, run.Samples.Count, run.Ok, run.Count(Outcome.Throttled), run.Lost - run.Count(Outcome.Throttled),
                    latency.P50, latency.P99, consumers[i].Class == "interactive" ? Fmt.Ratio(latency.P99, unloadedP99) : "–",
                    run.Ok * tokensPerCall / step.TotalMinutes, Fmt.Percent(run.Ok / (double)capacityCalls));
            }
        }
        var alone = unloaded.OkLatency();
        table.Add($"{contenders[0]} (reference)", consumers[0].Name + " alone", unloaded.OfferedPerSecond, unloaded.Samples.Count, unloaded.Ok, unloaded.Count(Outcome.Throttled),
            unloaded.Lost - unloaded.Count(Outcome.Throttled), alone.P50, alone.P99, "1.00×", unloaded.Ok * tokensPerCall / step.TotalMinutes, Fmt.Percent(unloaded.Ok / (double)capacityCalls));
        report.Table(table);

        report.Heading("All consumers together");
        var summary = new MarkdownTable("contender", "admitted by the regions within the step / enforced capacity", "served after the step's end", "upstream 429s", "Jain's index, batch-a vs batch-b (served calls)");
        foreach (var (name, runs, atEnd, after) in results)
        {
            var admittedInStep = atEnd.Sum(r => r.Requests - r.Throttled - r.Failed);
            var admittedAll = after.Sum(r => r.Requests - r.Throttled - r.Failed);
            double a = runs[1].Ok, b = runs[2].Ok;
            var jain = a + b == 0 ? double.NaN : (a + b) * (a + b) / (2 * ((a * a) + (b * b)));
            summary.Add(name, Fmt.Percent(admittedInStep / (double)capacityCalls), admittedAll - admittedInStep, after.Sum(r => r.Throttled), double.IsNaN(jain) ? "–" : jain.ToString("0.000", System.Globalization.CultureInfo.InvariantCulture));
        }
        report.Table(summary);
        report.Text("Served: calls due in the step that succeeded, whenever they finished (a call that waited in the gateway's queue may be admitted after the step's end, in a window the step's capacity does not count). " +
            "Admitted within the step: the regions' own count of calls they accepted (requests less 429s and failures) read when the step's time was up; it cannot exceed the enforced capacity. " +
            "Served after the step's end: calls the regions accepted after that reading. Jain's index: (a + b)² / (2 (a² + b²)) over the two batch consumers' served calls; 1 is an even split.");
    }

    /// <summary>A few one-token calls per consumer so that JIT and first connections are paid before the windows reset.</summary>
    private static async Task WarmUpAsync(IContender contender, BenchOptions options, CancellationToken cancellationToken)
    {
        foreach (var (_, key, _) in ContenderCatalog.PriorityConsumers)
        {
            await OpenLoop.RunAsync(contender.SendAsync(ChatRequest.Create(maxTokens: 1).WithApiKey(key)), 3, TimeSpan.FromSeconds(1), options.MaxInFlight, cancellationToken);
        }
    }
}
