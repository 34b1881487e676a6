using Microsoft.Extensions.DependencyInjection;

namespace AoaiAspire.AppHost.Tests.Common;

/// <summary>
/// Builds the AppHost's application model without starting anything: in publish mode (what <c>azd up</c> runs) or in
/// run mode. Nothing is deployed, no container or process is started, no Docker is needed.
/// </summary>
internal static class AppModel
{
    public static Task<DistributedApplication> BuildPublishModeAsync(params string[] args)
    {
        var outputPath = Path.Combine(Path.GetTempPath(), "aoai-aspire-publish-" + Guid.NewGuid().ToString("N"));
        return BuildAsync(["--operation", "publish", "--publisher", "manifest", "--output-path", outputPath, .. args]);
    }

    public static Task<DistributedApplication> BuildRunModeAsync(params string[] args) => BuildAsync(args);

    public static DistributedApplicationModel Model(this DistributedApplication app)
        => app.Services.GetRequiredService<DistributedApplicationModel>();

    public static ProjectResource Project(this DistributedApplicationModel model, string name)
        => Assert.Single(model.Resources.OfType<ProjectResource>(), p => p.Name == name);

    private static async Task<DistributedApplication> BuildAsync(string[] args)
    {
        var appHost = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AoaiAspire_AppHost>(args);
        return await appHost.BuildAsync();
    }
}
