using System.Globalization;
using Aspire.Hosting;
using AoaiAspire.AppHost;

var builder = DistributedApplication.CreateBuilder(args);
var options = AoaiAspireOptions.Read(builder.Configuration);

// Infrastructure
var redis = builder.AddRedis("redis");
var callerKey = builder.AddParameter("caller-key", secret: true);
var adminKey = builder.AddParameter("admin-key", secret: true);

if (builder.ExecutionContext.IsPublishMode)
{
    builder.AddAzureContainerAppEnvironment("aca").WithAzdResourceNaming();
}

// Upstreams: Azure OpenAI accounts when publishing (or, locally, when asked to), simulated regions otherwise.
var backends = builder.ExecutionContext.IsPublishMode ? builder.AddAzureOpenAIAccounts(options)
    : options.UseAzureOpenAI ? builder.AddAzureOpenAIConnections(options)
    : builder.AddSimulatedRegions(options);

// Services
builder.AddProject<Projects.AoaiAspire_HealthProbe>("health-probe")
    .WithDefaultHttpEndpoint()
    .WithReference(redis).WaitFor(redis)
    .WithBackends(backends, options)
    .WithEnvironment("HealthProbe__Interval", options.HealthProbeInterval.ToString("c", CultureInfo.InvariantCulture))
    .WithHttpHealthCheck("/health");

builder.AddProject<Projects.AoaiAspire_Gateway>("gateway")
    .WithDefaultHttpEndpoint()
    .WithReplicas(options.Gateway.Replicas)
    .WithExternalHttpEndpoints()
    .WithReference(redis).WaitFor(redis)
    .WithBackends(backends, options)
    .WithEnvironment("Gateway__Consumers__default__Keys__0", callerKey)
    .WithEnvironment("Gateway__AdminKey", adminKey)
    .WithEnvironment("Gateway__Routing__Policy", options.Gateway.RoutingPolicy)
    .WithHttpHealthCheck("/health")
    .PublishAsScalableContainerApp(options.Gateway);

builder.Build().Run();
