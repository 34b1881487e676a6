using System.Diagnostics;

namespace AoaiAspire.Bench.LoadGeneration;

/// <summary>Sends one request: given the timestamp it was due, returns its record.</summary>
internal delegate Task<Sample> SendRequest(long dueTimestamp, CancellationToken cancellationToken);

/// <summary>
/// Open loop: requests leave on a fixed schedule at the offered rate, whether or not earlier ones have
/// returned, as independent callers would send them. Latency is measured from the time a request was
/// due, so a generator that falls behind cannot hide the wait (no coordinated omission). A cap on requests
/// in flight keeps a dead backend from piling up tasks without bound; a request due while at the cap is
/// recorded as <see cref="Outcome.Dropped"/>.
/// </summary>
internal static class OpenLoop
{
    public static async Task<RunResult> RunAsync(SendRequest send, double ratePerSecond, TimeSpan duration, int maxInFlight, CancellationToken cancellationToken)
    {
        var total = Math.Max(1, (int)Math.Round(ratePerSecond * duration.TotalSeconds));
        var samples = new Sample[total];
        var tasks = new List<Task>(total);
        var inFlight = 0;
        var start = Stopwatch.GetTimestamp();
        var ticksPerRequest = Stopwatch.Frequency / ratePerSecond;
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(1));
        var next = 0;
        while (next < total)
        {
            var elapsed = Stopwatch.GetTimestamp() - start;
            var due = Math.Min(total, (int)(elapsed / ticksPerRequest) + 1);
            for (; next < due; next++)
            {
                var index = next;
                samples[index].StartS = index / ratePerSecond;
                if (Volatile.Read(ref inFlight) >= maxInFlight)
                {
                    samples[index].Outcome = Outcome.Dropped;
                    samples[index].LatencyMs = double.NaN;
                    samples[index].FirstByteMs = double.NaN;
                    samples[index].Region = -1;
                    samples[index].Done = true;
                    continue;
                }
                Interlocked.Increment(ref inFlight);
                var dueTimestamp = start + (long)(index * ticksPerRequest);
                tasks.Add(Task.Run(async () =>
                {
                    try
                    {
                        var sample = await send(dueTimestamp, cancellationToken);
                        sample.StartS = index / ratePerSecond;
                        samples[index] = sample;
                    }
                    finally
                    {
                        Interlocked.Decrement(ref inFlight);
                    }
                }, CancellationToken.None));
            }
            if (next < total)
            {
                await timer.WaitForNextTickAsync(cancellationToken);
            }
        }
        await Task.WhenAll(tasks);
        return new RunResult(samples, duration, ratePerSecond);
    }
}
