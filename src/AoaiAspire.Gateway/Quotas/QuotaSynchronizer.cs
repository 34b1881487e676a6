using AoaiAspire.Backends.Redis;
using AoaiAspire.Backends.State;
using Microsoft.Extensions.Diagnostics.HealthChecks;

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
/// Without Redis the loop does not run and the counts stay per replica. When Redis goes away the replica keeps
/// admitting on what it last knew plus its own charges (logged once; <c>/health</c> says Degraded) and pushes
/// them when Redis is back.
/// </remarks>
internal sealed partial class QuotaSynchronizer : IHostedService, IHealthCheck, IAsyncDisposable
{
    // KEYS = tokens key, requests key; ARGV = token delta, request delta, ttl ms. Returns both totals.
    private static readonly RedisScript PushScript = new("""
        local t = redis.call('INCRBY', KEYS[1], ARGV[1])
        local r = redis.call('INCRBY', KEYS[2], ARGV[2])
        redis.call('PEXPIRE', KEYS[1], ARGV[3])
        redis.call('PEXPIRE', KEYS[2], ARGV[3])
        return {t, r}
        """);

    // KEYS[1] = epoch key; ARGV[1] = a new random value, set only when the key is missing. Returns the value in force.
    private static readonly RedisScript EpochScript = new("""
        local e = redis.call('GET', KEYS[1])
        if e then return e end
        redis.call('SET', KEYS[1], ARGV[1])
        return ARGV[1]
        """);

    /// <summary>Keys outlive their minute by a minute, for replicas whose clocks lag a little.</summary>
    private static readonly long KeyTimeToLiveMs = (long)TimeSpan.FromMinutes(2).TotalMilliseconds;

    private const int KeysPerRead = 512;

    private readonly ConsumerQuotas _quotas;
    private readonly RedisClient? _client;
    private readonly bool _ownsClient;
    private readonly TimeSpan _interval;
    private readonly TimeProvider _timerTime;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private Task _loop = Task.CompletedTask;
    private string? _epoch;
    private int _failed;
    private long _syncs;

    /// <param name="client">Null: no Redis configured, counts are per replica.</param>
    /// <param name="ownsClient">Start and dispose <paramref name="client"/> here (false when it is shared with the backend state store).</param>
    /// <param name="timerTime">Clock of the loop's timer; the windows follow <see cref="ConsumerQuotas.Time"/>.</param>
    public QuotaSynchronizer(ConsumerQuotas quotas, RedisClient? client, bool ownsClient, ConsumerQuotaOptions options, TimeProvider timerTime, ILogger logger)
    {
        _quotas = quotas;
        _client = client;
        _ownsClient = ownsClient;
        _interval = options.SyncInterval;
        _timerTime = timerTime;
        _logger = logger;
    }

    /// <summary>Completed synchronisations (for tests and the status page).</summary>
    public long Syncs => Interlocked.Read(ref _syncs);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (_client is null)
        {
            LogLocal(_logger);
            return;
        }
        _client.OnConnectionStateChanged += OnConnectionStateChanged;
        if (_ownsClient)
        {
            await _client.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        _loop = Task.Run(RunAsync, CancellationToken.None);
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
        var client = _client;
        var connected = client is { IsConnected: true };
        _quotas.IsShared = connected;
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

        // All commands go out before any reply is awaited: the client pipelines them on one connection.
        var epochTask = client!.EvaluateAsync(EpochScript, [SharedStateNames.QuotaEpochKey], [Guid.NewGuid().ToString("N")], cancellationToken);
        foreach (var push in pushes)
        {
            push.Reply = client.EvaluateAsync(PushScript, [push.Counter.TokensKey, push.Counter.RequestsKey], [push.Tokens, push.Requests, KeyTimeToLiveMs], cancellationToken);
        }
        var readTasks = new List<(int Start, int Count, Task<string?[]> Reply)>();
        for (var start = 0; start < reads.Count; start += KeysPerRead / 2)
        {
            var count = Math.Min(KeysPerRead / 2, reads.Count - start);
            var keys = new string[count * 2];
            for (var i = 0; i < count; i++)
            {
                keys[2 * i] = reads[start + i].TokensKey;
                keys[(2 * i) + 1] = reads[start + i].RequestsKey;
            }
            readTasks.Add((start, count, client.GetManyStringsAsync(keys, cancellationToken)));
        }

        var ok = true;
        foreach (var push in pushes)
        {
            try
            {
                var totals = (await push.Reply!.ConfigureAwait(false)).AsArray()!;
                SetBaseline(push.Counter, window, totals[0].AsInt64(), totals[1].AsInt64());
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
                var values = await reply.ConfigureAwait(false);
                for (var i = 0; i < count; i++)
                {
                    SetBaseline(reads[start + i], window, Parse(values[2 * i]), Parse(values[(2 * i) + 1]));
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                ok = false;
            }
        }
        try
        {
            var epoch = (await epochTask.ConfigureAwait(false)).AsString();
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

    private static long Parse(string? value) => long.TryParse(value, out var n) ? n : 0;

    private void OnConnectionStateChanged(RedisConnectionStateChangedArguments e)
    {
        _quotas.IsShared = e.IsConnected;
        if (e.IsConnected)
        {
            LogShared(_logger);
        }
        else
        {
            LogLost(_logger);
        }
    }

    /// <summary>Degraded (not unhealthy) while Redis is configured but unreachable: quotas then hold per replica.</summary>
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        => Task.FromResult(_client is null ? HealthCheckResult.Healthy("Quotas are counted per replica (no Redis configured).")
            : _client.IsConnected ? HealthCheckResult.Healthy("Quotas are shared through Redis.")
            : HealthCheckResult.Degraded("Redis unreachable: quotas are counted per replica until it is back."));

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        if (_client is not null)
        {
            _client.OnConnectionStateChanged -= OnConnectionStateChanged;
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
        if (_ownsClient && _client is not null)
        {
            await _client.DisposeAsync().ConfigureAwait(false);
        }
    }

    private sealed class Push(QuotaCounter counter, long tokens, long requests)
    {
        public QuotaCounter Counter { get; } = counter;
        public long Tokens { get; } = tokens;
        public long Requests { get; } = requests;
        public Task<RedisResult>? Reply { get; set; }
    }

    [LoggerMessage(1601, LogLevel.Information, "No Redis configured (ConnectionStrings:redis): consumer quotas are counted per replica.")]
    private static partial void LogLocal(ILogger logger);

    [LoggerMessage(1602, LogLevel.Warning, "Redis lost: consumer quotas are counted per replica until it is back.")]
    private static partial void LogLost(ILogger logger);

    [LoggerMessage(1603, LogLevel.Information, "Redis connected: consumer quotas are shared across replicas.")]
    private static partial void LogShared(ILogger logger);

    [LoggerMessage(1604, LogLevel.Warning, "Synchronising consumer quotas with Redis failed; retrying every interval, admitting on local counts meanwhile.")]
    private static partial void LogSyncFailed(ILogger logger);

    [LoggerMessage(1605, LogLevel.Warning, "Redis lost the consumer quota counts (restart or flush): pushing this replica's counts of the current minute again.")]
    private static partial void LogDataLost(ILogger logger);
}
