#if AOAI_ASPIRE_AZURE
using AoaiAspire.AppHost.Tests.Common;
using Aspire.Hosting.Azure;
using Aspire.Hosting.Azure.AppContainers;
using Azure.Provisioning.AppContainers;
using Azure.Provisioning.CognitiveServices;

namespace AoaiAspire.AppHost.Tests;

/// <summary>What <c>azd up</c> would deploy, read from the publish-mode application model; nothing is deployed.</summary>
public sealed class PublishModelTests
{
    private static readonly string OpenAIUser = CognitiveServicesBuiltInRole.CognitiveServicesOpenAIUser.ToString();

    [Fact]
    public async Task EachDefaultRegionGetsAnAccountInThatRegionWithChatAndEmbeddings()
    {
        await using var app = await AppModel.BuildPublishModeAsync();
        var model = app.Model();

        var accounts = model.Resources.OfType<AzureOpenAIResource>().OrderBy(a => a.Name, StringComparer.Ordinal).ToList();
        Assert.Equal(new[] { "aoai-eastus2", "aoai-swedencentral" }, accounts.Select(a => a.Name));

        foreach (var account in accounts)
        {
            var deployments = model.Resources.OfType<AzureOpenAIDeploymentResource>()
                .Where(d => d.Parent == account)
                .ToDictionary(d => d.DeploymentName, StringComparer.Ordinal);
            Assert.Equal(new[] { "chat", "embeddings" }, deployments.Keys.Order(StringComparer.Ordinal));

            var chat = deployments["chat"];
            Assert.Equal(("gpt-4.1-mini", "2025-04-14", "GlobalStandard", 50), (chat.ModelName, chat.ModelVersion, chat.SkuName, chat.SkuCapacity));
            var embeddings = deployments["embeddings"];
            Assert.Equal(("text-embedding-3-small", "1", "Standard", 50), (embeddings.ModelName, embeddings.ModelVersion, embeddings.SkuName, embeddings.SkuCapacity));

            // The location set through ConfigureInfrastructure, and no keys: the services use their managed identities.
            var bicep = account.GetBicepTemplateString();
            Assert.Contains($"'{account.Name["aoai-".Length..]}'", bicep, StringComparison.Ordinal);
            Assert.Contains("disableLocalAuth: true", bicep, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task AppRunsInOneContainerAppsEnvironmentWithRedisAndNoSimulators()
    {
        await using var app = await AppModel.BuildPublishModeAsync();
        var model = app.Model();

        Assert.Single(model.Resources.OfType<AzureContainerAppEnvironmentResource>(), e => e.Name == "aca");
        Assert.Single(model.Resources.OfType<RedisResource>(), r => r.Name == "redis");
        Assert.DoesNotContain(model.Resources, r => r.Name.StartsWith("sim-", StringComparison.Ordinal));
        Assert.DoesNotContain(model.Resources, r => r.Name == "simulator-key");
        model.Project("gateway");
        model.Project("health-probe");
    }

    [Fact]
    public async Task GatewayScalesFromTwoReplicasOnConcurrentRequests()
    {
        await using var app = await AppModel.BuildPublishModeAsync();
        var gateway = app.Model().Project("gateway");

        Assert.Equal(2, gateway.Annotations.OfType<ReplicaAnnotation>().Last().Replicas);

        // Apply the AppHost's Container Apps customisation to a bare container app and read what it set.
        var customization = Assert.Single(gateway.Annotations.OfType<AzureContainerAppCustomizationAnnotation>());
        var containerApp = new ContainerApp("gateway") { Template = new ContainerAppTemplate { Scale = new ContainerAppScale() } };
        customization.Configure(null!, containerApp);

        Assert.Equal(2, containerApp.Template.Scale.MinReplicas.Value);
        Assert.Equal(10, containerApp.Template.Scale.MaxReplicas.Value);
        var ruleCount = containerApp.Template.Scale.Rules.Count;
        Assert.Equal(1, ruleCount);
    }

    [Theory]
    [InlineData("gateway")]
    [InlineData("health-probe")]
    public async Task ServiceIsAnOpenAIUserOnEveryAccount(string service)
    {
        await using var app = await AppModel.BuildPublishModeAsync();

        var roleAssignments = app.Model().Project(service).Annotations.OfType<RoleAssignmentAnnotation>().ToList();

        Assert.Equal(new[] { "aoai-eastus2", "aoai-swedencentral" }, roleAssignments.Select(r => r.Target.Name).Order(StringComparer.Ordinal));
        Assert.All(roleAssignments, r => Assert.Contains(r.Roles, role => role.Id == OpenAIUser));
    }

    [Theory]
    [InlineData("gateway")]
    [InlineData("health-probe")]
    public async Task ServiceReadsEachRegionFromItsAccountConnection(string service)
    {
        await using var app = await AppModel.BuildPublishModeAsync();

        var environment = await PublishEnvironmentAsync(app.Model().Project(service));

        foreach (var region in new[] { "eastus2", "swedencentral" })
        {
            var backend = $"Gateway__Backends__{region}__";
            Assert.Equal($"aoai-{region}", environment[backend + "Connection"]);
            Assert.Contains($"aoai-{region}", environment[$"ConnectionStrings__aoai-{region}"], StringComparison.Ordinal);
            Assert.Equal(region, environment[backend + "Region"]);
            Assert.Equal("1", environment[backend + "Priority"]);
            Assert.Equal("chat", environment[backend + "Deployments__chat"]);
            Assert.Equal("embeddings", environment[backend + "Deployments__embeddings"]);
            Assert.DoesNotContain(backend + "ApiKey", environment.Keys);
            Assert.DoesNotContain(backend + "Endpoint", environment.Keys);
        }

        Assert.Contains("redis", environment["ConnectionStrings__redis"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task GatewayGetsTheCallerAndAdminKeysFromSecretParameters()
    {
        await using var app = await AppModel.BuildPublishModeAsync();
        var model = app.Model();

        var environment = await PublishEnvironmentAsync(model.Project("gateway"));

        Assert.Contains("caller-key", environment["Gateway__Consumers__default__Keys__0"], StringComparison.Ordinal);
        Assert.Contains("admin-key", environment["Gateway__AdminKey"], StringComparison.Ordinal);
        Assert.All(model.Resources.OfType<ParameterResource>().Where(p => p.Name is "caller-key" or "admin-key"), p => Assert.True(p.Secret));
    }

    [Fact]
    public async Task RegionsAndModelsComeFromAppHostConfiguration()
    {
        await using var app = await AppModel.BuildPublishModeAsync(
            "--AoaiAspire:Regions:0:Name=westus3",
            "--AoaiAspire:Regions:1:Name=francecentral",
            "--AoaiAspire:Regions:1:Priority=2",
            "--AoaiAspire:Regions:2:Name=japaneast",
            "--AoaiAspire:Regions:2:Priority=2",
            "--AoaiAspire:Chat:ModelName=gpt-5.4-mini",
            "--AoaiAspire:Chat:ModelVersion=2026-03-17");
        var model = app.Model();

        Assert.Equal(
            new[] { "aoai-francecentral", "aoai-japaneast", "aoai-westus3" },
            model.Resources.OfType<AzureOpenAIResource>().Select(a => a.Name).Order(StringComparer.Ordinal));
        Assert.All(
            model.Resources.OfType<AzureOpenAIDeploymentResource>().Where(d => d.DeploymentName == "chat"),
            d => Assert.Equal(("gpt-5.4-mini", "2026-03-17", "GlobalStandard"), (d.ModelName, d.ModelVersion, d.SkuName)));

        var environment = await PublishEnvironmentAsync(model.Project("gateway"));
        Assert.Equal("2", environment["Gateway__Backends__francecentral__Priority"]);
        Assert.Equal("1", environment["Gateway__Backends__westus3__Priority"]);
        Assert.DoesNotContain("Gateway__Backends__eastus2__Connection", environment.Keys);
    }

    /// <summary>The environment as published: parameters and outputs as manifest expressions such as <c>{caller-key.value}</c>.</summary>
    private static async Task<Dictionary<string, string>> PublishEnvironmentAsync(ProjectResource project)
    {
#pragma warning disable CS0618 // Obsolete in 13.x in favour of ExecutionConfigurationBuilder; it still reads the environment.
        return await project.GetEnvironmentVariableValuesAsync(DistributedApplicationOperation.Publish);
#pragma warning restore CS0618
    }
}
#endif
