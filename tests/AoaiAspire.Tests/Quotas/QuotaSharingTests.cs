using AoaiAspire.Backends.Redis;
using AoaiAspire.Backends.State;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Testing;
using AoaiAspire.Gateway.Configuration;
using AoaiAspire.Gateway.Quotas;
using AoaiAspire.Tests.Common;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using HealthStatus = Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus;
using Xunit.Abstractions;

namespace AoaiAspire.Tests.Quotas;

/// <summary>Several quota trackers ("replicas") on one real redis-server share one budget.</summary>
public sealed class QuotaSharingTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Limit = 10_000;
    private const int RequestTokens = 100;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    // Frozen in the middle of a minute, so a run never crosses a window boundary; the sync loops run on real time.
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 1, 12, 0, 30, TimeSpan.Zero));
    private readonly RedisServerFixture _redis = new();
    private readonly List<Replica> _replicas = [];

    public Task InitializeAsync() => _redis.StartAsync();

    public async Task DisposeAsync()
    {
        foreach (var replica in _replicas)
        {
            await replica.DisposeAsync();
        }
        await _redis.DisposeAsync();
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public async Task ReplicasAdmittingAsFastAsTheyCanShareOneTokenBudget(int replicaCount)
    {
        var quotaOptions = new ConsumerQuotaOptions(); // SyncInterval 100 ms, MaxUnsyncedShare 0.01
        var replicas = await StartReplicasAsync(replicaCount, quotaOptions);
        var admitted = new long[replicaCount];
        var refused = new long[replicaCount];
        using var stop = new CancellationTokenSource();

        // Three callers per replica, no pause between requests.
        var callers = Enumerable.Range(0, replicaCount * 3).Select(i => Task.Run(async () =>
        {
            var r = i % replicaCount;
            while (!stop.IsCancellationRequested)
            {
                if (replicas[r].Quotas.TryAdmit("team", "chat", RequestTokens).Admitted)
                {
                    Interlocked.Increment(ref admitted[r]);
                }
                else
                {
                    Interlocked.Increment(ref refused[r]);
                }
                await Task.Yield();
            }
        })).ToList();

        // Done when every replica sees the budget spent: from then on none can admit anything.
        await Wait.UntilAsync(() => replicas.All(r => UsedTokens(r) + RequestTokens > Limit), Deadline, "every replica sees the budget spent");
        await stop.CancelAsync();
        await Task.WhenAll(callers);

        var total = admitted.Sum() * RequestTokens;
        var overshoot = (double)(total - Limit) / Limit;
        output.WriteLine($"replicas={replicaCount} syncInterval={quotaOptions.SyncInterval.TotalMilliseconds}ms maxUnsyncedShare={quotaOptions.MaxUnsyncedShare} admitted={total} tokens ({string.Join(" + ", admitted.Select(a => a * RequestTokens))}) overshoot={overshoot:P2} refused={refused.Sum()} syncs={string.Join("/", replicas.Select(r => r.Synchronizer.Syncs))}");

        Assert.All(admitted, a => Assert.True(a > 0, "every replica admitted some"));
        // The documented bound: each other replica's admissions during up to two sync intervals (its push, then our read),
        // at most MaxUnsyncedShare of the limit per interval, or one request when that is less.
        var bound = Limit + ((replicaCount - 1) * 2 * Math.Max(Limit * quotaOptions.MaxUnsyncedShare, RequestTokens));
        Assert.InRange(total, Limit * 0.9, bound);

        // What Redis holds is exactly what was admitted: no charge lost or counted twice.
        foreach (var replica in replicas)
        {
            await replica.Synchronizer.StopAsync(CancellationToken.None);
            Assert.True(await replica.Synchronizer.SyncOnceAsync(CancellationToken.None));
        }
        Assert.Equal(total, await RedisTokensAsync(replicas[0]));
    }

    [Fact]
    public async Task AdmissionContinuesWithoutRedisAndTheSharedCountResumesAfterItsRestart()
    {
        // No unsynced cap here: this test is about losing and regaining Redis, not about bursts.
        var replicas = await StartReplicasAsync(2, new ConsumerQuotaOptions { MaxUnsyncedShare = 1 });
        var (a, b) = (replicas[0], replicas[1]);

        Assert.Equal(30, Admit(a, 30));
        await Wait.UntilAsync(() => UsedTokens(b) == 3_000, Deadline, "replica B learns what A spent");

        var restoredLogs = Count(a.Logger, 1603);
        await _redis.StopAsync();
        await Wait.UntilAsync(() => !a.Quotas.IsShared && !b.Quotas.IsShared && Count(a.Logger, 1602) > 0, Deadline, "both replicas notice Redis is gone");

        // Each goes on alone, on what it last knew plus its own spending.
        Assert.Equal(20, Admit(a, 20));
        Assert.Equal(10, Admit(b, 10));
        Assert.Equal(5_000, UsedTokens(a));
        Assert.Equal(4_000, UsedTokens(b));
        Assert.Equal(1, Count(a.Logger, 1602));
        Assert.Equal(HealthStatus.Degraded, await RedisHealthAsync(a));

        await _redis.RestartAsync(); // an empty dataset
        await Wait.UntilAsync(() => UsedTokens(a) == 6_000 && UsedTokens(b) == 6_000, Deadline, "both replicas share the count again, Redis's lost data pushed back");
        Assert.Equal(6_000, await RedisTokensAsync(a));
        await Wait.UntilAsync(() => Count(a.Logger, 1603) > restoredLogs, Deadline, "the recovery is logged");
        Assert.Equal(1, Count(a.Logger, 1602)); // the loss, once
        Assert.Equal(restoredLogs + 1, Count(a.Logger, 1603));
        Assert.Equal(HealthStatus.Healthy, await RedisHealthAsync(a));

        // One budget again: B spends the rest, then A is refused.
        Assert.Equal(40, Admit(b, 50));
        await Wait.UntilAsync(() => UsedTokens(a) == Limit, Deadline, "replica A learns what B spent");
        var refused = a.Quotas.TryAdmit("team", "chat", RequestTokens);
        Assert.False(refused.Admitted);
        Assert.Equal(0, refused.RemainingTokens);
    }

    [Fact]
    public async Task FailClosedRefusesWhatCannotBeCountedWhileRedisIsDownAndAConsumerMayOptOut()
    {
        var replicas = await StartReplicasAsync(2, new ConsumerQuotaOptions { MaxUnsyncedShare = 1, WhenRedisDown = QuotaRedisDownMode.FailClosed },
            options => options.Consumers["batch"] = new ConsumerOptions { Keys = ["batch-key-123456"], TokensPerMinute = Limit, QuotaWhenRedisDown = QuotaRedisDownMode.FailOpen });
        var a = replicas[0];
        Assert.True(a.Quotas.TryAdmit("team", "chat", RequestTokens).Admitted);

        await _redis.StopAsync();
        await Wait.UntilAsync(() => a.Quotas.SharedStoreDown, Deadline, "replica A notices Redis is gone");

        var refused = a.Quotas.TryAdmit("team", "chat", RequestTokens);
        Assert.False(refused.Admitted);
        Assert.True(refused.Uncountable);
        Assert.True(refused.RetryAfter > TimeSpan.Zero);
        Assert.True(a.Quotas.TryAdmit("batch", "chat", RequestTokens).Admitted, "a consumer that fails open still counts alone");
        Assert.Equal(1, a.Logger.Collector.GetSnapshot().Count(e => e.Id.Id == 1602 && e.Message.Contains("refused", StringComparison.Ordinal)));

        await _redis.RestartAsync();
        await Wait.UntilAsync(() => !a.Quotas.SharedStoreDown, Deadline, "replica A shares the counts again");
        Assert.True(a.Quotas.TryAdmit("team", "chat", RequestTokens).Admitted);
    }

    [Fact]
    public async Task CorrectionsReachTheOtherReplicas()
    {
        var replicas = await StartReplicasAsync(2, new ConsumerQuotaOptions { MaxUnsyncedShare = 1 });
        var decision = replicas[0].Quotas.TryAdmit("team", "chat", 4_000);
        Assert.True(decision.Admitted);
        await Wait.UntilAsync(() => UsedTokens(replicas[1]) == 4_000, Deadline, "B sees the estimate");

        replicas[0].Quotas.Correct(decision.Reservation, 1_500);

        await Wait.UntilAsync(() => UsedTokens(replicas[1]) == 1_500, Deadline, "B sees the correction");
    }

    private static int Count(FakeLogger logger, int eventId) => logger.Collector.GetSnapshot().Count(e => e.Id.Id == eventId);

    private static int Admit(Replica replica, int count)
    {
        var admitted = 0;
        for (var i = 0; i < count; i++)
        {
            admitted += replica.Quotas.TryAdmit("team", "chat", RequestTokens).Admitted ? 1 : 0;
        }
        return admitted;
    }

    private static long UsedTokens(Replica replica)
        => replica.Quotas.TryGetUsage("team", null, out var usage) ? usage.UsedTokens : -1;

    private async Task<long> RedisTokensAsync(Replica replica)
    {
        var key = SharedStateNames.QuotaKey("team", SharedStateNames.QuotaAllDeployments, replica.Quotas.CurrentWindow(), SharedStateNames.QuotaTokens);
        await using var redis = await TestRedis.ConnectAsync(_redis.ConnectionString);
        return (long?)await redis.Database.StringGetAsync(key) ?? 0;
    }

    /// <summary>The connection's one health check (Aspire's), as <c>/health</c> aggregates it.</summary>
    private static async Task<HealthStatus> RedisHealthAsync(Replica replica)
        => (await replica.Redis.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(r => r.Name == SharedRedis.HealthCheckName)).Status;

    private async Task<List<Replica>> StartReplicasAsync(int count, ConsumerQuotaOptions quotaOptions, Action<GatewayOptions>? configure = null)
    {
        var options = new GatewayOptions();
        options.Consumers["team"] = new ConsumerOptions { Keys = ["test-key-123456"], TokensPerMinute = Limit };
        configure?.Invoke(options);
        var started = new List<Replica>();
        for (var i = 0; i < count; i++)
        {
            var quotas = new ConsumerQuotas(options, quotaOptions, _time);
            var redis = await TestRedis.ConnectAsync(_redis.ConnectionString);
            var logger = new FakeLogger();
            var synchronizer = new QuotaSynchronizer(quotas, new RedisQuotaCounts(redis.Shared), quotaOptions, TimeProvider.System, logger);
            var replica = new Replica(quotas, synchronizer, logger, redis);
            _replicas.Add(replica);
            started.Add(replica);
            await synchronizer.StartAsync(CancellationToken.None);
        }
        await Wait.UntilAsync(() => started.All(r => r.Synchronizer.Syncs > 0), Deadline, "every replica synchronises once");
        return started;
    }

    private sealed record Replica(ConsumerQuotas Quotas, QuotaSynchronizer Synchronizer, FakeLogger Logger, TestRedis Redis) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Synchronizer.StopAsync(CancellationToken.None);
            await Synchronizer.DisposeAsync();
            await Redis.DisposeAsync();
        }
    }
}
