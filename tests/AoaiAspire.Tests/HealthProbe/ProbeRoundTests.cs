using System.Collections.Concurrent;
using System.Text.Json;
using AoaiAspire.Backends.State;
using AoaiAspire.Simulator;
using AoaiAspire.Tests.Common;
using StackExchange.Redis;

namespace AoaiAspire.Tests.HealthProbe;

/// <summary>Rounds against a real redis-server and simulated accounts: what is published, and how two probes share the work.</summary>
public sealed class ProbeRoundTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>, IAsyncLifetime
{
    // Names unique to each test, so the tests sharing the server do not see each other's keys and leases.
    private readonly string _prefix = "t" + Guid.NewGuid().ToString("N")[..8] + "-";
    private SimulatorHost _simulators = null!;

    public async Task InitializeAsync() => _simulators = await SimulatorHost.StartAsync(
    [
        ProbeTestKit.Account(_prefix + "a"),
        ProbeTestKit.Account(_prefix + "b"),
        ProbeTestKit.Account(_prefix + "c", new FaultOptions { ServerErrorRate = 1 }),
    ]);

    public async Task DisposeAsync() => await _simulators.DisposeAsync();

    private AoaiAspire.Backends.Configuration.BackendDefinition[] Backends() => [.. _simulators.Accounts.Select(a => ProbeTestKit.Backend(a))];

    private Task<TestRedis> ConnectClientAsync() => TestRedis.ConnectAsync(redis.ConnectionString);

    [Fact]
    public async Task RoundPublishesEveryVerdictWithATimeToLiveAndAnEvent()
    {
        await using var storeHandle = await ProbeTestKit.ConnectedRedisStoreAsync(redis.ConnectionString);
        var store = storeHandle.Store;
        using var parts = ProbeTestKit.Create(store);
        await using var client = await ConnectClientAsync();
        var events = new ConcurrentQueue<BackendEvent>();
        await client.Shared.Subscriber.SubscribeAsync(RedisChannel.Literal(SharedStateNames.EventsChannel), (_, payload) =>
        {
            if (BackendEvent.FromJson((byte[])payload!) is { } e)
            {
                events.Enqueue(e);
            }
        });

        var result = await parts.Round.RunAsync(Backends(), CancellationToken.None);

        Assert.Equal(3, result.Probed.Count);
        Assert.Equal(3, result.Published);
        Assert.Empty(result.Skipped);
        foreach (var (name, expected) in new[] { ("a", HealthStatus.Healthy), ("b", HealthStatus.Healthy), ("c", HealthStatus.Erroring) })
        {
            var key = SharedStateNames.HealthKey(_prefix + name);
            var json = (byte[]?)await client.Database.StringGetAsync(key);
            Assert.NotNull(json);
            var stored = JsonSerializer.Deserialize(json, SharedStateJsonContext.Default.BackendHealthReport)!;
            Assert.Equal(expected, stored.Status);
            Assert.Equal(store.InstanceId, stored.Reporter);
            var ttl = (long)await client.Database.ExecuteAsync("PTTL", key);
            Assert.InRange(ttl, 1, (long)TimeSpan.FromMinutes(3).TotalMilliseconds);
        }
        await Wait.UntilAsync(() => events.Count(e => e.Kind == BackendEventKind.Health && e.Backend.StartsWith(_prefix, StringComparison.Ordinal)) == 3,
            because: "one health event per backend on " + SharedStateNames.EventsChannel);
        var erroring = events.Single(e => e.Backend == _prefix + "c");
        Assert.Equal(HealthStatus.Erroring, erroring.Health!.Status);
        Assert.Equal(store.InstanceId, erroring.Origin);
    }

    [Fact]
    public async Task TwoProbesOnOneRedisProbeEachBackendOncePerRound()
    {
        await using var storeAHandle = await ProbeTestKit.ConnectedRedisStoreAsync(redis.ConnectionString);
        var storeA = storeAHandle.Store;
        await using var storeBHandle = await ProbeTestKit.ConnectedRedisStoreAsync(redis.ConnectionString);
        var storeB = storeBHandle.Store;
        using var probeA = ProbeTestKit.Create(storeA);
        using var probeB = ProbeTestKit.Create(storeB);
        var backends = Backends();

        var results = await Task.WhenAll(probeA.Round.RunAsync(backends, CancellationToken.None), probeB.Round.RunAsync(backends, CancellationToken.None));

        foreach (var account in _simulators.Accounts)
        {
            Assert.Equal(1, account.Stats.Requests);
        }
        var probedNames = results.SelectMany(r => r.Probed.Select(p => p.Report.Backend)).Order().ToArray();
        Assert.Equal(backends.Select(b => b.Name).Order().ToArray(), probedNames);
        Assert.Equal(backends.Length, results[0].Skipped.Count + results[1].Skipped.Count);
        Assert.Empty(results[0].Skipped.Intersect(results[0].Probed.Select(p => p.Report.Backend)));
    }

    [Fact]
    public async Task OlderReportNeverOverwritesANewerOne()
    {
        await using var storeHandle = await ProbeTestKit.ConnectedRedisStoreAsync(redis.ConnectionString);
        var store = storeHandle.Store;
        using var parts = ProbeTestKit.Create(store);
        await using var client = await ConnectClientAsync();
        var backend = _prefix + "a";
        await parts.Round.RunAsync([ProbeTestKit.Backend(_simulators[backend])], CancellationToken.None);
        var newer = JsonSerializer.Deserialize((byte[]?)await client.Database.StringGetAsync(SharedStateNames.HealthKey(backend)), SharedStateJsonContext.Default.BackendHealthReport)!;

        var older = newer with { Status = HealthStatus.Unreachable, CheckedAtUnixMs = newer.CheckedAtUnixMs - 5_000, Reporter = "a-late-replica" };
        var accepted = await store.PublishHealthAsync(older, TimeSpan.FromMinutes(1), CancellationToken.None);

        Assert.False(accepted);
        var stored = JsonSerializer.Deserialize((byte[]?)await client.Database.StringGetAsync(SharedStateNames.HealthKey(backend)), SharedStateJsonContext.Default.BackendHealthReport)!;
        Assert.Equal(newer, stored);
    }

    [Fact]
    public async Task RoundWithoutRedisProbesEverythingAndPublishesNothing()
    {
        // A store whose server has never been reachable: no lease, nowhere to publish, yet every backend is probed.
        await using var storeHandle = ProbeTestKit.RedisStore($"127.0.0.1:{RedisServerFixture.GetFreePort()},connectTimeout=500");
        var store = storeHandle.Store;
        await store.StartAsync(CancellationToken.None);
        using var parts = ProbeTestKit.Create(store);

        var result = await parts.Round.RunAsync(Backends(), CancellationToken.None);

        Assert.Equal(3, result.Probed.Count);
        Assert.Equal(0, result.Published);
        Assert.All(parts.Verdicts.Snapshot(), v => Assert.False(v.Published));
        Assert.All(_simulators.Accounts, a => Assert.Equal(1, a.Stats.Requests));
    }
}
