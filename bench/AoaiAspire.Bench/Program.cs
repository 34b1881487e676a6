using AoaiAspire.Bench;
using AoaiAspire.Bench.Processes;
using AoaiAspire.Bench.Reporting;
using AoaiAspire.Bench.Scenarios;

// Benchmarks of the gateway against its baselines; see bench/README.md.
IScenario[] scenarios = [new OverheadScenario(), new QuotaScenario(), new FailoverScenario(), new StreamingScenario(), new FreezeScenario(), new NoisyNeighbourScenario(), new PriorityScenario()];

var options = BenchOptions.Parse(args, Path.Combine(BenchPaths.RepositoryRoot(), "bench", "results"), out var error);
if (options is null)
{
    Console.Error.WriteLine($"error: {error}{Environment.NewLine}{BenchOptions.Usage}");
    return 2;
}
var selected = options.Scenario == "all" ? scenarios : scenarios.Where(s => s.Name == options.Scenario).ToArray();
if (selected.Length == 0)
{
    Console.Error.WriteLine($"error: unknown scenario '{options.Scenario}'{Environment.NewLine}{BenchOptions.Usage}");
    return 2;
}
if (!ProcessMeter.IsSupported)
{
    Console.Error.WriteLine("warning: /proc is not available, so proxy CPU and memory will read as zero (the bench is written for Linux).");
}

using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};

Console.WriteLine($"machine: {Machine.Describe()}; load average {Machine.LoadAverage()}");
foreach (var scenario in selected)
{
    var report = new Report(scenario.Name, options.CommandLine.Replace("-- all", "-- " + scenario.Name, StringComparison.Ordinal));
    try
    {
        await scenario.RunAsync(options, report, stop.Token);
    }
    catch (ArgumentException ex)
    {
        Console.Error.WriteLine($"error: {ex.Message}");
        return 2;
    }
    await report.WriteAsync(options.OutputDirectory);
}
return 0;
