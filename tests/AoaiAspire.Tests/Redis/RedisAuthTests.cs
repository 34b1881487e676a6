using AoaiAspire.Backends.Redis;
using AoaiAspire.Tests.Common;

namespace AoaiAspire.Tests.Redis;

public sealed class RedisAuthTests : IClassFixture<PasswordRedisServerFixture>
{
    private readonly PasswordRedisServerFixture _server;

    public RedisAuthTests(PasswordRedisServerFixture server) => _server = server;

    [Fact]
    public async Task ClientWithThePasswordAuthenticatesAndWorks()
    {
        await using var client = await RedisTestClient.ConnectAsync(_server.ConnectionString);

        Assert.True(await client.SetAsync("auth:key", "v"));
        Assert.Equal("v", await client.GetStringAsync("auth:key"));
    }

    [Fact]
    public async Task ClientWithUserAndPasswordAuthenticates()
    {
        await using var client = await RedisTestClient.ConnectAsync(_server.ConnectionString + ",user=default,defaultDatabase=2,name=gateway-test");

        await client.SetAsync("auth:db2", "v");

        Assert.Equal("gateway-test", (await client.ExecuteAsync("CLIENT", "GETNAME")).AsString());
        Assert.Contains("db=2", (await client.ExecuteAsync("CLIENT", "INFO")).AsString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ClientWithAWrongPasswordStaysDisconnectedAndFailsFast()
    {
        var states = 0;
        await using var client = RedisTestClient.Create(_server.ConnectionString.Replace(PasswordRedisServerFixture.TestPassword, "wrong", StringComparison.Ordinal));
        client.OnConnectionStateChanged += _ => Interlocked.Increment(ref states);

        await client.StartAsync();
        await using var good = await RedisTestClient.ConnectAsync(_server.ConnectionString);

        Assert.False(client.IsConnected);
        await Assert.ThrowsAsync<RedisConnectionException>(() => client.GetAsync("auth:key"));
        Assert.Equal(0, Volatile.Read(ref states));
    }
}
