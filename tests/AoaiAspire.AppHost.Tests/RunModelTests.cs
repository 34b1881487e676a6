using AoaiAspire.AppHost.Tests.Common;

namespace AoaiAspire.AppHost.Tests;

/// <summary>The run-mode application model, built but not started (no Docker needed).</summary>
public sealed class RunModelTests
{
    [Fact]
    public async Task LocalRunUsesThreeSimulatedRegionsAndTwoGatewayReplicas()
    {
        await using var app = await AppModel.BuildRunModeAsync();
        var model = app.Model();

        Assert.Equal(
            new[] { "sim-canadaeast", "sim-eastus", "sim-eastus2" },
            model.Resources.Where(r => r.Name.StartsWith("sim-", StringComparison.Ordinal)).Select(r => r.Name).Order(StringComparer.Ordinal));
        Assert.Empty(model.Resources.OfType<AzureOpenAIResource>());
        Assert.Equal(2, model.Project("gateway").Annotations.OfType<ReplicaAnnotation>().Last().Replicas);
        Assert.Contains(model.Project("gateway").Annotations.OfType<EndpointAnnotation>(), e => e.Name == "http" && e.IsExternal);
        Assert.Contains(model.Project("sim-eastus").Annotations.OfType<EndpointAnnotation>(), e => e.Name == "http");
        Assert.Contains(model.Resources, r => r.Name == "redis");
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
        Assert.Empty(model.Resources.OfType<AzureOpenAIResource>());
        Assert.Equal(
            new[] { "aoai-eastus2", "aoai-swedencentral" },
            model.Resources.OfType<IResourceWithConnectionString>().Select(r => r.Name).Where(n => n.StartsWith("aoai-", StringComparison.Ordinal)).Order(StringComparer.Ordinal));
    }
}
