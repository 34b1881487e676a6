namespace AoaiAspire.AppHost.Tests.Common;

/// <summary>
/// Starts the whole app once for the run-mode tests: three simulated regions, the Redis container, the health probe
/// and two gateway replicas, with the dashboard off and ports randomised. Needs Docker or Podman.
/// </summary>
public sealed class RunningAppFixture : IAsyncLifetime
{
    public const string CallerKey = "test-caller-key";

    /// <summary>Generous: the first start builds the service projects.</summary>
    public static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(5);

    private DistributedApplication? _app;

    public DistributedApplication App => _app ?? throw new InvalidOperationException("The app has not started.");

    public async Task InitializeAsync()
    {
        var appHost = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AoaiAspire_AppHost>(
        [
            $"--Parameters:caller-key={CallerKey}",
            "--Parameters:admin-key=test-admin-key",
            "--Parameters:simulator-key=test-simulator-key",
            "--AoaiAspire:UseAzureOpenAI=false",
            "--AoaiAspire:SimulatorLatencyScale=0",
            // One probe round at start-up and none during a test: probe calls would count in a simulator's /admin/stats.
            "--AoaiAspire:HealthProbeInterval=01:00:00",
        ]);
        _app = await appHost.BuildAsync();

        using var cts = new CancellationTokenSource(StartTimeout);
        await _app.StartAsync(cts.Token);
        await _app.ResourceNotifications.WaitForResourceHealthyAsync("gateway", cts.Token);
    }

    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync();
        }
    }
}
