using AoaiAspire.Backends.State;
using AoaiAspire.Backends.Configuration;
using AoaiAspire.Gateway.Configuration;
using AoaiAspire.Gateway.Availability;
using AoaiAspire.Gateway.LoadBalancing;
using AoaiAspire.Tests.Common;

namespace AoaiAspire.Tests.Gateway;

public sealed class BackendSelectorTests
{
    private static readonly CircuitBreakerOptionsSnapshot Circuit = new(ConsecutiveFailures: 3, FailureRatio: 0.5, MinimumThroughput: 10, SamplingTicks: TimeSpan.FromSeconds(30).Ticks, BreakTicks: TimeSpan.FromSeconds(30).Ticks);

    internal static DeploymentRoute Route(params (string Name, int Priority, int Weight)[] backends)
    {
        var states = backends.Select(b => new BackendState(new BackendDefinition(
            b.Name, new Uri($"http://{b.Name}.example/"), b.Name, b.Priority, b.Weight, "key",
            new Dictionary<string, string> { ["chat"] = "chat-" + b.Name }))).ToList();
        return new BackendCatalog(states).Routes["chat"];
    }

    private static string PickName(BackendSelector selector, DeploymentRoute route, long now, ulong tried = 0)
    {
        var i = selector.Select(route, tried, now, out _);
        return i < 0 ? "none" : route.Candidates[i].Backend.Name;
    }

    [Fact]
    public void Select_PriorityGroups_PrefersLowestGroup()
    {
        var route = Route(("fallback", 2, 1), ("ptu", 1, 1));
        var selector = new BackendSelector(new WeightedPolicy(new Random(1)));
        var now = DateTimeOffset.UtcNow.UtcTicks;
        for (var i = 0; i < 50; i++)
        {
            Assert.Equal("ptu", PickName(selector, route, now));
        }
    }

    [Fact]
    public void Select_ThrottledPrimary_FallsBackUntilRetryAfterPasses()
    {
        var route = Route(("ptu", 1, 1), ("paygo", 2, 1));
        var selector = new BackendSelector(new WeightedPolicy(new Random(1)));
        var clock = TestClock.Create();
        route.Candidates[0].State.ExtendThrottle("chat", clock.GetUtcNow().UtcTicks + TimeSpan.FromSeconds(10).Ticks);

        Assert.Equal("paygo", PickName(selector, route, clock.GetUtcNow().UtcTicks));
        clock.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal("ptu", PickName(selector, route, clock.GetUtcNow().UtcTicks));
    }

    [Fact]
    public void Select_TriedCandidates_AreSkipped()
    {
        var route = Route(("a", 1, 1), ("b", 1, 1), ("c", 2, 1));
        var selector = new BackendSelector(new RoundRobinPolicy());
        var now = DateTimeOffset.UtcNow.UtcTicks;
        var first = selector.Select(route, 0, now, out _);
        var second = selector.Select(route, 1UL << first, now, out _);
        var third = selector.Select(route, (1UL << first) | (1UL << second), now, out _);
        Assert.NotEqual(first, second);
        Assert.Equal("c", route.Candidates[third].Backend.Name);
        Assert.Equal(-1, selector.Select(route, 0b111, now, out var none));
        Assert.False(none.AllThrottled);
    }

    [Fact]
    public void Select_AllThrottled_ReportsSoonestRetry()
    {
        var route = Route(("a", 1, 1), ("b", 2, 1));
        var selector = new BackendSelector(new WeightedPolicy(new Random(1)));
        var now = DateTimeOffset.UtcNow.UtcTicks;
        route.Candidates[0].State.ExtendThrottle("chat", now + TimeSpan.FromSeconds(20).Ticks);
        route.Candidates[1].State.ExtendThrottle("chat", now + TimeSpan.FromSeconds(5).Ticks);

        Assert.Equal(-1, selector.Select(route, 0, now, out var none));
        Assert.True(none.AllThrottled);
        Assert.Equal(now + TimeSpan.FromSeconds(5).Ticks, none.RetryAt);
    }

    [Fact]
    public void Select_ThrottledAndCircuitOpen_IsNotAllThrottled()
    {
        var route = Route(("a", 1, 1), ("b", 1, 1));
        var selector = new BackendSelector(new WeightedPolicy(new Random(1)));
        var now = DateTimeOffset.UtcNow.UtcTicks;
        route.Candidates[0].State.ExtendThrottle("chat", now + TimeSpan.FromSeconds(20).Ticks);
        for (var i = 0; i < 3; i++)
        {
            route.Candidates[1].State.RecordFailure(now, Circuit);
        }
        Assert.Equal(-1, selector.Select(route, 0, now, out var none));
        Assert.False(none.AllThrottled);
    }

    [Fact]
    public void Select_Weights_SplitTrafficInProportion()
    {
        var route = Route(("big", 1, 3), ("small", 1, 1));
        var selector = new BackendSelector(new WeightedPolicy(new Random(42)));
        var now = DateTimeOffset.UtcNow.UtcTicks;
        var big = Enumerable.Range(0, 4000).Count(_ => PickName(selector, route, now) == "big");
        Assert.InRange(big, 2800, 3200);
    }

    [Fact]
    public void Select_RoundRobin_AlternatesWithinGroup()
    {
        var route = Route(("a", 1, 1), ("b", 1, 5), ("z", 2, 1));
        var selector = new BackendSelector(new RoundRobinPolicy());
        var now = DateTimeOffset.UtcNow.UtcTicks;
        var picks = Enumerable.Range(0, 6).Select(_ => PickName(selector, route, now)).ToList();
        Assert.Equal(3, picks.Count(p => p == "a"));
        Assert.Equal(3, picks.Count(p => p == "b"));
        Assert.All(picks.Zip(picks.Skip(1)), pair => Assert.NotEqual(pair.First, pair.Second));
    }

    [Fact]
    public void Select_LeastLatency_PrefersFasterBackend()
    {
        var route = Route(("slow", 1, 1), ("fast", 1, 1));
        var selector = new BackendSelector(new LeastLatencyPolicy(new Random(5), new FakeTimeProvider(new DateTimeOffset(DateTimeOffset.UtcNow.UtcTicks, TimeSpan.Zero))));
        var now = DateTimeOffset.UtcNow.UtcTicks;
        route.Candidates.Single(c => c.Backend.Name == "slow").State.RecordSuccess(now, TimeSpan.FromMilliseconds(400), 0.3, Circuit.SamplingTicks);
        route.Candidates.Single(c => c.Backend.Name == "fast").State.RecordSuccess(now, TimeSpan.FromMilliseconds(40), 0.3, Circuit.SamplingTicks);
        var fast = Enumerable.Range(0, 1000).Count(_ => PickName(selector, route, now) == "fast");
        Assert.InRange(fast, 970, 1000);
    }

    [Fact]
    public void Select_LeastLatency_StaleSlowBackend_GetsARequestToShowItRecovered()
    {
        var clock = TestClock.Create();
        var route = Route(("slow", 1, 1), ("fast", 1, 1));
        var selector = new BackendSelector(new LeastLatencyPolicy(new Random(5), clock));
        var start = clock.GetUtcNow().UtcTicks;
        route.Candidates.Single(c => c.Backend.Name == "slow").State.RecordSuccess(start, TimeSpan.FromMilliseconds(1000), 0.3, Circuit.SamplingTicks);
        route.Candidates.Single(c => c.Backend.Name == "fast").State.RecordSuccess(start, TimeSpan.FromMilliseconds(40), 0.3, Circuit.SamplingTicks);
        Assert.Equal("fast", PickName(selector, route, start));

        clock.Advance(LeastLatencyPolicy.StaleAfter + TimeSpan.FromSeconds(1));
        var now = clock.GetUtcNow().UtcTicks;
        route.Candidates.Single(c => c.Backend.Name == "fast").State.RecordSuccess(now, TimeSpan.FromMilliseconds(40), 0.3, Circuit.SamplingTicks);
        Assert.Equal("slow", PickName(selector, route, now));
    }

    [Fact]
    public void Select_LeastLatency_SimilarLatencies_ShareTheLoad()
    {
        var route = Route(("a", 1, 1), ("b", 1, 1));
        var selector = new BackendSelector(new LeastLatencyPolicy(new Random(5), new FakeTimeProvider(new DateTimeOffset(DateTimeOffset.UtcNow.UtcTicks, TimeSpan.Zero))));
        var now = DateTimeOffset.UtcNow.UtcTicks;
        route.Candidates.Single(c => c.Backend.Name == "a").State.RecordSuccess(now, TimeSpan.FromMilliseconds(40), 0.3, Circuit.SamplingTicks);
        route.Candidates.Single(c => c.Backend.Name == "b").State.RecordSuccess(now, TimeSpan.FromMilliseconds(44), 0.3, Circuit.SamplingTicks);
        var a = Enumerable.Range(0, 4000).Count(_ => PickName(selector, route, now) == "a");
        Assert.InRange(a, 2000, 2400); // 1/40² : 1/44² is 55 : 45
    }

    [Fact]
    public void Select_ProbeReportsUnreachable_BackendSkipped()
    {
        var route = Route(("a", 1, 1), ("b", 2, 1));
        var selector = new BackendSelector(new WeightedPolicy(new Random(1)));
        var now = DateTimeOffset.UtcNow.UtcTicks;
        route.Candidates[0].State.SetProbeVerdict(HealthStatus.Unreachable, 0, TimeSpan.Zero, now);
        Assert.Equal("b", PickName(selector, route, now));
        route.Candidates[0].State.SetProbeVerdict(HealthStatus.Healthy, 0, TimeSpan.Zero, now);
        Assert.Equal("a", PickName(selector, route, now));
    }

    [Fact]
    public void Select_ProbeVerdictPastItsLifetime_NoLongerKeepsBackendOut()
    {
        var route = Route(("a", 1, 1), ("b", 2, 1));
        var selector = new BackendSelector(new WeightedPolicy(new Random(1)));
        var now = DateTimeOffset.UtcNow.UtcTicks;
        route.Candidates[0].State.SetProbeVerdict(HealthStatus.Unreachable, 0, TimeSpan.Zero, now, validUntil: now + TimeSpan.FromMinutes(1).Ticks);
        Assert.Equal("b", PickName(selector, route, now));
        Assert.Equal("a", PickName(selector, route, now + TimeSpan.FromMinutes(1).Ticks));
    }
}
