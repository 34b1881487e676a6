#if AOAI_ASPIRE_AZURE
using System.Globalization;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Azure.Core;
using Azure.Provisioning.AppContainers;
using Azure.Provisioning.CognitiveServices;

namespace AoaiAspire.AppHost.AzurePublishing;

/// <summary>
/// The Aspire-native Azure publish model, compiled only with <c>-p:AoaiAspireAzure=true</c> (symbol
/// <c>AOAI_ASPIRE_AZURE</c>): it needs Aspire.Hosting.Azure.CognitiveServices and Aspire.Hosting.Azure.AppContainers.
/// The same topology is checked in as Bicep under <c>infra/</c>, which builds everywhere.
/// </summary>
internal static class AzurePublish
{
    /// <summary>The Container Apps environment every service is published to, with azd's resource naming.</summary>
    public static void AddContainerAppsEnvironment(this IDistributedApplicationBuilder builder)
        => builder.AddAzureContainerAppEnvironment("aca").WithAzdResourceNaming();

    /// <summary>
    /// Publish mode: one Azure OpenAI account per region (<c>aoai-{region}</c>), located in that region, each with the
    /// chat and the embeddings deployment. Accounts are created with key authentication disabled.
    /// </summary>
    public static List<Backend> AddAzureOpenAIAccounts(this IDistributedApplicationBuilder builder, AoaiAspireOptions options)
    {
        var backends = new List<Backend>(options.Regions.Count);
        foreach (var region in options.Regions)
        {
            var account = builder.AddAzureOpenAI($"aoai-{region.Name}")
                .ConfigureInfrastructure(infra =>
                {
                    // Without this every account lands in the resource group's location.
                    var cognitiveServices = infra.GetProvisionableResources().OfType<CognitiveServicesAccount>().Single();
                    cognitiveServices.Location = new AzureLocation(region.Name);
                });
            account.AddModelDeployment(options.Chat);
            account.AddModelDeployment(options.Embeddings);
            backends.Add(new AzureOpenAIBackend(region.Name, region.Priority, region.Weight, account));
        }

        return backends;
    }

    /// <summary>
    /// Resource names are global in the app model, so each account's deployment resource is named
    /// <c>{account}-{deployment}</c> while the deployment itself keeps the plain name (<c>chat</c>) in Azure.
    /// </summary>
    private static void AddModelDeployment(this IResourceBuilder<AzureOpenAIResource> account, ModelDeploymentOptions deployment)
    {
        account.AddDeployment($"{account.Resource.Name}-{deployment.DeploymentName}", deployment.ModelName, deployment.ModelVersion)
            .WithProperties(d =>
            {
                d.DeploymentName = deployment.DeploymentName;
                d.SkuName = deployment.SkuName;
                d.SkuCapacity = deployment.SkuCapacity;
            });
    }

    /// <summary>Azure Container Apps scale for the gateway: min/max replicas and an HTTP concurrency rule. No effect in run mode.</summary>
    public static IResourceBuilder<ProjectResource> PublishAsScalableContainerApp(
        this IResourceBuilder<ProjectResource> gateway, GatewayScaleOptions scale)
    {
        return gateway.PublishAsAzureContainerApp((_, app) =>
        {
            app.Template.Scale.MinReplicas = scale.Replicas;
            app.Template.Scale.MaxReplicas = scale.MaxReplicas;
            app.Template.Scale.Rules.Add(new ContainerAppScaleRule
            {
                Name = "http",
                Http = new ContainerAppHttpScaleRule
                {
                    Metadata = { ["concurrentRequests"] = scale.ConcurrentRequests.ToString(CultureInfo.InvariantCulture) },
                },
            });
        });
    }
}

/// <summary>
/// An account the AppHost provisions: the service receives <c>ConnectionStrings__aoai-{region}=Endpoint=https://…</c>
/// (no key: local auth is disabled) and, through its managed identity, the Cognitive Services OpenAI User role on it.
/// </summary>
internal sealed record AzureOpenAIBackend(
    string Name, int Priority, int Weight,
    IResourceBuilder<AzureOpenAIResource> Account) : Backend(Name, Priority, Weight)
{
    public override void ConnectTo(IResourceBuilder<ProjectResource> service, string prefix)
    {
        service.WithReference(Account)
            .WithRoleAssignments(Account, CognitiveServicesBuiltInRole.CognitiveServicesOpenAIUser)
            .WithEnvironment(prefix + "Connection", Account.Resource.Name);
    }
}
#endif
