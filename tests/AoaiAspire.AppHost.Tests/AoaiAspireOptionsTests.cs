using Microsoft.Extensions.Configuration;

namespace AoaiAspire.AppHost.Tests;

public sealed class AoaiAspireOptionsTests
{
    [Fact]
    public void Read_NothingConfigured_TwoDefaultRegions()
    {
        var options = AoaiAspireOptions.Read(Configuration());

        Assert.Equal(new[] { "eastus2", "swedencentral" }, options.Regions.Select(r => r.Name));
        Assert.Equal(2, options.Gateway.Replicas);
        Assert.Equal("chat", options.Chat.DeploymentName);
    }

    [Fact]
    public void Read_RegionsConfigured_ReplaceTheDefaults()
    {
        var options = AoaiAspireOptions.Read(Configuration(("AoaiAspire:Regions:0:Name", "westus3")));

        var region = Assert.Single(options.Regions);
        Assert.Equal("westus3", region.Name);
    }

    [Fact]
    public void Read_OneModelSettingConfigured_KeepsTheOtherDefaults()
    {
        var options = AoaiAspireOptions.Read(Configuration(("AoaiAspire:Chat:SkuCapacity", "200")));

        Assert.Equal(200, options.Chat.SkuCapacity);
        Assert.Equal("gpt-4.1-mini", options.Chat.ModelName);
    }

    [Theory]
    [InlineData("AoaiAspire:Regions:0:Name", "East US")]
    [InlineData("AoaiAspire:Gateway:MaxReplicas", "1")]
    [InlineData("AoaiAspire:Embeddings:DeploymentName", "chat")]
    public void Read_BadSetting_FailsNamingTheKey(string key, string value)
    {
        var error = Assert.Throws<InvalidOperationException>(() => AoaiAspireOptions.Read(Configuration((key, value))));

        Assert.Contains(key[..key.LastIndexOf(':')], error.Message, StringComparison.Ordinal);
    }

    private static IConfiguration Configuration(params (string Key, string Value)[] settings)
        => new ConfigurationBuilder()
            .AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value)))
            .Build();
}
