using System.Text.Json;

namespace AoaiAspire.AppHost.Tests;

/// <summary>
/// The Azure deployment (infra/main.bicep) as the real Bicep compiler wrote it (the CompileBicep build step, warnings as
/// errors): what matters for the gateway, read from the ARM JSON. Nothing is deployed.
/// </summary>
public sealed class InfraTemplateTests
{
    private static readonly JsonElement s_main = Load();

    private static JsonElement Resources => s_main.GetProperty("resources");

    [Fact]
    public void DefaultRegionsGetOneAccountModuleEach()
    {
        var regions = s_main.GetProperty("parameters").GetProperty("openAiRegions").GetProperty("defaultValue")
            .EnumerateArray().Select(r => r.GetProperty("name").GetString()).ToArray();
        Assert.Equal(new[] { "eastus2", "swedencentral" }, regions);

        var openAi = Resources.GetProperty("openAi");
        Assert.Equal("[length(parameters('openAiRegions'))]", openAi.GetProperty("copy").GetProperty("count").GetString());
        // Each account lives in its own region, not the resource group's.
        Assert.Equal("[parameters('openAiRegions')[copyIndex()].name]", openAi.GetProperty("properties").GetProperty("parameters").GetProperty("location").GetProperty("value").GetString());
    }

    [Fact]
    public void EveryAccountHasChatAndEmbeddingsWithLocalAuthDisabled()
    {
        var module = Resources.GetProperty("openAi").GetProperty("properties");
        var deployments = module.GetProperty("parameters").GetProperty("deployments").GetProperty("value").EnumerateArray().Select(d => d.GetString()).ToArray();
        Assert.Equal(new[] { "[parameters('chat')]", "[parameters('embeddings')]" }, deployments);

        var parameters = s_main.GetProperty("parameters");
        var chat = parameters.GetProperty("chat").GetProperty("defaultValue");
        Assert.Equal(("chat", "gpt-4.1-mini", "GlobalStandard"), (chat.GetProperty("name").GetString(), chat.GetProperty("model").GetString(), chat.GetProperty("skuName").GetString()));
        Assert.Equal("embeddings", parameters.GetProperty("embeddings").GetProperty("defaultValue").GetProperty("name").GetString());

        var template = module.GetProperty("template").GetProperty("resources");
        var account = template.GetProperty("account");
        Assert.Equal(("Microsoft.CognitiveServices/accounts", "OpenAI"), (account.GetProperty("type").GetString(), account.GetProperty("kind").GetString()));
        Assert.True(account.GetProperty("properties").GetProperty("disableLocalAuth").GetBoolean());

        var deployment = template.GetProperty("deployment");
        Assert.Equal("Microsoft.CognitiveServices/accounts/deployments", deployment.GetProperty("type").GetString());
        Assert.Equal("[length(parameters('deployments'))]", deployment.GetProperty("copy").GetProperty("count").GetString());
        // The SKU is a parameter (ProvisionedManaged for PTUs), capacity too.
        Assert.Equal("[parameters('deployments')[copyIndex()].skuName]", deployment.GetProperty("sku").GetProperty("name").GetString());
    }

    [Fact]
    public void AppsIdentityIsAnOpenAIUserOnEveryAccount()
    {
        var module = Resources.GetProperty("openAi").GetProperty("properties");
        var role = module.GetProperty("template").GetProperty("resources").GetProperty("openAiUser");

        Assert.Equal("Microsoft.Authorization/roleAssignments", role.GetProperty("type").GetString());
        Assert.Contains("Microsoft.CognitiveServices/accounts", role.GetProperty("scope").GetString(), StringComparison.Ordinal);
        Assert.Equal("5e0bd9bd-7b93-4f28-af87-19fc36ad61bd", module.GetProperty("template").GetProperty("variables").GetProperty("openAiUserRoleId").GetString());
        Assert.Contains("variables('openAiUserRoleId')", role.GetProperty("properties").GetProperty("roleDefinitionId").GetString(), StringComparison.Ordinal);
        Assert.Equal("[reference('identity').outputs.principalId.value]", module.GetProperty("parameters").GetProperty("principalId").GetProperty("value").GetString());
    }

    [Fact]
    public void GatewayScalesFromTwoToTenOnConcurrentRequestsBehindExternalIngress()
    {
        var parameters = s_main.GetProperty("parameters");
        Assert.Equal(2, parameters.GetProperty("gatewayMinReplicas").GetProperty("defaultValue").GetInt32());
        Assert.Equal(10, parameters.GetProperty("gatewayMaxReplicas").GetProperty("defaultValue").GetInt32());

        var gateway = AppsTemplate().GetProperty("resources").GetProperty("gateway").GetProperty("properties");
        Assert.True(gateway.GetProperty("configuration").GetProperty("ingress").GetProperty("external").GetBoolean());
        var scale = gateway.GetProperty("template").GetProperty("scale");
        Assert.Equal("[parameters('gatewayMinReplicas')]", scale.GetProperty("minReplicas").GetString());
        Assert.Equal("[parameters('gatewayMaxReplicas')]", scale.GetProperty("maxReplicas").GetString());
        var rule = Assert.Single(scale.GetProperty("rules").EnumerateArray());
        Assert.Equal("[string(parameters('gatewayConcurrentRequests'))]", rule.GetProperty("http").GetProperty("metadata").GetProperty("concurrentRequests").GetString());

        var resources = AppsTemplate().GetProperty("resources");
        Assert.False(resources.GetProperty("redis").GetProperty("properties").GetProperty("configuration").GetProperty("ingress").GetProperty("external").GetBoolean());
        Assert.False(resources.GetProperty("healthProbe").GetProperty("properties").GetProperty("configuration").GetProperty("ingress").GetProperty("external").GetBoolean());
    }

    [Fact]
    public void GatewayBackendsPointAtTheAccountsEndpointsWithNoKey()
    {
        // main.bicep hands the apps module one backend per region, its endpoint the account module's output ...
        var backends = Resources.GetProperty("apps").GetProperty("properties").GetProperty("parameters").GetProperty("backends");
        var copy = Assert.Single(backends.GetProperty("copy").EnumerateArray());
        Assert.Equal("[length(parameters('openAiRegions'))]", copy.GetProperty("count").GetString());
        var input = copy.GetProperty("input").GetString()!;
        Assert.Contains("'endpoint', reference(format('openAi[{0}]', copyIndex('value'))).outputs.endpoint.value", input, StringComparison.Ordinal);
        Assert.Contains("'name', parameters('openAiRegions')[copyIndex('value')].name", input, StringComparison.Ordinal);

        // ... which become Gateway__Backends__{region}__Endpoint in the gateway's and the probe's environment.
        var apps = AppsTemplate();
        var settings = apps.GetProperty("variables").GetProperty("backendSettings").GetString()!;
        Assert.Contains("format('Gateway__Backends__{0}__Endpoint', lambdaVariables('b').name), 'value', lambdaVariables('b').endpoint", settings, StringComparison.Ordinal);
        foreach (var app in new[] { "gateway", "healthProbe" })
        {
            var env = apps.GetProperty("resources").GetProperty(app).GetProperty("properties").GetProperty("template").GetProperty("containers")[0].GetProperty("env").GetString()!;
            Assert.Contains("variables('backendSettings')", env, StringComparison.Ordinal);
        }

        // No key: no ApiKey setting, no listKeys, accounts reached with the managed identity.
        var json = s_main.GetRawText();
        Assert.DoesNotContain("__ApiKey", json, StringComparison.Ordinal);
        Assert.DoesNotContain("listKeys", json, StringComparison.OrdinalIgnoreCase);
        var clientId = Assert.Single(apps.GetProperty("variables").GetProperty("commonSettings").EnumerateArray(), e => e.GetProperty("name").GetString() == "AZURE_CLIENT_ID");
        Assert.Equal("[parameters('identityClientId')]", clientId.GetProperty("value").GetString());
    }

    private static JsonElement AppsTemplate() => Resources.GetProperty("apps").GetProperty("properties").GetProperty("template");

    private static JsonElement Load()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "infra", "main.json");
        Assert.True(File.Exists(path), $"{path} is written by the CompileBicep build step (the Bicep CLI).");
        using var document = JsonDocument.Parse(File.ReadAllText(path));
        return document.RootElement.Clone();
    }
}
