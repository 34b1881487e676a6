using AoaiAspire.Gateway.Availability;
using AoaiAspire.Gateway.LoadBalancing;
using AoaiAspire.Tests.Common;

namespace AoaiAspire.Tests.Gateway;

public sealed class CapacityPolicyTests
{
    [Fact]
    public void Pick_BackendWithoutRoomForTheRequest_IsPassedOver()
    {
        var clock = TestClock.Create();
        var route = BackendSelectorTests.Route(("low", 1, 1), ("high", 1, 1));
        var now = clock.GetUtcNow().UtcTicks;
        route.Candidates.Single(c => c.Backend.Name == "low").Capacity.Observe(tokens: 300, requests: 50, now);
        route.Candidates.Single(c => c.Backend.Name == "high").Capacity.Observe(tokens: 50_000, requests: 50, now);
        var selector = new BackendSelector(new CapacityPolicy(new Random(3), clock));
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal("high", route.Candidates[selector.Select(route, 0, now, out _, estimatedTokens: 400)].Backend.Name);
        }
    }

    [Fact]
    public void Select_WholeGroupWithoutRoom_SpillsToNextGroupBeforeAnyThrottle()
    {
        var clock = TestClock.Create();
        var route = BackendSelectorTests.Route(("ptu", 1, 1), ("paygo", 2, 1));
        var now = clock.GetUtcNow().UtcTicks;
        route.Candidates[0].Capacity.Observe(tokens: 100, requests: 10, now);
        var selector = new BackendSelector(new CapacityPolicy(new Random(3), clock));
        Assert.Equal("paygo", route.Candidates[selector.Select(route, 0, now, out _, estimatedTokens: 400)].Backend.Name);
        // A small request still fits the PTU deployment.
        Assert.Equal("ptu", route.Candidates[selector.Select(route, 0, now, out _, estimatedTokens: 20)].Backend.Name);
    }

    [Fact]
    public void Select_NoGroupHasRoom_FallsBackToAnyAvailableBackend()
    {
        var clock = TestClock.Create();
        var route = BackendSelectorTests.Route(("a", 1, 1), ("b", 2, 1));
        var now = clock.GetUtcNow().UtcTicks;
        route.Candidates[0].Capacity.Observe(0, 0, now);
        route.Candidates[1].Capacity.Observe(0, 0, now);
        var selector = new BackendSelector(new CapacityPolicy(new Random(3), clock));
        Assert.Equal("a", route.Candidates[selector.Select(route, 0, now, out _, estimatedTokens: 400)].Backend.Name);
    }

    [Fact]
    public void Charge_LowersKnownCapacityBetweenResponses_AndOldReadingsExpire()
    {
        var clock = TestClock.Create();
        var capacity = new DeploymentCapacity();
        var now = clock.GetUtcNow().UtcTicks;
        capacity.Observe(1000, 10, now);
        capacity.Charge(300);
        Assert.Equal(700, capacity.RemainingTokens(now));
        Assert.Equal(9, capacity.RemainingRequests(now));
        clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(-1, capacity.RemainingTokens(clock.GetUtcNow().UtcTicks));
    }

    [Fact]
    public void Pick_SpreadsInProportionToRemainingCapacity()
    {
        var clock = TestClock.Create();
        var route = BackendSelectorTests.Route(("big", 1, 1), ("small", 1, 1));
        var now = clock.GetUtcNow().UtcTicks;
        var big = Array.FindIndex(route.Candidates, c => c.Backend.Name == "big");
        route.Candidates[big].Capacity.Observe(90_000, 1000, now);
        route.Candidates[1 - big].Capacity.Observe(30_000, 1000, now);
        var policy = new CapacityPolicy(new Random(11), clock);
        var picks = Enumerable.Range(0, 4000).Count(_ => policy.Pick(route, [0, 1], 100) == big);
        Assert.InRange(picks, 2800, 3200);
    }
}
