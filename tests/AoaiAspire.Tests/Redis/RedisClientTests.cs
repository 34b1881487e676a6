using System.Collections.Concurrent;
using System.Text;
using AoaiAspire.Backends.Redis;
using AoaiAspire.Tests.Common;

namespace AoaiAspire.Tests.Redis;

public sealed class RedisClientTests : IClassFixture<RedisServerFixture>, IAsyncLifetime
{
    private readonly RedisServerFixture _server;
    private RedisClient _client = null!;

    public RedisClientTests(RedisServerFixture server) => _server = server;

    public async Task InitializeAsync() => _client = await RedisTestClient.ConnectAsync(_server.ConnectionString);

    public async Task DisposeAsync() => await _client.DisposeAsync();

    [Fact]
    public async Task ConcurrentIncrementsFromManyTasksAreAllCounted()
    {
        const int Tasks = 50;
        const int PerTask = 200;
        var key = Key();

        var workers = Enumerable.Range(0, Tasks).Select(_ => Task.Run(async () =>
        {
            var pending = new Task<long>[PerTask];
            for (var i = 0; i < PerTask; i++)
            {
                pending[i] = _client.IncrementByAsync(key);
            }

            return await Task.WhenAll(pending);
        }));
        var results = (await Task.WhenAll(workers)).SelectMany(r => r).ToArray();

        Assert.Equal(Tasks * PerTask, long.Parse(await _client.GetStringAsync(key) ?? "0"));
        // Every reply went to its own caller: each intermediate count was seen exactly once.
        Assert.Equal(Enumerable.Range(1, Tasks * PerTask).Select(i => (long)i), results.Order());
    }

    [Fact]
    public async Task SetWithPxExpiresTheKey()
    {
        var key = Key();

        Assert.True(await _client.SetAsync(key, "v", TimeSpan.FromMilliseconds(200)));
        var ttl = (await _client.ExecuteAsync("PTTL", key)).AsInt64();
        Assert.InRange(ttl, 1, 200);

        await RedisTestClient.WaitUntilAsync(() => _client.GetStringAsync(key).GetAwaiter().GetResult() is null, "the key to expire");
    }

    [Fact]
    public async Task SetHonoursNxAndXx()
    {
        var key = Key();

        Assert.False(await _client.SetAsync(key, "x", condition: RedisSetCondition.IfExists));
        Assert.True(await _client.SetAsync(key, "first", condition: RedisSetCondition.IfNotExists));
        Assert.False(await _client.SetAsync(key, "second", condition: RedisSetCondition.IfNotExists));
        Assert.True(await _client.SetAsync(key, "third", condition: RedisSetCondition.IfExists));
        Assert.Equal("third", await _client.GetStringAsync(key));
    }

    [Fact]
    public async Task StringsBytesAndMissingKeysRoundTrip()
    {
        var (a, b, missing) = (Key(), Key(), Key());
        var bytes = new byte[] { 0, 255, 13, 10, 42 };

        await _client.SetAsync(a, "h\u00e9llo \U0001F600");
        await _client.SetAsync(b, bytes);

        Assert.Equal("h\u00e9llo \U0001F600", await _client.GetStringAsync(a));
        Assert.Equal(bytes, await _client.GetAsync(b));
        Assert.Null(await _client.GetAsync(missing));
        var many = await _client.GetManyAsync([a, missing, b]);
        Assert.Equal(Encoding.UTF8.GetBytes("h\u00e9llo \U0001F600"), many[0]);
        Assert.Null(many[1]);
        Assert.Equal(bytes, many[2]);
        Assert.Equal(2, await _client.DeleteAsync([a, b, missing]));
        Assert.All(await _client.GetManyStringsAsync([a, b]), Assert.Null);
    }

    [Fact]
    public async Task LargeValuesRoundTripWhileOtherCommandsInterleave()
    {
        var key = Key();
        var value = new byte[3 * 1024 * 1024];
        new Random(11).NextBytes(value);

        var set = _client.SetAsync(key, value);
        var others = Enumerable.Range(0, 100).Select(i => _client.ExecuteAsync("ECHO", i.ToString())).ToArray();
        Assert.True(await set);
        var echoed = await Task.WhenAll(others);

        Assert.Equal(value, await _client.GetAsync(key));
        Assert.Equal(Enumerable.Range(0, 100).Select(i => i.ToString()), echoed.Select(e => e.AsString()));
    }

    [Fact]
    public async Task ExpireSetsATimeToLive()
    {
        var key = Key();
        Assert.False(await _client.ExpireAsync(key, TimeSpan.FromSeconds(10)));

        await _client.SetAsync(key, "v");
        Assert.True(await _client.ExpireAsync(key, TimeSpan.FromSeconds(10)));

        Assert.InRange((await _client.ExecuteAsync("PTTL", key)).AsInt64(), 1, 10_000);
    }

    [Fact]
    public async Task HashSetAndGetAllRoundTrip()
    {
        var key = Key();

        var added = await _client.HashSetAsync(key, new Dictionary<string, string> { ["state"] = "healthy", ["latencyMs"] = "12" });

        Assert.Equal(2, added);
        var all = await _client.HashGetAllAsync(key);
        Assert.Equal("healthy", all["state"]);
        Assert.Equal("12", all["latencyMs"]);
        Assert.Empty(await _client.HashGetAllAsync(Key()));
    }

    [Fact]
    public async Task ScriptRunsAndIsReloadedAfterScriptFlush()
    {
        var script = new RedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1]) * 2");
        var key = Key();

        await _client.ExecuteAsync("SCRIPT", "FLUSH");
        Assert.Equal(10, (await _client.EvaluateAsync(script, [key], [5])).AsInt64());

        // Cached by the EVAL fallback: the server now knows the SHA.
        var exists = (await _client.ExecuteAsync("SCRIPT", "EXISTS", script.Sha1)).AsArray()!;
        Assert.Equal(1, exists[0].AsInt64());
        Assert.Equal(14, (await _client.EvaluateAsync(script, [key], [2])).AsInt64());

        await _client.ExecuteAsync("SCRIPT", "FLUSH");
        Assert.Equal(16, (await _client.EvaluateAsync(script, [key], [1])).AsInt64());
    }

    [Fact]
    public async Task ScriptReturningNestedTablesIsParsed()
    {
        var script = new RedisScript("return {1, 'two', {3, false}, redis.status_reply('FINE')}");

        var items = (await _client.EvaluateAsync(script, [], [])).AsArray()!;

        Assert.Equal(1, items[0].AsInt64());
        Assert.Equal("two", items[1].AsString());
        var nested = items[2].AsArray()!;
        Assert.Equal(3, nested[0].AsInt64());
        Assert.True(nested[1].IsNull);
        Assert.Equal("FINE", items[3].AsString());
    }

    [Fact]
    public async Task ServerErrorSurfacesAsRedisServerExceptionAndTheConnectionKeepsWorking()
    {
        var key = Key();
        await _client.SetAsync(key, "not a number");

        var ex = await Assert.ThrowsAsync<RedisServerException>(() => _client.IncrementByAsync(key));
        Assert.Equal("ERR", ex.ErrorCode);
        Assert.Contains("not an integer", ex.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<RedisServerException>(() => _client.ExecuteAsync("NOSUCHCOMMAND"));

        Assert.Equal("not a number", await _client.GetStringAsync(key));
    }

    [Fact]
    public async Task PingAnswers()
    {
        var elapsed = await _client.PingAsync();
        Assert.True(elapsed >= TimeSpan.Zero);
        Assert.Equal("PONG", (await _client.ExecuteAsync("PING")).AsString());
    }

    [Fact]
    public async Task ScanFindsEveryMatchingKey()
    {
        var prefix = Key();
        var keys = Enumerable.Range(0, 30).Select(i => $"{prefix}:{i}").ToHashSet();
        await Task.WhenAll(keys.Select(k => _client.SetAsync(k, "v")));

        var found = new HashSet<string>();
        await foreach (var key in _client.ScanAsync($"{prefix}:*", pageSize: 7))
        {
            found.Add(key);
        }

        Assert.Equal(keys, found);
    }

    [Fact]
    public async Task MessagePublishedOnOneConnectionReachesASubscriberOnAnother()
    {
        await using var publisher = await RedisTestClient.ConnectAsync(_server.ConnectionString);
        var channel = Key();
        var received = new TaskCompletionSource<(string Channel, string Payload)>(TaskCreationOptions.RunContinuationsAsynchronously);

        await using var subscription = await _client.SubscribeAsync(channel, (ch, payload) => received.TrySetResult((ch, Encoding.UTF8.GetString(payload.Span))));
        var receivers = await publisher.PublishAsync(channel, "backend eastus throttled");

        Assert.Equal(1, receivers);
        Assert.Equal((channel, "backend eastus throttled"), await received.Task.WithDeadline("the message"));
    }

    [Fact]
    public async Task PatternSubscriptionReceivesMatchingChannelsAndUnsubscribeStopsDelivery()
    {
        var prefix = Key();
        var received = new ConcurrentQueue<string>();
        var subscription = await _client.SubscribePatternAsync($"{prefix}:*", (ch, payload) => received.Enqueue($"{ch}={Encoding.UTF8.GetString(payload.Span)}"));

        Assert.Equal(1, await _client.PublishAsync($"{prefix}:a", "1"));
        Assert.Equal(0, await _client.PublishAsync($"other:{prefix}", "2"));
        await RedisTestClient.WaitUntilAsync(() => received.Count == 1, "the pattern message");

        await subscription.DisposeAsync();
        await RedisTestClient.WaitUntilAsync(() => _client.PublishAsync($"{prefix}:b", "3").GetAwaiter().GetResult() == 0, "the unsubscribe");
        Assert.Equal([$"{prefix}:a=1"], received);
    }

    [Fact]
    public async Task CommandBlockedPastSyncTimeoutFailsWithTimeoutAndLaterRepliesStayPaired()
    {
        var options = _server.ConnectionString.Replace("syncTimeout=5000", "syncTimeout=300", StringComparison.Ordinal);
        await using var client = await RedisTestClient.ConnectAsync(options);
        var key = Key();

        // BLPOP blocks the shared connection until a push; the caller gives up after syncTimeout.
        var blocked = client.ExecuteAsync("BLPOP", key, 0);
        await Assert.ThrowsAsync<RedisTimeoutException>(() => blocked);

        // Unblock it: the late BLPOP reply must be matched to the abandoned command, not to GET.
        await _client.ExecuteAsync("RPUSH", key, "item");
        await _client.SetAsync(key + ":x", "value");
        Assert.Equal("value", await client.GetStringAsync(key + ":x"));
    }

    [Fact]
    public async Task DisposeFailsCommandsInFlight()
    {
        var client = await RedisTestClient.ConnectAsync(_server.ConnectionString);
        var blocked = client.ExecuteAsync("BLPOP", Key(), 0);

        await client.DisposeAsync();

        var ex = await Assert.ThrowsAnyAsync<Exception>(() => blocked);
        Assert.True(ex is ObjectDisposedException or OperationCanceledException, ex.GetType().Name);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => client.GetAsync("k"));
        Assert.False(client.IsConnected);
    }

    private static string Key() => "test:" + Guid.NewGuid().ToString("N");
}
