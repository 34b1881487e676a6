using AoaiAspire.Backends.State;
using AoaiAspire.Gateway.Configuration;
using AoaiAspire.Gateway.Availability;
using AoaiAspire.Gateway.Status;
using AoaiAspire.Gateway.Tokens;
using AoaiAspire.Tests.Common;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace AoaiAspire.Tests.Status;

/// <summary>The event ring and the usage sampler, with a clock the test moves.</summary>
public sealed class StatusHistoryTests
{
    private static BackendRegistry Registry(params string[] names)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(GatewayTestHost.Backends([.. names.Select(n => (n, new Uri($"http://{n}.invalid/"), (string?)"k", 1))]))
            .Build();
        return new BackendRegistry(configuration, NullLogger<BackendRegistry>.Instance);
    }

    private static BackendStateUpdater Updater(TimeProvider time)
        => new(time, new StaticOptionsMonitor(new GatewayOptions()), NullLogger<BackendStateUpdater>.Instance);

    [Fact]
    public void OnChanged_MoreThanCapacity_KeepsNewestFirst()
    {
        var time = TestClock.Create();
        using var registry = Registry("a");
        var updater = Updater(time);
        using var log = new BackendEventLog(updater, registry, time);
        var state = registry.Catalog.Backends[0];

        for (var i = 1; i <= BackendEventLog.Capacity + 5; i++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            updater.OnThrottled(state, "chat", TimeSpan.FromSeconds(i * 2)); // each one benches longer, so each is a change
        }

        var events = log.Snapshot();
        Assert.Equal(BackendEventLog.Capacity, events.Length);
        Assert.Equal(BackendEventLog.Capacity + 5, log.Count);
        Assert.Equal(time.GetUtcNow().UtcTicks, events[0].At);
        Assert.True(events.Zip(events.Skip(1)).All(p => p.First.At > p.Second.At), "newest first");
        Assert.All(events, e => Assert.Equal(BackendStateChangeKind.Throttled, e.Kind));
    }

    [Fact]
    public void OnChanged_ProbeVerdict_RecordsTheNewVerdict()
    {
        var time = TestClock.Create();
        using var registry = Registry("a");
        var updater = Updater(time);
        using var log = new BackendEventLog(updater, registry, time);

        updater.OnProbeVerdict(registry.Catalog.Backends[0], HealthStatus.Unreachable, 0, TimeSpan.FromMilliseconds(12), time.GetUtcNow().UtcTicks);

        var single = Assert.Single(log.Snapshot());
        Assert.Equal(BackendStateChangeKind.ProbeVerdictChanged, single.Kind);
        Assert.Equal(HealthStatus.Unreachable, single.Verdict);
    }

    [Fact]
    public void Sample_AfterTraffic_RecordsOnlyTheIntervalsDifference()
    {
        var time = TestClock.Create();
        using var registry = Registry("a", "b");
        var ledger = new UsageLedger();
        ledger.Record("a", "chat", "web", new Usage(10, 5), estimated: false);
        using var history = new UsageHistory(ledger, registry, time, NullLogger<UsageHistory>.Instance);
        history.TakeBaseline(); // as Start does, without the timer: what happened before is not in the first interval

        ledger.Record("a", "chat", "web", new Usage(100, 20), estimated: false);
        ledger.Record("b", "chat", "batch", new Usage(7, 3), estimated: false);
        Updater(time).OnThrottled(registry.Catalog.Backends.Single(s => s.Name == "b"), "chat", TimeSpan.FromSeconds(5));
        time.Advance(UsageHistory.Interval);
        history.Sample();
        time.Advance(UsageHistory.Interval);
        history.Sample();

        var report = history.Report(time.GetUtcNow());
        Assert.Equal(2, report.Times.Length);
        var a = report.Backends.Single(s => s.Name == "a");
        Assert.Equal([1L, 0L], a.Requests);
        Assert.Equal([120L, 0L], a.Tokens);
        var b = report.Backends.Single(s => s.Name == "b");
        Assert.Equal([1L, 0L], b.Throttles);
        Assert.Equal(["batch", "web"], report.Consumers.Select(c => c.Name));
        Assert.Equal([10L, 0L], report.Consumers[0].Tokens);
    }

    [Fact]
    public void Snapshot_MoreSamplesThanLength_KeepsTheLastTenMinutes()
    {
        var time = TestClock.Create();
        using var registry = Registry("a");
        using var history = new UsageHistory(new UsageLedger(), registry, time, NullLogger<UsageHistory>.Instance);

        for (var i = 0; i < UsageHistory.Length + 7; i++)
        {
            time.Advance(UsageHistory.Interval);
            history.Sample();
        }

        var samples = history.Snapshot();
        Assert.Equal(UsageHistory.Length, samples.Length);
        Assert.Equal(time.GetUtcNow().UtcTicks, samples[^1].At);
        Assert.Equal(TimeSpan.FromMinutes(10) - UsageHistory.Interval, TimeSpan.FromTicks(samples[^1].At - samples[0].At));
    }

    private sealed class StaticOptionsMonitor(GatewayOptions value) : IOptionsMonitor<GatewayOptions>
    {
        public GatewayOptions CurrentValue => value;
        public GatewayOptions Get(string? name) => value;
        public IDisposable? OnChange(Action<GatewayOptions, string?> listener) => null;
    }
}
