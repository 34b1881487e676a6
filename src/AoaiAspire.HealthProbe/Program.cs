using AoaiAspire.HealthProbe;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddHealthProbe();

var app = builder.Build();

app.MapHealthProbe();

await app.RunAsync();
