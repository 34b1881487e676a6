using AoaiAspire.Bench.Contenders;
using AoaiAspire.Bench.Reporting;
using AoaiAspire.Bench.Simulators;

namespace AoaiAspire.Bench.Scenarios;

/// <summary>A benchmark: starts its simulators, measures each contender, writes its report.</summary>
internal interface IScenario
{
    string Name { get; }

    /// <summary>Contenders measured when <c>--contenders</c> is not given; the baseline first.</summary>
    IReadOnlyList<string> DefaultContenders { get; }

    Task RunAsync(BenchOptions options, Report report, CancellationToken cancellationToken);
}

/// <summary>Helpers every scenario uses.</summary>
internal static class ScenarioSupport
{
    /// <summary>The contenders to run, without those that cannot run here (each skip printed with its reason).</summary>
    public static List<string> Contenders(IScenario scenario, BenchOptions options, Report report)
    {
        var chosen = new List<string>();
        foreach (var name in options.Contenders ?? scenario.DefaultContenders)
        {
            if (ContenderCatalog.Unavailable(name, options.BaselineGateway) is { } reason)
            {
                report.Text($"> **{name} skipped**: {reason}.");
                continue;
            }
            chosen.Add(name);
        }
        if (chosen.Count == 0)
        {
            throw new ArgumentException($"No contender can run for {scenario.Name}; known: {string.Join(", ", ContenderCatalog.All)}.");
        }
        return chosen;
    }

    public static async Task<IContender> StartAsync(string name, SimulatorFleet fleet, BenchOptions options)
    {
        Console.Error.WriteLine($"[{DateTime.Now:HH:mm:ss}] starting {name}");
        return await ContenderCatalog.StartAsync(name, fleet, options.RequestTimeout, options.BaselineGateway);
    }

    public static void Progress(string message) => Console.Error.WriteLine($"[{DateTime.Now:HH:mm:ss}] {message}");
}
