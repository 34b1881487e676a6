using AoaiAspire.Backends.Redis;
using Microsoft.Extensions.Configuration;

namespace AoaiAspire.Tests.Redis;

public sealed class RedisConnectionOptionsTests
{
    [Theory]
    [InlineData("localhost", "localhost:6379", null, null, false, 5000, 5000, 0)]
    [InlineData("localhost:6380", "localhost:6380", null, null, false, 5000, 5000, 0)]
    [InlineData("cache.example:6380,password=p@ss=word,ssl=True,abortConnect=False", "cache.example:6380", null, "p@ss=word", true, 5000, 5000, 0)]
    [InlineData("h1:1,h2:2,user=gw,password=pw,connectTimeout=250,syncTimeout=1500,defaultDatabase=3", "h1:1,h2:2", "gw", "pw", false, 250, 1500, 3)]
    [InlineData("cache.example,ssl=true", "cache.example:6380", null, null, true, 5000, 5000, 0)]
    [InlineData("[::1]:7000,allowAdmin=true,asyncTimeout=10", "[::1]:7000", null, null, false, 5000, 5000, 0)]
    [InlineData(" h:1 , PASSWORD = x ,, SyncTimeout=10", "h:1", null, "x", false, 5000, 10, 0)]
    public void Parse_ValidConnectionString_ReadsEverySetting(
        string connectionString, string endPoints, string? user, string? password, bool ssl, int connectMs, int syncMs, int database)
    {
        var options = RedisConnectionOptions.Parse(connectionString);

        Assert.Equal(endPoints, string.Join(',', options.EndPoints));
        Assert.Equal(user, options.User);
        Assert.Equal(password, options.Password);
        Assert.Equal(ssl, options.Ssl);
        Assert.Equal(TimeSpan.FromMilliseconds(connectMs), options.ConnectTimeout);
        Assert.Equal(TimeSpan.FromMilliseconds(syncMs), options.SyncTimeout);
        Assert.Equal(database, options.DefaultDatabase);
    }

    [Theory]
    [InlineData("h:1,ssl=yes", "ssl")]
    [InlineData("h:1,abortConnect=0", "abortConnect")]
    [InlineData("h:1,connectTimeout=fast", "connectTimeout")]
    [InlineData("h:1,syncTimeout=-5", "syncTimeout")]
    [InlineData("h:1,syncTimeout=0", "syncTimeout")]
    [InlineData("h:1,defaultDatabase=x", "defaultDatabase")]
    [InlineData("h:99999", "h:99999")]
    [InlineData("h:port", "h:port")]
    [InlineData("password=x", "no host")]
    [InlineData("", "no host")]
    public void Parse_BadValue_ThrowsFormatExceptionNamingTheKey(string connectionString, string named)
    {
        var ex = Assert.Throws<FormatException>(() => RedisConnectionOptions.Parse(connectionString));
        Assert.Contains(named, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ToString_WithPassword_NeverContainsIt()
    {
        var options = RedisConnectionOptions.Parse("h:1,user=gw,password=hunter2-secret,ssl=true");

        var text = options.ToString();

        Assert.DoesNotContain("hunter2-secret", text, StringComparison.Ordinal);
        Assert.Contains("password=*****", text, StringComparison.Ordinal);
        Assert.Contains("h:1", text, StringComparison.Ordinal);
    }

    [Fact]
    public void FromConfiguration_ReadsConnectionStringsRedis()
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["ConnectionStrings:redis"] = "r:6379,defaultDatabase=2" })
            .Build();

        var options = RedisConnectionOptions.FromConfiguration(configuration);

        Assert.NotNull(options);
        Assert.Equal(2, options.DefaultDatabase);
        Assert.Null(RedisConnectionOptions.FromConfiguration(new ConfigurationBuilder().Build()));
    }

    [Fact]
    public void FromConfiguration_BadValue_NamesTheConfigurationKey()
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["ConnectionStrings:redis"] = "r:6379,syncTimeout=soon" })
            .Build();

        var ex = Assert.Throws<FormatException>(() => RedisConnectionOptions.FromConfiguration(configuration));
        Assert.Contains("ConnectionStrings:redis", ex.Message, StringComparison.Ordinal);
        Assert.Contains("syncTimeout", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Backoff_Next_GrowsWithJitterAndIsCapped()
    {
        var backoff = new RedisBackoff(new Random(3));
        var delays = Enumerable.Range(0, 12).Select(_ => backoff.Next()).ToArray();

        Assert.InRange(delays[0], RedisBackoff.Initial / 2, RedisBackoff.Initial);
        Assert.InRange(delays[1], RedisBackoff.Initial, RedisBackoff.Initial * 2);
        Assert.All(delays, d => Assert.InRange(d, TimeSpan.Zero, RedisBackoff.Max));
        Assert.InRange(delays[^1], RedisBackoff.Max / 2, RedisBackoff.Max);

        backoff.Reset();
        Assert.InRange(backoff.Next(), RedisBackoff.Initial / 2, RedisBackoff.Initial);
    }
}
