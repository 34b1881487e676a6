using System.Collections.Concurrent;
using AoaiAspire.Backends.Configuration;
using StackExchange.Redis;
using AoaiAspire.Backends.State;
using AoaiAspire.HealthProbe.Configuration;
using Microsoft.Extensions.Options;

namespace AoaiAspire.HealthProbe.Probing;

/// <summary>What one round did.</summary>
/// <param name="Probed">The verdicts this replica reached.</param>
/// <param name="Skipped">Backends another probe replica held the lease on.</param>
/// <param name="Published">Verdicts written to the shared store (not refused as older, not lost to a Redis outage).</param>
internal sealed record ProbeRoundResult(IReadOnlyList<ProbeOutcome> Probed, IReadOnlyList<string> Skipped, int Published);

/// <summary>
/// One round over every backend, a bounded number at a time. For each backend:
/// 1. take its probe lease for about one interval; when another probe replica holds it, leave the backend to it;
/// 2. probe it (<see cref="BackendProber"/>);
/// 3. publish the verdict with its time-to-live (the store keeps it only if it is the newest);
/// 4. remember it for <c>/status</c> and log it if it changed.
/// While Redis is unreachable there is no lease to take and nowhere to publish: every backend is probed and
/// nothing is published, so <c>/status</c> stays current and publishing resumes with the connection.
/// </summary>
internal sealed partial class ProbeRound(
    BackendProber prober, IBackendStateStore store, ProbeVerdicts verdicts, IOptionsMonitor<HealthProbeOptions> options, ILogger<ProbeRound> logger)
{
    public async Task<ProbeRoundResult> RunAsync(IReadOnlyList<BackendDefinition> backends, CancellationToken cancellationToken)
    {
        var settings = options.CurrentValue;
        var probed = new ConcurrentQueue<ProbeOutcome>();
        var skipped = new ConcurrentQueue<string>();
        var published = 0;
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = settings.MaxConcurrency, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(backends, parallel, async (backend, token) =>
        {
            // 1.
            var shared = store.IsConnected;
            if (shared && store.IsShared)
            {
                try
                {
                    if (!await store.TryTakeProbeLeaseAsync(backend.Name, settings.LeaseDuration, token).ConfigureAwait(false))
                    {
                        skipped.Enqueue(backend.Name);
                        LogLeaseHeld(logger, backend.Name);
                        return;
                    }
                }
                catch (Exception ex) when (ex is RedisException or TimeoutException)
                {
                    // Redis went away this instant: probe anyway, publish nothing (the worker logs the outage once).
                    shared = false;
                }
            }

            // 2.
            var outcome = await prober.ProbeAsync(backend, token).ConfigureAwait(false);
            probed.Enqueue(outcome);

            // 3.
            var wasPublished = false;
            if (shared)
            {
                try
                {
                    wasPublished = await store.PublishHealthAsync(outcome.Report, settings.EffectiveVerdictTimeToLive, token).ConfigureAwait(false);
                    if (wasPublished)
                    {
                        Interlocked.Increment(ref published);
                    }
                }
                catch (Exception ex) when (ex is RedisException or TimeoutException)
                {
                    // As above: counted as not published, logged once by the worker.
                }
            }

            // 4.
            var previous = verdicts.Record(new ProbeVerdict(backend.Name, backend.Region, outcome.Report, outcome.Detail, wasPublished));
            if (previous?.Report.Status != outcome.Report.Status)
            {
                if (outcome.Report.Status == HealthStatus.Healthy)
                {
                    LogHealthy(logger, backend.Name, previous?.Report.Status ?? HealthStatus.Unknown, outcome.Report.LatencyMs);
                }
                else
                {
                    LogUnhealthy(logger, backend.Name, outcome.Report.Status, previous?.Report.Status ?? HealthStatus.Unknown, outcome.Detail);
                }
            }
        }).ConfigureAwait(false);
        return new ProbeRoundResult([.. probed], [.. skipped], published);
    }

    [LoggerMessage(3001, LogLevel.Information, "Backend {Backend} is Healthy (was {Previous}); answered in {LatencyMs:0.#} ms.")]
    private static partial void LogHealthy(ILogger logger, string backend, HealthStatus previous, double latencyMs);

    [LoggerMessage(3002, LogLevel.Warning, "Backend {Backend} is {Status} (was {Previous}): {Detail}.")]
    private static partial void LogUnhealthy(ILogger logger, string backend, HealthStatus status, HealthStatus previous, string detail);

    [LoggerMessage(3003, LogLevel.Debug, "Backend {Backend} left to another probe replica, which holds its lease.")]
    private static partial void LogLeaseHeld(ILogger logger, string backend);
}
