using System.Net;
using System.Text.Json;
using StackExchange.Redis;
using AoaiAspire.Backends.State;
using AoaiAspire.HealthProbe.Health;
using AoaiAspire.HealthProbe.Probing;
using AoaiAspire.Simulator;
using AoaiAspire.Tests.Common;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;
using CheckStatus = Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus;
using HealthStatus = AoaiAspire.Backends.State.HealthStatus;

namespace AoaiAspire.Tests.HealthProbe;

/// <summary>The hosted probe, as it runs in production, against real Redis and simulated accounts.</summary>
public sealed class HealthProbeWorkerTests : IAsyncLifetime
{
    private SimulatorHost _simulators = null!;

    public async Task InitializeAsync() => _simulators = await SimulatorHost.StartAsync(
    [
        ProbeTestKit.Account("eastus"),
        ProbeTestKit.Account("westus", new FaultOptions { ForceThrottle = TimeSpan.FromSeconds(30) }),
    ]);

    public async Task DisposeAsync() => await _simulators.DisposeAsync();

    private static async Task<BackendHealthReport?> ReadReportAsync(TestRedis client, string backend)
    {
        try
        {
            var json = (byte[]?)await client.Database.StringGetAsync(SharedStateNames.HealthKey(backend));
            return json is null ? null : JsonSerializer.Deserialize(json, SharedStateJsonContext.Default.BackendHealthReport);
        }
        catch (RedisException)
        {
            return null;
        }
    }

    private static async Task<CheckStatus> CheckAsync(ProbeTestHost host)
    {
        var check = host.Services.GetRequiredService<IOptions<HealthCheckServiceOptions>>().Value.Registrations.Single(r => r.Name == ProbeHealthCheck.Name);
        var result = await check.Factory(host.Services).CheckHealthAsync(new HealthCheckContext { Registration = check });
        return result.Status;
    }

    [Fact]
    public async Task ProbeKeepsProbingWhileRedisIsDownAndPublishesAgainWhenItReturns()
    {
        await using var redis = new RedisServerFixture();
        await redis.StartAsync();
        await using var host = await ProbeTestHost.StartAsync(ProbeTestHost.Settings(_simulators, redis.ConnectionString));
        var verdicts = host.Services.GetRequiredService<ProbeVerdicts>();
        await using var client = await TestRedis.ConnectAsync(redis.ConnectionString);

        await Wait.UntilAsync(async () => verdicts.Rounds >= 1
            && await ReadReportAsync(client, "eastus") is { Status: HealthStatus.Healthy }
            && await ReadReportAsync(client, "westus") is { Status: HealthStatus.Throttled }, because: "a completed round's verdicts in Redis");
        Assert.Equal("Healthy", await host.Client.GetStringAsync("/health"));

        await redis.StopAsync();
        await Wait.UntilAsync(async () => await host.Client.GetStringAsync("/health") == "Degraded", because: "/health to say Degraded without Redis");
        var roundsWithoutRedis = verdicts.Rounds;
        var requestsWithoutRedis = _simulators["eastus"].Stats.Requests;
        await Wait.UntilAsync(() => verdicts.Rounds >= roundsWithoutRedis + 3, because: "rounds to go on without Redis");
        Assert.True(_simulators["eastus"].Stats.Requests > requestsWithoutRedis, "backends should still be probed");
        Assert.Equal(CheckStatus.Degraded, await CheckAsync(host));

        await redis.StartAsync(); // same port, empty dataset
        await Wait.UntilAsync(async () => await ReadReportAsync(client, "eastus") is { Status: HealthStatus.Healthy }, TimeSpan.FromSeconds(30), "a verdict published after Redis returned");
        await Wait.UntilAsync(async () => await host.Client.GetStringAsync("/health") == "Healthy", because: "/health to be Healthy again");
    }

    [Fact]
    public async Task StatusShowsThisReplicasVerdictsWithoutSecrets()
    {
        await using var redis = new RedisServerFixture();
        await redis.StartAsync();
        await using var host = await ProbeTestHost.StartAsync(ProbeTestHost.Settings(_simulators, redis.ConnectionString));
        var verdicts = host.Services.GetRequiredService<ProbeVerdicts>();
        // A round that saw both as they are (on a loaded machine a cold first probe can exceed the 500 ms timeout).
        await Wait.UntilAsync(() => verdicts.Snapshot() is { Count: 2 } v
            && v.Any(x => x.Backend == "eastus" && x.Report.Status == HealthStatus.Healthy)
            && v.Any(x => x.Backend == "westus" && x.Report.Status == HealthStatus.Throttled), because: "a round with both verdicts");

        using var response = await host.Client.GetAsync("/status");
        var body = await response.Content.ReadAsStringAsync(TestDeadline.Token);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var document = JsonDocument.Parse(body);
        var backends = document.RootElement.GetProperty("backends").EnumerateArray().ToDictionary(b => b.GetProperty("name").GetString()!, b => b.GetProperty("status").GetString());
        Assert.Equal("Healthy", backends["eastus"]);
        Assert.Equal("Throttled", backends["westus"]);
        Assert.Equal("redis", document.RootElement.GetProperty("sharedState").GetString());
        Assert.DoesNotContain(_simulators["eastus"].Options.ApiKey!, body, StringComparison.Ordinal);
        Assert.DoesNotContain(_simulators["westus"].Options.ApiKey!, body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WithoutRedisTheProbeWarnsOnceAndProbesInMemory()
    {
        var logs = new FakeLoggerProvider();
        await using var host = await ProbeTestHost.StartAsync(ProbeTestHost.Settings(_simulators, redis: null), logs);
        var verdicts = host.Services.GetRequiredService<ProbeVerdicts>();
        await Wait.UntilAsync(() => verdicts.Rounds >= 3, because: "three rounds");

        Assert.IsType<InMemoryBackendStateStore>(host.Services.GetRequiredService<IBackendStateStore>());
        Assert.Equal(1, logs.Collector.GetSnapshot().Count(e => e.Id.Id == 3301));
        Assert.Equal("Healthy", await host.Client.GetStringAsync("/health"));
        Assert.Equal(HealthStatus.Healthy, verdicts.Snapshot().Single(v => v.Backend == "eastus").Report.Status);
    }

    [Fact]
    public async Task VerdictChangesAreLoggedOnceNotEveryRound()
    {
        var logs = new FakeLoggerProvider();
        await using var host = await ProbeTestHost.StartAsync(ProbeTestHost.Settings(_simulators, redis: null), logs);
        var verdicts = host.Services.GetRequiredService<ProbeVerdicts>();
        await Wait.UntilAsync(() => verdicts.Rounds >= 3, because: "three rounds");

        _simulators["eastus"].Faults = new FaultOptions { ServerErrorRate = 1 };
        await Wait.UntilAsync(() => verdicts.Snapshot().Single(v => v.Backend == "eastus").Report.Status == HealthStatus.Erroring, because: "eastus to be seen erroring");
        var rounds = verdicts.Rounds;
        await Wait.UntilAsync(() => verdicts.Rounds >= rounds + 3, because: "three more rounds");

        Assert.Equal(1, logs.Collector.GetSnapshot().Count(e => e.Id.Id == 3001)); // eastus: Unknown → Healthy
        Assert.Equal(2, logs.Collector.GetSnapshot().Count(e => e.Id.Id == 3002)); // westus: Unknown → Throttled; eastus: Healthy → Erroring
        Assert.DoesNotContain(logs.Collector.GetSnapshot(), e => e.Message.Contains(_simulators["eastus"].Options.ApiKey!, StringComparison.Ordinal));
    }

    [Fact]
    public async Task InvalidOptionsStopTheStartNamingTheKey()
    {
        var settings = ProbeTestHost.Settings(_simulators, redis: null);
        settings["HealthProbe:Timeout"] = "00:01:00";
        await using var app = ProbeTestHost.Build(settings);

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync());

        Assert.Contains("HealthProbe:Timeout", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InvalidBackendConfigurationStopsTheStartNamingTheKey()
    {
        var settings = ProbeTestHost.Settings(_simulators, redis: null);
        settings["Gateway:Backends:broken:Endpoint"] = "ftp://example.invalid/";
        settings["Gateway:Backends:broken:Deployments:chat"] = "chat";
        await using var app = ProbeTestHost.Build(settings);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => app.StartAsync());

        Assert.Contains("Gateway:Backends:broken:Endpoint", error.Message, StringComparison.Ordinal);
    }
}
