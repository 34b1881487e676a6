using AoaiAspire.Simulator.Hosting;

// Standalone simulator: the accounts of section "Simulator", one port each (see docs/simulator.md).
var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddSimulator();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapSimulator();
app.Run();
