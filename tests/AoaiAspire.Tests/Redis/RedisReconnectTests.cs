using System.Collections.Concurrent;
using System.Text;
using AoaiAspire.Backends.Redis;
using AoaiAspire.Tests.Common;

namespace AoaiAspire.Tests.Redis;

/// <summary>Each test owns its server, because each one stops and starts it.</summary>
public sealed class RedisReconnectTests
{
    [Fact]
    public async Task ClientSurvivesAServerRestartAndResubscribesOnItsOwn()
    {
        const string Password = "restart-test-secret";
        await using var server = new RedisServerFixture { Password = Password };
        await server.StartAsync();
        var logger = new CapturingLogger();
        await using var client = RedisClient.Create(RedisConnectionOptions.Parse(server.ConnectionString), logger, TimeProvider.System);
        var changes = new ConcurrentQueue<RedisConnectionStateChangedArguments>();
        client.OnConnectionStateChanged += changes.Enqueue;
        await client.StartAsync();
        await RedisTestClient.WaitUntilAsync(() => changes.Count == 1, "the connected callback");
        var messages = new ConcurrentQueue<string>();
        await using var subscription = await client.SubscribeAsync("health", (_, payload) => messages.Enqueue(Encoding.UTF8.GetString(payload.Span)));
        await using (var publisher = await RedisTestClient.ConnectAsync(server.ConnectionString))
        {
            await publisher.PublishAsync("health", "before");
        }

        await RedisTestClient.WaitUntilAsync(() => messages.Contains("before"), "the message before the restart");

        // 1. Server gone: the client notices, reports it once, and fails commands at once.
        await server.StopAsync();
        await RedisTestClient.WaitUntilAsync(() => !client.IsConnected, "the client to notice the loss");
        await Assert.ThrowsAsync<RedisConnectionException>(() => client.GetAsync("k").WithDeadline("a fast failure"));
        await Assert.ThrowsAsync<RedisConnectionException>(() => client.PublishAsync("health", "lost").WithDeadline("a fast failure"));
        await RedisTestClient.WaitUntilAsync(() => changes.Count == 2, "the lost callback");

        // 2. Server back on the same port (empty, still requiring the password): the client
        //    reconnects and authenticates by itself.
        await server.StartAsync();
        await RedisTestClient.WaitUntilAsync(() => client.IsConnected, "the client to reconnect");
        Assert.Equal("PONG", (await client.ExecuteAsync("PING")).AsString());

        // 3. The subscription made before the restart delivers again, without resubscribing by hand.
        await using (var publisher = await RedisTestClient.ConnectAsync(server.ConnectionString))
        {
            Assert.Equal(1, await publisher.PublishAsync("health", "after"));
        }

        await RedisTestClient.WaitUntilAsync(() => messages.Contains("after"), "the message after the restart");
        await RedisTestClient.WaitUntilAsync(() => changes.Count == 3, "the reconnected callback");
        Assert.Equal([true, false, true], changes.Select(c => c.IsConnected));
        Assert.NotNull(changes.ElementAt(1).Reason);

        // One loss and one recovery logged for the whole outage, whatever the number of retries.
        Assert.Equal(1, logger.Count(4102));
        Assert.Equal(1, logger.Count(4103));
        Assert.DoesNotContain(logger.Entries, e => e.Message.Contains(Password, StringComparison.Ordinal));
    }

    [Fact]
    public async Task PubSubConnectionKilledAloneIsReestablishedWithItsSubscriptions()
    {
        await using var server = new RedisServerFixture();
        await server.StartAsync();
        await using var client = await RedisTestClient.ConnectAsync(server.ConnectionString);
        await using var admin = await RedisTestClient.ConnectAsync(server.ConnectionString);
        var messages = new ConcurrentQueue<string>();
        await using var subscription = await client.SubscribePatternAsync("backend:*", (channel, _) => messages.Enqueue(channel));

        Assert.Equal(1, (await admin.ExecuteAsync("CLIENT", "KILL", "TYPE", "pubsub")).AsInt64());

        // Resubscribed by itself: eventually a publish reaches it again.
        await RedisTestClient.WaitUntilAsync(
            () => admin.PublishAsync("backend:eastus", "x").GetAwaiter().GetResult() == 1,
            "the pattern subscription to be re-made");
        await RedisTestClient.WaitUntilAsync(() => messages.Contains("backend:eastus"), "the message");
        await RedisTestClient.WaitUntilAsync(() => client.IsConnected, "the client to report connected");
        Assert.Equal("PONG", (await client.ExecuteAsync("PING")).AsString());
    }

    [Fact]
    public async Task ClientStartedWhileTheServerIsDownConnectsWhenItComesUp()
    {
        await using var server = new RedisServerFixture();
        await server.StartAsync();
        await server.StopAsync();
        await using var client = RedisTestClient.Create(server.ConnectionString);
        var connected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        client.OnConnectionStateChanged += change =>
        {
            if (change.IsConnected)
            {
                connected.TrySetResult();
            }
        };

        await client.StartAsync();

        Assert.False(client.IsConnected);
        await Assert.ThrowsAsync<RedisConnectionException>(() => client.SetAsync("k", "v").WithDeadline("a fast failure"));

        await server.StartAsync();
        await connected.Task.WaitAsync(RedisTestClient.Deadline);
        Assert.True(client.IsConnected);
        Assert.True(await client.SetAsync("k", "v"));
    }

    [Fact]
    public async Task SubscriptionMadeWhileDisconnectedIsEstablishedOnConnect()
    {
        await using var server = new RedisServerFixture();
        await server.StartAsync();
        await server.StopAsync();
        await using var client = RedisTestClient.Create(server.ConnectionString);
        await client.StartAsync();
        var received = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);

        await using var subscription = await client.SubscribeAsync("late", (_, payload) => received.TrySetResult(Encoding.UTF8.GetString(payload.Span)));
        await server.StartAsync();
        await RedisTestClient.WaitUntilAsync(() => client.IsConnected, "the client to connect");

        Assert.Equal(1, await client.PublishAsync("late", "hello"));
        Assert.Equal("hello", await received.Task.WithDeadline("the message"));
    }

    [Fact]
    public async Task CommandsInFlightWhenTheServerDiesFailWithConnectionException()
    {
        await using var server = new RedisServerFixture();
        await server.StartAsync();
        await using var client = await RedisTestClient.ConnectAsync(server.ConnectionString);
        var blocked = client.ExecuteAsync("BLPOP", "never", 0);

        await server.StopAsync();

        await Assert.ThrowsAsync<RedisConnectionException>(() => blocked.WithDeadline("the in-flight command to fail"));
    }
}
