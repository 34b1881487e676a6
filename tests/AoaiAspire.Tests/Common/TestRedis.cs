using AoaiAspire.Backends.Redis;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using StackExchange.Redis;

namespace AoaiAspire.Tests.Common;

/// <summary>
/// The process's Redis connection as production wires it (<see cref="SharedRedisExtensions.AddSharedRedis"/>:
/// Aspire's <c>AddRedisClient</c>, its options and health check), in a service provider of its own, for tests that
/// use the shared-state contracts without a whole host. Dispose closes the connection.
/// </summary>
internal sealed class TestRedis : IAsyncDisposable
{
    private readonly ServiceProvider _services;

    private TestRedis(ServiceProvider services)
    {
        _services = services;
        Shared = services.GetRequiredService<SharedRedis>();
    }

    public SharedRedis Shared { get; }

    public IServiceProvider Services => _services;

    public IConnectionMultiplexer Multiplexer => _services.GetRequiredService<IConnectionMultiplexer>();

    public IDatabase Database => Shared.Database;

    /// <summary>Creates the connection (not waiting for it to be up).</summary>
    public static TestRedis Create(string connectionString)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["ConnectionStrings:redis"] = connectionString });
        Assert.True(builder.AddSharedRedis(tracing: false));
        builder.Services.AddLogging();
        return new TestRedis(builder.Services.BuildServiceProvider());
    }

    /// <summary>Creates the connection and waits until commands and subscriptions work.</summary>
    public static async Task<TestRedis> ConnectAsync(string connectionString)
    {
        var redis = Create(connectionString);
        await Wait.UntilAsync(() => redis.Shared.IsConnected, TimeSpan.FromSeconds(30), "the test's Redis connection to come up");
        return redis;
    }

    public ValueTask DisposeAsync() => _services.DisposeAsync();
}
