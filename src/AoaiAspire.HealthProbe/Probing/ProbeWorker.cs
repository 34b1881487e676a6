using AoaiAspire.Backends.State;
using AoaiAspire.HealthProbe.Configuration;
using Microsoft.Extensions.Options;

namespace AoaiAspire.HealthProbe.Probing;

/// <summary>
/// Runs a <see cref="ProbeRound"/> at once and then every <see cref="HealthProbeOptions.Interval"/> (measured
/// from the start of a round, on the injected <see cref="TimeProvider"/>), over the backends configured at
/// that moment. Says once when verdicts cannot be shared, and once per Redis outage.
/// </summary>
internal sealed partial class ProbeWorker(
    ProbeTargets targets, ProbeRound round, ProbeVerdicts verdicts, IBackendStateStore store,
    IOptionsMonitor<HealthProbeOptions> options, TimeProvider time, ILogger<ProbeWorker> logger) : BackgroundService
{
    private int _publishingSuspended;

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        targets.ReadAtStart();
        store.ConnectionChanged += OnConnectionChanged;
        // Returns at once even when Redis is down; the client keeps connecting in the background.
        await store.StartAsync(cancellationToken).ConfigureAwait(false);
        if (!store.IsShared)
        {
            LogNotShared(logger);
        }
        await base.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        store.ConnectionChanged -= OnConnectionChanged;
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await WaitForFirstConnectionAsync(stoppingToken).ConfigureAwait(false);
            while (!stoppingToken.IsCancellationRequested)
            {
                var started = time.GetTimestamp();
                await RunRoundAsync(stoppingToken).ConfigureAwait(false);
                var wait = options.CurrentValue.Interval - time.GetElapsedTime(started);
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, time, stoppingToken).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    /// <summary>
    /// The Redis client connects in the background: give it up to one probe timeout before the first round,
    /// so a normal start neither reports an outage nor skips the first publication.
    /// </summary>
    private async Task WaitForFirstConnectionAsync(CancellationToken cancellationToken)
    {
        if (!store.IsShared || store.IsConnected)
        {
            return;
        }
        var connected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnChanged(bool up)
        {
            if (up)
            {
                connected.TrySetResult();
            }
        }
        store.ConnectionChanged += OnChanged;
        try
        {
            if (!store.IsConnected)
            {
                await connected.Task.WaitAsync(options.CurrentValue.Timeout, time, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (TimeoutException)
        {
            // Redis is down at start: the first round says so and probes without it.
        }
        finally
        {
            store.ConnectionChanged -= OnChanged;
        }
    }

    private async Task RunRoundAsync(CancellationToken cancellationToken)
    {
        if (store.IsShared && !store.IsConnected)
        {
            // Covers a Redis never reached since start, which raises no ConnectionChanged.
            SuspendPublishing();
        }
        try
        {
            var backends = targets.Current();
            verdicts.Retain([.. backends.Select(b => b.Name)]);
            var result = await round.RunAsync(backends, cancellationToken).ConfigureAwait(false);
            verdicts.RoundCompleted();
            LogRound(logger, verdicts.Rounds, result.Probed.Count, result.Skipped.Count, result.Published);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // A bug, not a backend's failure (those are verdicts): keep probing next round.
            LogRoundFailed(logger, ex);
        }
    }

    private void OnConnectionChanged(bool connected)
    {
        if (!connected)
        {
            SuspendPublishing();
        }
        else if (Interlocked.Exchange(ref _publishingSuspended, 0) == 1)
        {
            LogPublishingResumed(logger);
        }
    }

    private void SuspendPublishing()
    {
        if (Interlocked.Exchange(ref _publishingSuspended, 1) == 0)
        {
            LogPublishingSuspended(logger);
        }
    }

    [LoggerMessage(3301, LogLevel.Warning, "Redis is not configured (ConnectionStrings:redis): verdicts are kept in this process only and no gateway sees them. The health probe is only useful with Redis.")]
    private static partial void LogNotShared(ILogger logger);

    [LoggerMessage(3302, LogLevel.Warning, "Redis is unreachable: probing continues, but verdicts are not published until it returns.")]
    private static partial void LogPublishingSuspended(ILogger logger);

    [LoggerMessage(3303, LogLevel.Information, "Redis is reachable again: publishing verdicts.")]
    private static partial void LogPublishingResumed(ILogger logger);

    [LoggerMessage(3304, LogLevel.Debug, "Round {Round}: probed {Probed}, left {Skipped} to other replicas, published {Published}.")]
    private static partial void LogRound(ILogger logger, long round, int probed, int skipped, int published);

    [LoggerMessage(3305, LogLevel.Error, "A probe round failed; the next one runs as planned.")]
    private static partial void LogRoundFailed(ILogger logger, Exception exception);
}
