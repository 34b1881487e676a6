using AoaiAspire.Bench.Reporting;

namespace AoaiAspire.Bench.Scenarios;

internal sealed class StreamingScenario : IScenario
{
    public string Name => "streaming";
    public IReadOnlyList<string> DefaultContenders => [];
    public Task RunAsync(BenchOptions options, Report report, CancellationToken cancellationToken) => Task.CompletedTask;
}
