using System.Diagnostics;
using AoaiAspire.Bench.Contenders;
using AoaiAspire.Bench.LoadGeneration;
using AoaiAspire.Bench.Reporting;
using AoaiAspire.Bench.Simulators;

namespace AoaiAspire.Bench.Scenarios;

/// <summary>
/// Server-sent event streams: (1) many concurrent long streams through each contender: time to the first
/// chunk and the proxy's memory per open stream; (2) a region dying while streams are open, killed outright
/// (SIGKILL: connections reset) or set down (Faults.Down): how many streams end with <c>[DONE]</c>, how many
/// break with an error the caller sees, and how many end cleanly without <c>[DONE]</c> (silently truncated,
/// which must never happen).
/// </summary>
internal sealed class StreamingScenario : IScenario
{
    private const int MaxTokens = 40;
    private static readonly TimeSpan ChunkInterval = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan KillAfter = TimeSpan.FromSeconds(3);
    private const int StreamsWhenDying = 200;

    public string Name => "streaming";

    public IReadOnlyList<string> DefaultContenders => [ContenderCatalog.Direct, ContenderCatalog.GatewayPrefix + "weighted", ContenderCatalog.NginxRoundRobin, ContenderCatalog.ClientRetry];

    public async Task RunAsync(BenchOptions options, Report report, CancellationToken cancellationToken)
    {
        var contenders = ScenarioSupport.Contenders(this, options, report);
        var request = ChatRequest.Create(MaxTokens, stream: true);
        var streamSeconds = MaxTokens * ChunkInterval.TotalSeconds;
        report.Text($"Each stream: {MaxTokens} content chunks {ChunkInterval.TotalMilliseconds:0} ms apart (about {streamSeconds:0} s), then a usage chunk and [DONE]. Streams are opened over one second (open loop) and read to the end.");

        await ConcurrentStreamsAsync(options, report, [.. contenders.Where(c => c != ContenderCatalog.ClientRetry)], request, cancellationToken);
        await DyingRegionAsync(options, report, contenders, request, cancellationToken);
    }

    private static async Task ConcurrentStreamsAsync(BenchOptions options, Report report, List<string> contenders, ChatRequest request, CancellationToken cancellationToken)
    {
        await using var fleet = await SimulatorFleet.StartAsync([new RegionSpec("eastus") { LatencyScale = 1, StreamChunkInterval = ChunkInterval }]);
        var results = new List<(string Contender, int Streams, RunResult Run, long IdleRss, long PeakRss, double Cpu)>();
        foreach (var name in contenders)
        {
            await using var contender = await ScenarioSupport.StartAsync(name, fleet, options);
            await OpenLoop.RunAsync(contender.SendAsync(request), 50, TimeSpan.FromSeconds(1), options.MaxInFlight, cancellationToken);
            foreach (var streams in options.Streams)
            {
                await Task.Delay(500, cancellationToken);
                var idle = contender.Proxy?.RssBytes ?? 0;
                var cpu0 = contender.Proxy?.CpuSeconds ?? double.NaN;
                using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                var peak = 0L;
                var sampler = Task.Run(async () =>
                {
                    using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
                    try
                    {
                        while (await timer.WaitForNextTickAsync(stop.Token))
                        {
                            peak = Math.Max(peak, contender.Proxy?.RssBytes ?? 0);
                        }
                    }
                    catch (OperationCanceledException)
                    {
                    }
                }, CancellationToken.None);
                var run = await OpenLoop.RunAsync(contender.SendAsync(request), streams, TimeSpan.FromSeconds(1), options.MaxInFlight, cancellationToken);
                await stop.CancelAsync();
                await sampler;
                results.Add((name, streams, run, idle, peak, (contender.Proxy?.CpuSeconds ?? double.NaN) - cpu0));
                ScenarioSupport.Progress($"{name}, {streams} streams: first chunk p50 {run.FirstByte().P50:0.0} ms, RSS {Fmt.MiB(idle)} → {Fmt.MiB(peak)} MiB");
            }
        }

        report.Heading("Concurrent streams: time to first chunk and proxy memory");
        var table = new MarkdownTable("streams", "contender", "[DONE]", "broken", "truncated", "first chunk p50 ms", "p99 ms", "added p50 ms", "added p99 ms", "proxy RSS idle MiB", "proxy RSS peak MiB", "KiB per open stream", "proxy CPU s");
        foreach (var streams in options.Streams)
        {
            var direct = results.FirstOrDefault(r => r.Contender == ContenderCatalog.Direct && r.Streams == streams).Run?.FirstByte();
            foreach (var (name, _, run, idle, peak, cpu) in results.Where(r => r.Streams == streams))
            {
                var first = run.FirstByte();
                var isDirect = name == ContenderCatalog.Direct;
                table.Add(streams, name, run.Ok, run.Count(Outcome.StreamBroken) + run.Count(Outcome.Failed), run.Count(Outcome.StreamTruncated), first.P50, first.P99,
                    isDirect ? null : first.P50 - (direct?.P50 ?? double.NaN), isDirect ? null : first.P99 - (direct?.P99 ?? double.NaN),
                    isDirect ? null : idle / 1048576.0, isDirect ? null : peak / 1048576.0, isDirect ? null : (peak - idle) / 1024.0 / streams, isDirect ? null : cpu);
            }
        }
        report.Table(table);
        report.Text("First chunk: from the moment a stream was due to its first body byte (the role chunk, which the simulator sends at once). KiB per open stream: (peak RSS while the streams were open − RSS just before) / streams; RSS is sampled every 100 ms from /proc.");

        var ttfb = new SvgChart("streaming: time to first chunk (p50)", "concurrent streams", "ms");
        var memory = new SvgChart("streaming: proxy memory per open stream", "concurrent streams", "KiB per stream");
        foreach (var name in contenders)
        {
            var mine = results.Where(r => r.Contender == name).ToList();
            ttfb.Series.Add(new Series(name, [.. mine.Select(r => ((double)r.Streams, r.Run.FirstByte().P50))]));
            if (name != ContenderCatalog.Direct)
            {
                memory.Series.Add(new Series(name, [.. mine.Select(r => ((double)r.Streams, (r.PeakRss - r.IdleRss) / 1024.0 / r.Streams))]));
            }
        }
        report.Charts.AddRange([ttfb, memory]);
    }

    private static async Task DyingRegionAsync(BenchOptions options, Report report, List<string> contenders, ChatRequest request, CancellationToken cancellationToken)
    {
        RegionSpec[] regions = [new("eastus") { LatencyScale = 1, StreamChunkInterval = ChunkInterval }, new("eastus2") { LatencyScale = 1, StreamChunkInterval = ChunkInterval }];
        await using var fleet = await SimulatorFleet.StartAsync(regions);
        var table = new MarkdownTable("how eastus dies", "contender", "streams", "[DONE]", "broken (error seen)", "truncated silently", "no answer", "error status", "[DONE] from eastus", "[DONE] from eastus2");
        var chart = new SvgChart("streaming: streams that reached [DONE] when eastus died mid-stream", "run (1 = killed, 2 = Faults.Down)", "% of streams");
        var chartPoints = contenders.ToDictionary(c => c, _ => new List<(double, double)>());
        foreach (var (mode, index) in new[] { ("killed (SIGKILL)", 1), ("Faults.Down", 2) })
        {
            foreach (var name in contenders)
            {
                await using var contender = await ScenarioSupport.StartAsync(name, fleet, options);
                await OpenLoop.RunAsync(contender.SendAsync(ChatRequest.Create(1, stream: true)), 20, TimeSpan.FromSeconds(1), options.MaxInFlight, cancellationToken);
                var started = Stopwatch.GetTimestamp();
                var load = OpenLoop.RunAsync(contender.SendAsync(request), StreamsWhenDying, TimeSpan.FromSeconds(1), options.MaxInFlight, cancellationToken);
                await Task.Delay(KillAfter - Stopwatch.GetElapsedTime(started), cancellationToken);
                if (index == 1)
                {
                    await fleet.KillAsync(0);
                }
                else
                {
                    await fleet.SetFaultsAsync(0, new { down = true });
                }
                var run = await load;
                if (index == 1)
                {
                    await fleet.RestartAsync(0);
                }
                else
                {
                    await fleet.ClearFaultsAsync();
                }
                var broken = run.Count(Outcome.StreamBroken);
                table.Add(mode, name, run.Samples.Count, run.Ok, broken, run.Count(Outcome.StreamTruncated), run.Count(Outcome.Failed), run.Count(Outcome.HttpError) + run.Count(Outcome.Throttled),
                    run.Samples.Count(s => s.Outcome == Outcome.Ok && s.Region == 0), run.Samples.Count(s => s.Outcome == Outcome.Ok && s.Region == 1));
                chartPoints[name].Add((index, 100.0 * run.Ok / run.Samples.Count));
                ScenarioSupport.Progress($"{mode}, {name}: {run.Ok} [DONE], {broken} broken, {run.Count(Outcome.StreamTruncated)} truncated");
            }
        }
        report.Heading($"A region dying mid-stream ({StreamsWhenDying} streams over two regions, eastus dies {KillAfter.TotalSeconds:0} s in)");
        report.Table(table);
        report.Text("Broken: the caller's read failed (connection reset or ended before the chunked body's end): a clear error. Truncated silently: the body ended cleanly without [DONE]. " +
            "No answer: the request itself failed before any status. Faults.Down is read when a request arrives, so it refuses new streams but lets open ones finish; killing the process is what cuts open streams.");
        chart.Series.AddRange(chartPoints.Select(p => new Series(p.Key, p.Value)));
        report.Charts.Add(chart);
    }
}
