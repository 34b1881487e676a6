using AoaiAspire.Backends.Redis;
using Microsoft.Extensions.Logging.Abstractions;

namespace AoaiAspire.Tests.Redis;

/// <summary>Creating clients and waiting on conditions (never on fixed sleeps) for the Redis tests.</summary>
internal static class RedisTestClient
{
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    public static async Task<RedisClient> ConnectAsync(string connectionString)
    {
        var client = Create(connectionString);
        await client.StartAsync();
        await WaitUntilAsync(() => client.IsConnected, "the client to connect");
        return client;
    }

    public static RedisClient Create(string connectionString) =>
        RedisClient.Create(RedisConnectionOptions.Parse(connectionString), NullLogger.Instance, TimeProvider.System);

    /// <summary>Polls <paramref name="condition"/> until true; fails with <paramref name="what"/> after the deadline.</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Deadline;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Timed out after {Deadline.TotalSeconds} s waiting for {what}.");
            }

            await Task.Delay(10);
        }
    }

    /// <summary>Awaits <paramref name="task"/> but fails the test rather than hang past the deadline.</summary>
    public static async Task<T> WithDeadline<T>(this Task<T> task, string what)
    {
        try
        {
            return await task.WaitAsync(Deadline);
        }
        catch (TimeoutException)
        {
            Assert.Fail($"Timed out after {Deadline.TotalSeconds} s waiting for {what}.");
            throw;
        }
    }
}
