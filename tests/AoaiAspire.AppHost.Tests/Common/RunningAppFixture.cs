using System.Diagnostics;
using Aspire.Hosting.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace AoaiAspire.AppHost.Tests.Common;

/// <summary>
/// Starts the whole app once for every run-mode test (xunit collection <see cref="RunningAppCollection"/>): three
/// simulated regions, Redis, the health probe, two gateway replicas and the dashboard, on random ports. Redis is
/// whatever the AppHost chooses on this machine (a local redis-server when no container runtime is healthy).
/// </summary>
public sealed class RunningAppFixture : IAsyncLifetime
{
    public const string CallerKey = "test-caller-key-0123456789";

    /// <summary>At least 16 characters: the gateway refuses a shorter admin key at start.</summary>
    public const string AdminKey = "test-admin-key-0123456789";

    /// <summary>Generous: the first start may build the service projects on a busy machine.</summary>
    public static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(6);

    /// <summary>Bound of every wait inside a test.</summary>
    public static readonly TimeSpan WaitTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Bound of a resource stopping or restarting (a restart is a new `dotnet run` of the project).</summary>
    public static readonly TimeSpan RestartTimeout = TimeSpan.FromMinutes(3);

    public static readonly string[] Simulators = ["sim-eastus", "sim-eastus2", "sim-canadaeast"];

    private DistributedApplication? _app;

    public DistributedApplication App => _app ?? throw new InvalidOperationException("The app has not started.");

    /// <summary>How long build, start and every resource healthy took (printed once; the suite's own time is in the trx).</summary>
    public TimeSpan StartDuration { get; private set; }

    public async Task InitializeAsync()
    {
        var stopwatch = Stopwatch.StartNew();
        var appHost = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AoaiAspire_AppHost>(
            [
                $"--Parameters:caller-key={CallerKey}",
                $"--Parameters:admin-key={AdminKey}",
                "--Parameters:simulator-key=test-simulator-key-0123456789",
                "--AoaiAspire:UseAzureOpenAI=false",
                "--AoaiAspire:SimulatorLatencyScale=0",
                // Fresh verdicts throughout (every 5 s, the shortest the probe accepts with its 5 s timeout; the gateway trusts one for a minute); the probe's calls do not count in a
                // deployment's /admin/stats, which is what the tests read.
                "--AoaiAspire:HealthProbeInterval=00:00:05",
                // The dashboard runs too (the browser test screenshots it), without a login token.
                "--ASPIRE_DASHBOARD_UNSECURED_ALLOW_ANONYMOUS=true",
            ],
            (options, _) => options.DisableDashboard = false);
        _app = await appHost.BuildAsync();

        using var cts = new CancellationTokenSource(StartTimeout);
        await _app.StartAsync(cts.Token);
        foreach (var resource in AppResourceNames(_app))
        {
            try
            {
                await _app.ResourceNotifications.WaitForResourceHealthyAsync(resource, cts.Token);
            }
            catch (OperationCanceledException) when (cts.IsCancellationRequested)
            {
                throw new TimeoutException($"Resource '{resource}' was not healthy within {StartTimeout} of the start.");
            }
        }

        StartDuration = stopwatch.Elapsed;
    }

    /// <summary>The resources the AppHost declares (not Aspire's own hidden ones, such as the <c>*-rebuilder</c> helpers).</summary>
    public static IReadOnlyList<string> AppResourceNames(DistributedApplication app)
    {
        var model = app.Services.GetRequiredService<DistributedApplicationModel>();
        return model.Resources.OfType<ProjectResource>().Select(r => r.Name)
            .Append("redis")
            .ToList();
    }

    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await _app.StopAsync(cts.Token);
            await _app.DisposeAsync();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class RunningAppCollection : ICollectionFixture<RunningAppFixture>
{
    public const string Name = "running app";
}
