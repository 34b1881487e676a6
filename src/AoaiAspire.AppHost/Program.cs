using System.Globalization;
using Aspire.Hosting;
using AoaiAspire.AppHost;
using AoaiAspire.AppHost.Redis;
#if AOAI_ASPIRE_AZURE
using AoaiAspire.AppHost.AzurePublishing;
#endif

var builder = DistributedApplication.CreateBuilder(args);
var options = AoaiAspireOptions.Read(builder.Configuration);

// Infrastructure: Redis as a container, or as a local redis-server process when no container runtime is healthy.
if (!RedisHosting.TryChoose(builder, options.Redis, out var redisChoice, out var redisError))
{
    Console.Error.WriteLine(redisError);
    return 1;
}

var redis = builder.AddAppRedis(redisChoice);
var callerKey = builder.AddParameter("caller-key", secret: true);
var adminKey = builder.AddParameter("admin-key", secret: true);

// Upstreams: simulated regions locally, or existing Azure OpenAI accounts when asked to;
// Azure OpenAI accounts provisioned by Aspire only in an AOAI_ASPIRE_AZURE build.
List<Backend> backends;
if (builder.ExecutionContext.IsPublishMode)
{
#if AOAI_ASPIRE_AZURE
    builder.AddContainerAppsEnvironment();
    backends = builder.AddAzureOpenAIAccounts(options);
#else
    Console.Error.WriteLine(
        "Publishing to Azure from the AppHost needs a build with -p:AoaiAspireAzure=true (the Azure hosting packages). "
        + "Without it, deploy the checked-in Bicep with 'azd up' (infra/, docs/aspire.md).");
    return 1;
#endif
}
else
{
    backends = options.UseAzureOpenAI ? builder.AddAzureOpenAIConnections(options) : builder.AddSimulatedRegions(options);
}

// Services
builder.AddProject<Projects.AoaiAspire_HealthProbe>("health-probe")
    .WithDefaultHttpEndpoint()
    .WithReference(redis).WaitFor(redis)
    .WithBackends(backends, options)
    .WithEnvironment("HealthProbe__Interval", options.HealthProbeInterval.ToString("c", CultureInfo.InvariantCulture))
    .WithHttpHealthCheck("/health");

var gateway = builder.AddProject<Projects.AoaiAspire_Gateway>("gateway")
    .WithDefaultHttpEndpoint()
    .WithEndpoint("http", e => e.Port = options.Gateway.LocalPort)
    .WithReplicas(options.Gateway.Replicas)
    .WithExternalHttpEndpoints()
    .WithReference(redis).WaitFor(redis)
    .WithBackends(backends, options)
    .WithEnvironment("Gateway__Consumers__default__Keys__0", callerKey)
    .WithEnvironment("Gateway__AdminKey", adminKey)
    .WithEnvironment("Gateway__Routing__Policy", options.Gateway.RoutingPolicy)
    .WithHttpHealthCheck("/health")
    .PrintAddressWhenReady();
if (!builder.ExecutionContext.IsPublishMode && !options.UseAzureOpenAI)
{
    // A simulator stopped from the dashboard leaves the orchestrator's proxy listening on its port: without a
    // shorter wait, the gateway's first call there would wait the default 100 s for a first byte before retrying.
    gateway.WithEnvironment("Gateway__Upstream__FirstByteTimeout", "00:00:20");
}
#if AOAI_ASPIRE_AZURE
gateway.PublishAsScalableContainerApp(options.Gateway);
#endif

builder.Build().Run();
return 0;
