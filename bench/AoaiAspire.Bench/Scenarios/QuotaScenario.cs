using AoaiAspire.Bench.Reporting;

namespace AoaiAspire.Bench.Scenarios;

internal sealed class QuotaScenario : IScenario
{
    public string Name => "quota";
    public IReadOnlyList<string> DefaultContenders => [];
    public Task RunAsync(BenchOptions options, Report report, CancellationToken cancellationToken) => Task.CompletedTask;
}
