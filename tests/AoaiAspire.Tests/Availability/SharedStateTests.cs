using System.Net;
using AoaiAspire.Gateway.Configuration;
using AoaiAspire.Gateway.Availability;
using AoaiAspire.Tests.HealthProbe;
using AoaiAspire.Simulator;
using AoaiAspire.Tests.Common;
using AoaiAspire.Tests.Gateway;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace AoaiAspire.Tests.Availability;

/// <summary>Two gateway replicas, three simulated regions and a real redis-server: the replicas act as one.</summary>
public sealed class SharedStateTests(Xunit.Abstractions.ITestOutputHelper output) : IAsyncLifetime
{
    private const string ChatPath = "/openai/deployments/chat/chat/completions?api-version=2024-10-21";
    private readonly RedisServerFixture _redis = new();
    private SimulatorHost _sims = null!;
    private GatewayTestHost _a = null!;
    private GatewayTestHost _b = null!;

    public async Task InitializeAsync()
    {
        await _redis.StartAsync();
        _sims = await SimulatorHost.StartAsync([Simulators.Account("primary"), Simulators.Account("secondary"), Simulators.Account("fallback")]);
        var settings = Simulators.GatewaySettings(_sims, 1, 1, 2);
        settings["ConnectionStrings:redis"] = _redis.ConnectionString;
        _a = await GatewayTestHost.StartAsync(settings);
        _b = await GatewayTestHost.StartAsync(settings);
        await Wait.UntilAsync(async () => await HealthAsync(_a) == HealthStatus.Healthy && await HealthAsync(_b) == HealthStatus.Healthy, because: "both replicas connect to Redis");
    }

    public async Task DisposeAsync()
    {
        await _a.DisposeAsync();
        await _b.DisposeAsync();
        await _sims.DisposeAsync();
        await _redis.DisposeAsync();
    }

    private static async Task<HealthStatus> HealthAsync(GatewayTestHost gateway)
        => (await gateway.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(r => r.Name == AoaiAspire.Backends.Redis.SharedRedis.HealthCheckName)).Status;

    private static long ThrottledUntil(GatewayTestHost gateway, string backend)
    {
        gateway.Services.GetRequiredService<BackendRegistry>().TryGetState(backend, out var state);
        return state.ThrottledUntil;
    }

    private static async Task<string> ChatAsync(GatewayTestHost gateway)
    {
        using var response = await gateway.Client.PostAsync(ChatPath, GatewayRoutingTests.Chat());
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return response.Headers.GetValues("x-aoai-backend").Single();
    }

    [Fact]
    public async Task ThrottleSeenByOneReplicaIsHonouredByTheOtherWithoutItCallingTheBackend()
    {
        _sims["primary"].Faults = new FaultOptions { ForceThrottle = TimeSpan.FromSeconds(60) };
        _sims["secondary"].Faults = new FaultOptions { ForceThrottle = TimeSpan.FromSeconds(60) };

        // Replica A meets the 429s and serves from the fallback region.
        Assert.Equal("fallback", await ChatAsync(_a));
        Assert.Equal(1, _sims["primary"].Stats.Requests);
        Assert.Equal(1, _sims["secondary"].Stats.Requests);

        // One pub/sub hop later replica B knows too (the time is printed, not asserted: timing belongs in bench/)...
        var published = System.Diagnostics.Stopwatch.StartNew();
        await Wait.UntilAsync(() => ThrottledUntil(_b, "primary") > DateTimeOffset.UtcNow.UtcTicks && ThrottledUntil(_b, "secondary") > DateTimeOffset.UtcNow.UtcTicks,
            because: "replica B takes up the throttles replica A published");
        output.WriteLine($"throttle reached replica B within {published.Elapsed.TotalMilliseconds:0.0} ms of replica A's answer (20 ms polling)");

        // ...and never spends a request on the throttled regions.
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal("fallback", await ChatAsync(_b));
        }
        Assert.Equal(1, _sims["primary"].Stats.Requests);
        Assert.Equal(1, _sims["secondary"].Stats.Requests);
    }

    private static AoaiAspire.Backends.State.HealthStatus Verdict(GatewayTestHost gateway, string backend)
    {
        gateway.Services.GetRequiredService<BackendRegistry>().TryGetState(backend, out var state);
        return state.ProbeVerdict;
    }

    [Fact]
    public async Task ProbeMarksABackendDownBeforeAnyCallerRequestReachesIt()
    {
        // The primary is down before any traffic; only the probe finds out.
        _sims["primary"].Faults = new FaultOptions { Down = true };
        await using (var probe = await ProbeTestHost.StartAsync(ProbeTestHost.Settings(_sims, _redis.ConnectionString, TimeSpan.FromHours(1))))
        {
            await Wait.UntilAsync(() => Verdict(_a, "primary") == AoaiAspire.Backends.State.HealthStatus.Unreachable && Verdict(_b, "primary") == AoaiAspire.Backends.State.HealthStatus.Unreachable
                    && Verdict(_a, "secondary") == AoaiAspire.Backends.State.HealthStatus.Healthy,
                because: "both replicas take up the probe's verdicts from Redis");
        }
        var probed = _sims["primary"].Stats.Requests;

        for (var i = 0; i < 6; i++)
        {
            Assert.NotEqual("primary", await ChatAsync(i % 2 == 0 ? _a : _b));
        }
        Assert.Equal(probed, _sims["primary"].Stats.Requests);
    }

    [Fact]
    public async Task ReplicaStartedLaterReadsTheStoredThrottles()
    {
        _sims["primary"].Faults = new FaultOptions { ForceThrottle = TimeSpan.FromSeconds(60) };
        // Until A has met the primary's 429: the default policy picks either group-1 backend at random when both are idle.
        await Wait.UntilAsync(async () =>
        {
            await ChatAsync(_a);
            return _sims["primary"].Stats.Throttled >= 1;
        }, because: "replica A meets the primary's 429");
        var settings = Simulators.GatewaySettings(_sims, 1, 1, 2);
        settings["ConnectionStrings:redis"] = _redis.ConnectionString;
        await using var late = await GatewayTestHost.StartAsync(settings);
        await Wait.UntilAsync(() => ThrottledUntil(late, "primary") > DateTimeOffset.UtcNow.UtcTicks, because: "a new replica resynchronises from Redis");
        var before = _sims["primary"].Stats.Requests;
        for (var i = 0; i < 6; i++)
        {
            Assert.NotEqual("primary", await ChatAsync(late));
        }
        Assert.Equal(before, _sims["primary"].Stats.Requests);
    }

    [Fact]
    public async Task RedisLossFailsNoRequestReportsDegradedAndRecovers()
    {
        await _redis.StopAsync();
        await Wait.UntilAsync(async () => await HealthAsync(_a) == HealthStatus.Degraded, because: "replica A notices Redis is gone");

        // Serving goes on, on local state, including failover.
        _sims["primary"].Faults = new FaultOptions { ForceThrottle = TimeSpan.FromSeconds(2) };
        for (var i = 0; i < 10; i++)
        {
            await ChatAsync(i % 2 == 0 ? _a : _b);
        }
        using (var health = await _a.Client.GetAsync("/health"))
        {
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
            Assert.Equal("Degraded", await health.Content.ReadAsStringAsync(TestDeadline.Token));
        }

        await _redis.RestartAsync();
        await Wait.UntilAsync(async () => await HealthAsync(_a) == HealthStatus.Healthy && await HealthAsync(_b) == HealthStatus.Healthy, TimeSpan.FromSeconds(30), "both replicas reconnect");

        // Shared state works again: a new throttle met by A reaches B.
        _sims["secondary"].Faults = new FaultOptions { ForceThrottle = TimeSpan.FromSeconds(60) };
        _sims["primary"].Faults = new FaultOptions { ForceThrottle = TimeSpan.FromSeconds(60) };
        await ChatAsync(_a);
        await Wait.UntilAsync(() => ThrottledUntil(_b, "secondary") > DateTimeOffset.UtcNow.UtcTicks + TimeSpan.FromSeconds(30).Ticks,
            because: "after Redis returns, throttles are shared again");
    }

    [Fact]
    public async Task RedisKilledUnderLoadFailsNoCallerRequest()
    {
        var served = 0;
        var failed = 0;
        using var stop = new CancellationTokenSource();
        var callers = Enumerable.Range(0, 4).Select(i => Task.Run(async () =>
        {
            var gateway = i % 2 == 0 ? _a : _b;
            while (!stop.IsCancellationRequested)
            {
                using var response = await gateway.Client.PostAsync(ChatPath, GatewayRoutingTests.Chat());
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    Interlocked.Increment(ref served);
                }
                else
                {
                    Interlocked.Increment(ref failed);
                }
            }
        })).ToList();

        await Wait.UntilAsync(() => Volatile.Read(ref served) >= 50, TimeSpan.FromSeconds(30), "load runs with Redis up");
        await _redis.StopAsync();
        await Wait.UntilAsync(async () => await HealthAsync(_a) == HealthStatus.Degraded && await HealthAsync(_b) == HealthStatus.Degraded, TimeSpan.FromSeconds(30), "both replicas notice Redis is gone");
        var servedWhileDown = Volatile.Read(ref served);
        await Wait.UntilAsync(() => Volatile.Read(ref served) >= servedWhileDown + 50, TimeSpan.FromSeconds(30), "load goes on without Redis");
        await _redis.RestartAsync();
        await Wait.UntilAsync(async () => await HealthAsync(_a) == HealthStatus.Healthy && await HealthAsync(_b) == HealthStatus.Healthy, TimeSpan.FromSeconds(30), "both replicas reconnect");
        var servedAfter = Volatile.Read(ref served);
        await Wait.UntilAsync(() => Volatile.Read(ref served) >= servedAfter + 50, TimeSpan.FromSeconds(30), "load goes on after Redis returns");
        await stop.CancelAsync();
        await Task.WhenAll(callers);

        output.WriteLine($"Redis killed and restarted under 4 callers over 2 replicas: {served} served, {failed} failed");
        Assert.Equal(0, failed);
    }
}
