using AoaiAspire.Gateway.Configuration;
using AoaiAspire.Gateway.Availability;
using AoaiAspire.Gateway.LoadBalancing;
using AoaiAspire.Tests.Common;
using AoaiAspire.Tests.Gateway;
using Microsoft.Extensions.Options;

namespace AoaiAspire.Tests.Availability;

/// <summary>In-flight attempts, the overdue rule and the power of two choices, on a clock the test moves.</summary>
public sealed class OutstandingAttemptsTests
{
    private static readonly OverdueOptions Overdue = new() { LatencyMultiplier = 3, MinDelay = TimeSpan.FromMilliseconds(500), MaxDelay = TimeSpan.FromSeconds(10) };

    private static long Now(FakeTimeProvider clock) => clock.GetUtcNow().UtcTicks;

    [Fact]
    public void BeginAndEnd_CountAndOldest_FollowTheAttempts()
    {
        var clock = TestClock.Create();
        var outstanding = new OutstandingAttempts();
        var first = outstanding.Begin(Now(clock));
        clock.Advance(TimeSpan.FromMilliseconds(100));
        var second = outstanding.Begin(Now(clock));
        clock.Advance(TimeSpan.FromMilliseconds(100));

        Assert.Equal(2, outstanding.Count);
        Assert.Equal(TimeSpan.FromMilliseconds(200), outstanding.OldestAge(Now(clock)));

        outstanding.End(first, Now(clock), answered: true);
        Assert.Equal(1, outstanding.Count);
        Assert.Equal(TimeSpan.FromMilliseconds(100), outstanding.OldestAge(Now(clock)));
        Assert.Equal(Now(clock), outstanding.LastAnsweredAt);

        outstanding.End(second, Now(clock), answered: false);
        Assert.Equal(0, outstanding.Count);
        Assert.Equal(TimeSpan.Zero, outstanding.OldestAge(Now(clock)));
    }

    [Fact]
    public void Begin_BeyondTrackedSlots_StillCounts_AndFreedSlotsAreReused()
    {
        var clock = TestClock.Create();
        var outstanding = new OutstandingAttempts();
        var attempts = Enumerable.Range(0, OutstandingAttempts.TrackedSlots + 4).Select(_ => outstanding.Begin(Now(clock))).ToList();
        Assert.Equal(OutstandingAttempts.TrackedSlots + 4, outstanding.Count);
        Assert.Equal(4, attempts.Count(a => a.Slot < 0));

        foreach (var attempt in attempts)
        {
            outstanding.End(attempt, Now(clock), answered: true);
        }
        Assert.Equal(0, outstanding.Count);
        Assert.True(outstanding.Begin(Now(clock)).Slot >= 0);
    }

    [Fact]
    public void IsOverdue_SilentPastItsOwnLatency_ThenAnswering_ClearsIt()
    {
        var clock = TestClock.Create();
        var state = BackendSelectorTests.Route(("a", 1, 1)).Candidates[0].State;
        state.RecordSuccess(Now(clock), TimeSpan.FromMilliseconds(300), 1.0, TimeSpan.FromSeconds(30).Ticks); // allowance 3 × 300 ms = 900 ms
        var stuck = state.Outstanding.Begin(Now(clock));

        clock.Advance(TimeSpan.FromMilliseconds(850));
        Assert.False(state.IsOverdue(Now(clock), Overdue));
        clock.Advance(TimeSpan.FromMilliseconds(100));
        Assert.True(state.IsOverdue(Now(clock), Overdue));
        Assert.False(state.IsOverdue(Now(clock), new OverdueOptions { Enabled = false }));

        state.Outstanding.End(stuck, Now(clock), answered: true);
        Assert.False(state.IsOverdue(Now(clock), Overdue));
    }

    [Fact]
    public void IsOverdue_OneLongAttemptAmongAnsweringOnes_IsNotASilence()
    {
        var clock = TestClock.Create();
        var state = BackendSelectorTests.Route(("a", 1, 1)).Candidates[0].State;
        state.RecordSuccess(Now(clock), TimeSpan.FromMilliseconds(100), 1.0, TimeSpan.FromSeconds(30).Ticks); // allowance: the 500 ms floor
        state.Outstanding.Begin(Now(clock)); // a long completion
        for (var i = 0; i < 10; i++)
        {
            clock.Advance(TimeSpan.FromMilliseconds(300));
            var quick = state.Outstanding.Begin(Now(clock));
            state.Outstanding.End(quick, Now(clock), answered: true);
            Assert.False(state.IsOverdue(Now(clock), Overdue));
        }
        clock.Advance(TimeSpan.FromMilliseconds(600)); // nothing answers any more
        Assert.True(state.IsOverdue(Now(clock), Overdue));
    }

    [Fact]
    public void Allowance_IsBoundedAndMaxBeforeAnyMeasure()
    {
        Assert.Equal(TimeSpan.FromSeconds(10).Ticks, BackendState.Allowance(double.NaN, 3, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(10)));
        Assert.Equal(TimeSpan.FromMilliseconds(500).Ticks, BackendState.Allowance(10, 3, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(10)));
        Assert.Equal(TimeSpan.FromMilliseconds(1200).Ticks, BackendState.Allowance(400, 3, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(10)));
        Assert.Equal(TimeSpan.FromSeconds(10).Ticks, BackendState.Allowance(60_000, 3, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(10)));
    }

    [Theory]
    [InlineData(LoadBalancingPolicies.Weighted)]
    [InlineData(LoadBalancingPolicies.RoundRobin)]
    public void Select_OverdueBackend_IsPassedOverWhateverThePolicy_UntilItAnswers(string policyName)
    {
        var clock = TestClock.Create();
        var route = BackendSelectorTests.Route(("frozen", 1, 1), ("healthy", 1, 1), ("fallback", 2, 1));
        ILoadBalancingPolicy policy = policyName == LoadBalancingPolicies.Weighted ? new WeightedPolicy(new Random(7)) : new RoundRobinPolicy();
        var selector = new BackendSelector(policy, new StaticOptions(new GatewayOptions { Routing = { Overdue = Overdue } }));
        var frozen = route.Candidates[0].State;
        var stuck = frozen.Outstanding.Begin(Now(clock));
        clock.Advance(TimeSpan.FromSeconds(11)); // past even the ceiling

        for (var i = 0; i < 40; i++)
        {
            Assert.Equal("healthy", route.Candidates[selector.Select(route, 0, Now(clock), out _)].Backend.Name);
        }
        // With the healthy one tried, the overdue one stays out while the lower group can serve.
        Assert.Equal("fallback", route.Candidates[selector.Select(route, 0b010, Now(clock), out _)].Backend.Name);
        // When nothing else is left, an overdue backend is still better than none.
        Assert.Equal("frozen", route.Candidates[selector.Select(route, 0b110, Now(clock), out _)].Backend.Name);

        frozen.Outstanding.End(stuck, Now(clock), answered: true);
        var picks = Enumerable.Range(0, 40).Select(i => route.Candidates[selector.Select(route, 0, Now(clock), out var none)].Backend.Name).ToList();
        Assert.Contains("frozen", picks);
    }

    [Fact]
    public void WeightedPolicy_PrefersFewerOutstandingPerWeight()
    {
        var route = BackendSelectorTests.Route(("busy", 1, 1), ("idle", 1, 1));
        var policy = new WeightedPolicy(new Random(3));
        ReadOnlySpan<int> both = [0, 1];
        for (var i = 0; i < 3; i++)
        {
            route.Candidates[0].State.Outstanding.Begin(1);
        }
        for (var i = 0; i < 50; i++)
        {
            Assert.Equal(1, policy.Pick(route, both, 0));
        }

        // Weight 4 against 1: 3 outstanding on the heavy one is 3 / 4 per weight, less than the light one's 1 / 1.
        var weighted = BackendSelectorTests.Route(("heavy", 1, 4), ("light", 1, 1));
        for (var i = 0; i < 3; i++)
        {
            weighted.Candidates[0].State.Outstanding.Begin(1);
        }
        weighted.Candidates[1].State.Outstanding.Begin(1);
        for (var i = 0; i < 50; i++)
        {
            Assert.Equal(0, policy.Pick(weighted, both, 0));
        }
    }

    [Fact]
    public void WeightedPolicy_WithoutLoad_FollowsTheWeights()
    {
        var route = BackendSelectorTests.Route(("heavy", 1, 3), ("light", 1, 1), ("other", 1, 1));
        var policy = new WeightedPolicy(new Random(11));
        ReadOnlySpan<int> all = [0, 1, 2];
        var counts = new int[3];
        for (var i = 0; i < 5000; i++)
        {
            counts[policy.Pick(route, all, 0)]++;
        }
        // No load: the first draw wins ties, so the shares are the weights' (3/5, 1/5, 1/5), within a wide margin.
        Assert.InRange(counts[0], 2700, 3300);
        Assert.InRange(counts[1], 800, 1200);
        Assert.InRange(counts[2], 800, 1200);
    }

    [Fact]
    public void BeginSelectEnd_AllocateNothingPerRequest()
    {
        var clock = TestClock.Create();
        var route = BackendSelectorTests.Route(("a", 1, 2), ("b", 1, 1), ("c", 2, 1));
        var selector = new BackendSelector(new WeightedPolicy(new Random(5)), new StaticOptions(new GatewayOptions { Routing = { Overdue = Overdue } }));
        route.Candidates[1].State.RecordSuccess(Now(clock), TimeSpan.FromMilliseconds(100), 0.3, TimeSpan.FromSeconds(30).Ticks);
        var held = route.Candidates[1].State.Outstanding.Begin(Now(clock)); // one outstanding, so the overdue check does its work
        var firstByte = new StreamFirstByteOptions();
        void OneRequest()
        {
            var index = selector.Select(route, 0, Now(clock), out _);
            var state = route.Candidates[index].State;
            var attempt = state.Outstanding.Begin(Now(clock));
            _ = state.FirstByteDeadline(firstByte);
            _ = state.IsOverdue(Now(clock), Overdue);
            state.Outstanding.End(attempt, Now(clock), answered: true);
            clock.Advance(TimeSpan.FromMilliseconds(1));
        }
        OneRequest(); // warm up (JIT, statics)

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            OneRequest();
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        route.Candidates[1].State.Outstanding.End(held, Now(clock), answered: true);
    }

    [Fact]
    public void Validator_RejectsInvertedBounds_NamingTheKey()
    {
        var options = new GatewayOptions { AllowAnonymous = true };
        options.Routing.Overdue.MaxDelay = TimeSpan.FromMilliseconds(100);
        options.Upstream.StreamFirstByte.MinDeadline = TimeSpan.Zero;
        var result = new GatewayOptionsValidator(new TestEnvironment()).Validate(null, options);
        Assert.True(result.Failed);
        Assert.Contains("Gateway:Routing:Overdue:MaxDelay", result.FailureMessage);
        Assert.Contains("Gateway:Upstream:StreamFirstByte:MinDeadline", result.FailureMessage);
    }

    private sealed class StaticOptions(GatewayOptions value) : IOptionsMonitor<GatewayOptions>
    {
        public GatewayOptions CurrentValue => value;
        public GatewayOptions Get(string? name) => value;
        public IDisposable? OnChange(Action<GatewayOptions, string?> listener) => null;
    }

    private sealed class TestEnvironment : Microsoft.Extensions.Hosting.IHostEnvironment
    {
        public string EnvironmentName { get; set; } = "Production";
        public string ApplicationName { get; set; } = "test";
        public string ContentRootPath { get; set; } = "/";
        public Microsoft.Extensions.FileProviders.IFileProvider ContentRootFileProvider { get; set; } = new Microsoft.Extensions.FileProviders.NullFileProvider();
    }
}
