using AoaiAspire.Bench.Reporting;

namespace AoaiAspire.Bench.Scenarios;

internal sealed class FailoverScenario : IScenario
{
    public string Name => "failover";
    public IReadOnlyList<string> DefaultContenders => [];
    public Task RunAsync(BenchOptions options, Report report, CancellationToken cancellationToken) => Task.CompletedTask;
}
