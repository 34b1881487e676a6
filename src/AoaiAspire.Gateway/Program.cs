using AoaiAspire.Gateway;
using AoaiAspire.Gateway.Demo;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
await builder.AddDemoBackendsIfNeededAsync();
builder.AddGateway();

var app = builder.Build();

app.MapGatewayPipeline();

await app.RunAsync();

/// <summary>Entry point, visible to tests.</summary>
public partial class Program;
