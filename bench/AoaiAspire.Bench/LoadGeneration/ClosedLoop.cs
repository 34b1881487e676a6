using System.Diagnostics;

namespace AoaiAspire.Bench.LoadGeneration;

/// <summary>
/// Closed loop: N workers, each sending its next request as soon as the previous one returns. It finds the
/// most a system serves (saturation); its latencies describe a system kept full, not callers arriving freely.
/// </summary>
internal static class ClosedLoop
{
    public static async Task<RunResult> RunAsync(SendRequest send, int workers, TimeSpan duration, CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        var end = start + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var perWorker = new List<Sample>[workers];
        var tasks = new Task[workers];
        for (var w = 0; w < workers; w++)
        {
            var list = perWorker[w] = new List<Sample>(1024);
            tasks[w] = Task.Run(async () =>
            {
                while (Stopwatch.GetTimestamp() < end && !cancellationToken.IsCancellationRequested)
                {
                    var sent = Stopwatch.GetTimestamp();
                    var sample = await send(sent, cancellationToken);
                    sample.StartS = (sent - start) / (double)Stopwatch.Frequency;
                    list.Add(sample);
                }
            }, CancellationToken.None);
        }
        await Task.WhenAll(tasks);
        var elapsed = Stopwatch.GetElapsedTime(start);
        return new RunResult([.. perWorker.SelectMany(l => l)], elapsed, double.NaN);
    }
}
