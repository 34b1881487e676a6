using AoaiAspire.Tests.Common;
using StackExchange.Redis;

namespace AoaiAspire.Tests.Redis;

/// <summary>The connection string format README and the AppHost use, against a real redis-server with <c>requirepass</c>.</summary>
public sealed class RedisAuthTests : IClassFixture<PasswordRedisServerFixture>
{
    private readonly PasswordRedisServerFixture _server;

    public RedisAuthTests(PasswordRedisServerFixture server) => _server = server;

    [Fact]
    public async Task ConnectionWithThePasswordAuthenticatesAndWorks()
    {
        // host:port,password=… exactly as the AppHost passes ConnectionStrings__redis.
        await using var redis = await TestRedis.ConnectAsync($"127.0.0.1:{_server.Port},password={PasswordRedisServerFixture.TestPassword}");

        Assert.True(await redis.Database.StringSetAsync("auth:key", "v"));
        Assert.Equal("v", (string?)await redis.Database.StringGetAsync("auth:key"));
    }

    [Fact]
    public async Task ConnectionWithUserAndPasswordSelectsTheDatabaseAndName()
    {
        await using var redis = await TestRedis.ConnectAsync(_server.ConnectionString + ",user=default,defaultDatabase=2,name=gateway-test");

        await redis.Database.StringSetAsync("auth:db2", "v");

        var info = (string?)await redis.Database.ExecuteAsync("CLIENT", "INFO");
        Assert.Contains("db=2", info, StringComparison.Ordinal);
        Assert.Contains("name=gateway-test", info, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConnectionWithAWrongPasswordStaysDisconnectedAndFailsFast()
    {
        await using var redis = TestRedis.Create(_server.ConnectionString.Replace(PasswordRedisServerFixture.TestPassword, "wrong", StringComparison.Ordinal));
        await using var good = await TestRedis.ConnectAsync(_server.ConnectionString);

        Assert.False(redis.Shared.IsConnected);
        // Fails at once (no backlog waiting for a connection that will not come).
        await Assert.ThrowsAsync<RedisConnectionException>(() => redis.Database.StringGetAsync("auth:key").WaitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task SslAndPasswordInTheConnectionStringReachTheClientOptions()
    {
        // Not connected (no TLS server here): what matters is that the documented format is read as StackExchange.Redis reads it.
        await using var redis = TestRedis.Create($"127.0.0.1:{RedisServerFixture.GetFreePort()},password=p4ss,ssl=true,connectTimeout=200");
        var options = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions
            .GetRequiredService<Microsoft.Extensions.Options.IOptions<ConfigurationOptions>>(redis.Services).Value;

        Assert.True(options.Ssl);
        Assert.Equal("p4ss", options.Password);
        Assert.False(options.AbortOnConnectFail);
        Assert.Same(BacklogPolicy.FailFast, options.BacklogPolicy);
    }
}
