using System.Collections.Concurrent;
using AoaiAspire.Backends.State;
using AoaiAspire.Tests.Common;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace AoaiAspire.Tests.Redis;

/// <summary>The one Redis connection (SharedRedis over StackExchange.Redis) across outages. Each test owns its server, because each one stops and starts it.</summary>
public sealed class RedisReconnectTests
{
    private static RedisBackendStateStore Store(TestRedis redis) => new(redis.Shared, TimeProvider.System, NullLogger<RedisBackendStateStore>.Instance);

    private static BackendEvent Throttle(string origin, string backend) => new(BackendEventKind.Throttled, backend, DateTimeOffset.UtcNow.AddMinutes(1).ToUnixTimeMilliseconds(), origin) { Deployment = "chat" };

    [Fact]
    public async Task ConnectionSurvivesAServerRestartReportsEachTransitionOnceAndResubscribes()
    {
        await using var server = new RedisServerFixture { Password = "restart-test-secret" };
        await server.StartAsync();
        await using var redis = await TestRedis.ConnectAsync(server.ConnectionString);
        var changes = new ConcurrentQueue<bool>();
        redis.Shared.ConnectionChanged += changes.Enqueue;
        await using var store = Store(redis);
        var received = new ConcurrentQueue<string>();
        store.EventReceived += e => received.Enqueue(e.Backend);
        await store.StartAsync(CancellationToken.None);
        await using (var peer = await TestRedis.ConnectAsync(server.ConnectionString))
        {
            await using var peerStore = Store(peer);
            await peerStore.PublishAsync(Throttle(peerStore.InstanceId, "before"), CancellationToken.None);
        }
        await Wait.UntilAsync(() => received.Contains("before"), because: "the event before the restart");

        // 1. Server gone: noticed once; commands fail at once instead of waiting in a backlog.
        await server.StopAsync();
        await Wait.UntilAsync(() => !redis.Shared.IsConnected, TimeSpan.FromSeconds(30), "the loss to be noticed");
        await Assert.ThrowsAsync<RedisConnectionException>(() => redis.Database.StringGetAsync("k").WaitAsync(TimeSpan.FromSeconds(30)));

        // 2. Back on the same port (empty, still requiring the password): reconnects and authenticates by itself.
        await server.StartAsync();
        await Wait.UntilAsync(() => redis.Shared.IsConnected, TimeSpan.FromSeconds(30), "the reconnection");

        // 3. The subscription made before the restart delivers again without resubscribing by hand.
        await using (var peer = await TestRedis.ConnectAsync(server.ConnectionString))
        {
            await using var peerStore = Store(peer);
            await peerStore.PublishAsync(Throttle(peerStore.InstanceId, "after"), CancellationToken.None);
        }
        await Wait.UntilAsync(() => received.Contains("after"), because: "the event after the restart");
        Assert.Equal([false, true], changes);
    }

    [Fact]
    public async Task PubSubConnectionKilledAloneIsReestablishedWithItsSubscription()
    {
        await using var server = new RedisServerFixture();
        await server.StartAsync();
        await using var redis = await TestRedis.ConnectAsync(server.ConnectionString);
        await using var admin = await TestRedis.ConnectAsync(server.ConnectionString + ",allowAdmin=true");
        await using var store = Store(redis);
        var received = new ConcurrentQueue<string>();
        store.EventReceived += e => received.Enqueue(e.Backend);
        await store.StartAsync(CancellationToken.None);

        Assert.True((long)await admin.Database.ExecuteAsync("CLIENT", "KILL", "TYPE", "pubsub") >= 1);

        var payload = Throttle("someone-else", "eastus").ToJson();
        await Wait.UntilAsync(async () => await admin.Database.PublishAsync(RedisChannel.Literal(SharedStateNames.EventsChannel), payload) >= 1
                && received.Contains("eastus"), TimeSpan.FromSeconds(30), "the subscription to be re-made and deliver");
        await Wait.UntilAsync(() => redis.Shared.IsConnected, because: "the connection to report connected");
    }

    [Fact]
    public async Task ConnectionStartedWhileTheServerIsDownConnectsAndSubscribesWhenItComesUp()
    {
        await using var server = new RedisServerFixture();
        await server.StartAsync();
        await server.StopAsync();
        await using var redis = TestRedis.Create(server.ConnectionString);
        await using var store = Store(redis);
        var received = new ConcurrentQueue<string>();
        store.EventReceived += e => received.Enqueue(e.Backend);
        await store.StartAsync(CancellationToken.None); // never fails because Redis is down

        Assert.False(store.IsConnected);
        await Assert.ThrowsAsync<RedisConnectionException>(() => redis.Database.StringSetAsync("k", "v").WaitAsync(TimeSpan.FromSeconds(30)));

        await server.StartAsync();
        await Wait.UntilAsync(() => store.IsConnected, TimeSpan.FromSeconds(30), "the connection once the server is up");
        Assert.True(await redis.Database.StringSetAsync("k", "v"));
        await using var peer = await TestRedis.ConnectAsync(server.ConnectionString);
        await using var peerStore = Store(peer);
        await Wait.UntilAsync(async () =>
        {
            await peerStore.PublishAsync(Throttle(peerStore.InstanceId, "late-" + Guid.NewGuid().ToString("N")), CancellationToken.None);
            return !received.IsEmpty;
        }, because: "the subscription made once connected to deliver");
    }
}
