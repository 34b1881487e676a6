using AoaiAspire.Backends.Redis;
using AoaiAspire.HealthProbe;
using AoaiAspire.HealthProbe.Status;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddHealthProbeOptions();
builder.AddSharedBackendState(tracing: builder.Configuration.IsTelemetryExported());
builder.AddBackendProbing();
builder.AddProbeHealthCheck();

var app = builder.Build();

app.MapDefaultEndpoints();
app.MapProbeStatus();

await app.RunAsync();
