using AoaiAspire.AppHost.Redis;
using AoaiAspire.AppHost.Tests.Common;

namespace AoaiAspire.AppHost.Tests;

/// <summary>The run-mode application model, built but not started.</summary>
public sealed class RunModelTests
{
    [Fact]
    public async Task LocalRunUsesThreeSimulatedRegionsAndTwoGatewayReplicas()
    {
        await using var app = await AppModel.BuildRunModeAsync();
        var model = app.Model();

        // Projects only: Aspire 13.6 adds hidden helper resources of its own (the *-rebuilder ones).
        Assert.Equal(
            new[] { "gateway", "health-probe", "sim-canadaeast", "sim-eastus", "sim-eastus2" },
            model.Resources.OfType<ProjectResource>().Select(r => r.Name).Order(StringComparer.Ordinal));
        Assert.Equal(2, model.Project("gateway").Annotations.OfType<ReplicaAnnotation>().Last().Replicas);
        var http = Assert.Single(model.Project("gateway").Annotations.OfType<EndpointAnnotation>(), e => e.Name == "http");
        Assert.True(http.IsExternal);
        Assert.Equal(5080, http.Port);
        Assert.Contains(model.Project("sim-eastus").Annotations.OfType<EndpointAnnotation>(), e => e.Name == "http");
        Assert.Single(model.Resources.OfType<IResourceWithConnectionString>(), r => r.Name == "redis");
    }

    [Fact]
    public async Task RedisProcessModeRunsRedisServerWithThePasswordOutOfItsCommandLine()
    {
        await using var app = await AppModel.BuildRunModeAsync("--AoaiAspire:Redis:Mode=Process", "--Parameters:redis-password=not-on-the-command-line");
        var redis = Assert.Single(app.Model().Resources.OfType<RedisServerResource>());

        Assert.EndsWith("redis-server", redis.Command, StringComparison.Ordinal);
        var args = await ArgumentsAsync(redis);
        Assert.Equal(redis.ConfigFile, args[0]);
        Assert.Contains("--port", args);
        Assert.DoesNotContain(args, a => a.Contains("not-on-the-command-line", StringComparison.Ordinal));
        Assert.DoesNotContain("--requirepass", args);
        Assert.Equal("{redis.bindings.tcp.host}:{redis.bindings.tcp.port},password={redis-password.value}", redis.ConnectionStringExpression.ValueExpression);
    }

    [Fact]
    public async Task RedisContainerModeUsesAddRedisWithTheSamePassword()
    {
        await using var app = await AppModel.BuildRunModeAsync("--AoaiAspire:Redis:Mode=Container");
        var redis = Assert.Single(app.Model().Resources.OfType<RedisResource>());

        Assert.Equal("redis-password", redis.PasswordParameter?.Name);
        Assert.Empty(app.Model().Resources.OfType<RedisServerResource>());
    }

    [Fact]
    public async Task UseAzureOpenAISwitchesToOneConnectionStringPerRegion()
    {
        await using var app = await AppModel.BuildRunModeAsync(
            "--AoaiAspire:UseAzureOpenAI=true",
            "--ConnectionStrings:aoai-eastus2=Endpoint=https://example-eastus2.openai.azure.com/;Key=k1",
            "--ConnectionStrings:aoai-swedencentral=Endpoint=https://example-swedencentral.openai.azure.com/");
        var model = app.Model();

        Assert.DoesNotContain(model.Resources, r => r.Name.StartsWith("sim-", StringComparison.Ordinal));
        Assert.Equal(
            new[] { "aoai-eastus2", "aoai-swedencentral" },
            model.Resources.OfType<IResourceWithConnectionString>().Select(r => r.Name).Where(n => n.StartsWith("aoai-", StringComparison.Ordinal)).Order(StringComparer.Ordinal));
    }

    private static async Task<List<string>> ArgumentsAsync(IResourceWithArgs resource)
    {
        var context = new CommandLineArgsCallbackContext([]);
        foreach (var callback in resource.Annotations.OfType<CommandLineArgsCallbackAnnotation>())
        {
            await callback.Callback(context);
        }

        return context.Args.Select(a => a switch
        {
            string s => s,
            IManifestExpressionProvider e => e.ValueExpression,
            _ => a.ToString() ?? "",
        }).ToList();
    }
}
