using AoaiAspire.Backends.State;

namespace AoaiAspire.Gateway.Quotas;

/// <summary>
/// Shares the quota counts of <see cref="ConsumerQuotas"/> with the other replicas through Redis.
/// </summary>
/// <remarks>
/// Every <see cref="ConsumerQuotaOptions.SyncInterval"/>, in one pipelined round trip:
/// 1. reads (or sets) <see cref="SharedStateNames.QuotaEpochKey"/>, to notice that Redis lost its data;
/// 2. for each counter with pending charges, INCRBY them on its window's keys (Lua, with PEXPIRE) and takes the
///    returned totals of every replica as the new baseline;
/// 3. for each other counter, MGET the totals, so an idle replica learns what the others spent.
/// A failed push puts the charges back into the pending count; nothing on the request path waits for any of this.
/// Without Redis configured the loop does not run and the counts stay per replica. When a configured Redis is
/// unreachable (logged once; <c>/health</c> says Degraded through the connection's health check) each consumer gets
/// what <see cref="ConsumerQuotaOptions.WhenRedisDown"/> (or its own <c>QuotaWhenRedisDown</c>) chose: fail open, the
/// replica admits on what it last knew plus its own charges and pushes them when Redis is back; or fail closed, the
/// replica refuses what it cannot count (see docs/quotas.md).
/// </remarks>
internal sealed partial class QuotaSynchronizer : IHostedService, IAsyncDisposable
{
    /// <summary>Keys outlive their minute by a minute, for replicas whose clocks lag a little.</summary>
    private static readonly TimeSpan KeyTimeToLive = TimeSpan.FromMinutes(2);

    private const int KeysPerRead = 512;

    private readonly ConsumerQuotas _quotas;
    private readonly ISharedQuotaCounts? _shared;
    private readonly TimeSpan _interval;
    private readonly TimeProvider _timerTime;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private Task _loop = Task.CompletedTask;
    private string? _epoch;
    private int _failed;
    private long _syncs;

    /// <param name="shared">Null: no Redis configured, counts are per replica.</param>
    /// <param name="timerTime">Clock of the loop's timer; the windows follow <see cref="ConsumerQuotas.Time"/>.</param>
    public QuotaSynchronizer(ConsumerQuotas quotas, ISharedQuotaCounts? shared, ConsumerQuotaOptions options, TimeProvider timerTime, ILogger logger)
    {
        _quotas = quotas;
        _shared = shared;
        _interval = options.SyncInterval;
        _timerTime = timerTime;
        _logger = logger;
    }

    /// <summary>Completed synchronisations (for tests and the status page).</summary>
    public long Syncs => Interlocked.Read(ref _syncs);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (_shared is null)
        {
            LogLocal(_logger);
            return Task.CompletedTask;
        }
        _shared.ConnectionChanged += OnConnectionChanged;
        SetConnected(_shared.IsConnected);
        _loop = Task.Run(RunAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    private async Task RunAsync()
    {
        using var timer = new PeriodicTimer(_interval, _timerTime);
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false))
            {
                await SyncOnceAsync(_stopping.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    /// <summary>One synchronisation; false when Redis is not reachable (the counts stay local until the next one).</summary>
    internal async Task<bool> SyncOnceAsync(CancellationToken cancellationToken)
    {
        var shared = _shared;
        var connected = shared is { IsConnected: true };
        SetConnected(connected);
        if (!connected)
        {
            return false;
        }

        var window = _quotas.CurrentWindow();
        var counters = _quotas.Counters;
        var pushes = new List<Push>();
        var reads = new List<QuotaCounter>();
        var contributedBefore = new (long Tokens, long Requests)[counters.Length];
        for (var i = 0; i < counters.Length; i++)
        {
            var counter = counters[i];
            SetKeys(counter, window);
            lock (counter.Gate)
            {
                counter.Roll(window);
                contributedBefore[i] = (counter.ContributedTokens, counter.ContributedRequests);
                if (counter.Window != window)
                {
                    continue; // its clock is ahead of ours (cannot happen with one TimeProvider); leave it alone
                }
                if (counter.PendingTokens == 0 && counter.PendingRequests == 0)
                {
                    reads.Add(counter);
                    continue;
                }
                // Assume the push lands; undone below if it fails.
                var push = new Push(counter, counter.PendingTokens, counter.PendingRequests);
                counter.BaselineTokens += push.Tokens;
                counter.BaselineRequests += push.Requests;
                counter.ContributedTokens += push.Tokens;
                counter.ContributedRequests += push.Requests;
                counter.PendingTokens = counter.PendingRequests = 0;
                pushes.Add(push);
            }
        }

        // All commands go out before any reply is awaited: the multiplexer pipelines them on one connection.
        var epochTask = shared!.GetOrSetEpochAsync(Guid.NewGuid().ToString("N"));
        foreach (var push in pushes)
        {
            push.Reply = shared.AddAsync(push.Counter.TokensKey, push.Counter.RequestsKey, push.Tokens, push.Requests, KeyTimeToLive);
        }
        var readTasks = new List<(int Start, int Count, Task<long[]> Reply)>();
        for (var start = 0; start < reads.Count; start += KeysPerRead / 2)
        {
            var count = Math.Min(KeysPerRead / 2, reads.Count - start);
            var keys = new string[count * 2];
            for (var i = 0; i < count; i++)
            {
                keys[2 * i] = reads[start + i].TokensKey;
                keys[(2 * i) + 1] = reads[start + i].RequestsKey;
            }
            readTasks.Add((start, count, shared.ReadAsync(keys)));
        }

        var ok = true;
        foreach (var push in pushes)
        {
            try
            {
                var (tokens, requests) = await push.Reply!.WaitAsync(cancellationToken).ConfigureAwait(false);
                SetBaseline(push.Counter, window, tokens, requests);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                ok = false;
                Undo(push, window);
            }
        }
        foreach (var (start, count, reply) in readTasks)
        {
            try
            {
                var values = await reply.WaitAsync(cancellationToken).ConfigureAwait(false);
                for (var i = 0; i < count; i++)
                {
                    SetBaseline(reads[start + i], window, values[2 * i], values[(2 * i) + 1]);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                ok = false;
            }
        }
        try
        {
            var epoch = await epochTask.WaitAsync(cancellationToken).ConfigureAwait(false);
            if (_epoch is not null && epoch != _epoch)
            {
                // Redis lost the data (restarted without persistence, flushed): this pass's pushes landed in the new
                // dataset, what was pushed before did not. Push that again so the totals come back.
                LogDataLost(_logger);
                for (var i = 0; i < counters.Length; i++)
                {
                    Repush(counters[i], window, contributedBefore[i]);
                }
            }
            _epoch = epoch;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            ok = false;
        }

        if (!ok)
        {
            if (Interlocked.Exchange(ref _failed, 1) == 0)
            {
                LogSyncFailed(_logger);
            }
            return false;
        }
        Interlocked.Exchange(ref _failed, 0);
        Interlocked.Increment(ref _syncs);
        return true;
    }

    private static void SetKeys(QuotaCounter counter, long window)
    {
        if (counter.KeysWindow == window)
        {
            return;
        }
        counter.TokensKey = SharedStateNames.QuotaKey(counter.Consumer, counter.Deployment, window, SharedStateNames.QuotaTokens);
        counter.RequestsKey = SharedStateNames.QuotaKey(counter.Consumer, counter.Deployment, window, SharedStateNames.QuotaRequests);
        counter.KeysWindow = window;
    }

    private static void SetBaseline(QuotaCounter counter, long window, long tokens, long requests)
    {
        lock (counter.Gate)
        {
            if (counter.Window == window)
            {
                counter.BaselineTokens = tokens;
                counter.BaselineRequests = requests;
            }
        }
    }

    private static void Undo(Push push, long window)
    {
        var counter = push.Counter;
        lock (counter.Gate)
        {
            if (counter.Window != window)
            {
                return; // the window is over: its charges no longer matter
            }
            counter.BaselineTokens -= push.Tokens;
            counter.BaselineRequests -= push.Requests;
            counter.ContributedTokens -= push.Tokens;
            counter.ContributedRequests -= push.Requests;
            counter.PendingTokens += push.Tokens;
            counter.PendingRequests += push.Requests;
        }
    }

    private static void Repush(QuotaCounter counter, long window, (long Tokens, long Requests) lost)
    {
        lock (counter.Gate)
        {
            if (counter.Window != window)
            {
                return;
            }
            counter.ContributedTokens -= lost.Tokens;
            counter.ContributedRequests -= lost.Requests;
            counter.PendingTokens += lost.Tokens;
            counter.PendingRequests += lost.Requests;
        }
    }

    private void OnConnectionChanged(bool connected)
    {
        SetConnected(connected);
        if (connected)
        {
            LogShared(_logger);
        }
        else
        {
            LogLost(_logger, _quotas.FailsClosed ? "consumers set to fail closed are refused" : "every replica counts alone");
        }
    }

    /// <summary>Shared: cap what is admitted between synchronisations. Not shared (Redis configured, unreachable): the fail-open or fail-closed choice applies.</summary>
    private void SetConnected(bool connected)
    {
        _quotas.IsShared = connected;
        _quotas.SharedStoreDown = !connected;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        if (_shared is not null)
        {
            _shared.ConnectionChanged -= OnConnectionChanged;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stopping.IsCancellationRequested)
        {
            await _stopping.CancelAsync().ConfigureAwait(false);
        }
        await _loop.ConfigureAwait(false);
        _stopping.Dispose();
    }

    private sealed class Push(QuotaCounter counter, long tokens, long requests)
    {
        public QuotaCounter Counter { get; } = counter;
        public long Tokens { get; } = tokens;
        public long Requests { get; } = requests;
        public Task<(long Tokens, long Requests)>? Reply { get; set; }
    }

    [LoggerMessage(1601, LogLevel.Information, "No Redis configured (ConnectionStrings:redis): consumer quotas are counted per replica.")]
    private static partial void LogLocal(ILogger logger);

    [LoggerMessage(1602, LogLevel.Warning, "Redis lost: until it is back, consumer quotas cannot be shared ({Consequence}).")]
    private static partial void LogLost(ILogger logger, string consequence);

    [LoggerMessage(1603, LogLevel.Information, "Redis connected: consumer quotas are shared across replicas.")]
    private static partial void LogShared(ILogger logger);

    [LoggerMessage(1604, LogLevel.Warning, "Synchronising consumer quotas with Redis failed; retrying every interval, admitting on local counts meanwhile.")]
    private static partial void LogSyncFailed(ILogger logger);

    [LoggerMessage(1605, LogLevel.Warning, "Redis lost the consumer quota counts (restart or flush): pushing this replica's counts of the current minute again.")]
    private static partial void LogDataLost(ILogger logger);
}
