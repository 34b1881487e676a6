using AoaiAspire.Simulator.RateLimiting;

namespace AoaiAspire.Tests.Simulator;

public sealed class DeploymentRateLimiterTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero));

    [Fact]
    public void TryAcquire_WithinBudget_AdmitsAndCountsDown()
    {
        var limiter = new DeploymentRateLimiter(1000, 600, _time);

        var first = limiter.TryAcquire(300);
        var second = limiter.TryAcquire(300);

        Assert.True(first.Admitted);
        Assert.True(second.Admitted);
        Assert.Equal(700, first.RemainingTokens);
        Assert.Equal(400, second.RemainingTokens);
        Assert.Equal(99, first.RemainingRequests);
        Assert.Equal(98, second.RemainingRequests);
    }

    [Fact]
    public void TryAcquire_OverTokenBudget_RefusedUntilTheMinuteEnds()
    {
        var limiter = new DeploymentRateLimiter(1000, 600, _time);
        Assert.True(limiter.TryAcquire(800).Admitted);
        _time.Advance(TimeSpan.FromSeconds(20));

        var refused = limiter.TryAcquire(300);

        Assert.False(refused.Admitted);
        Assert.Equal(RateLimitKind.Tokens, refused.LimitedBy);
        Assert.Equal(TimeSpan.FromSeconds(40), refused.RetryAfter);
        Assert.Equal(200, refused.RemainingTokens);

        // A refused request is not charged: what is left still fits.
        Assert.True(limiter.TryAcquire(200).Admitted);

        _time.Advance(TimeSpan.FromSeconds(40));
        var afterWindow = limiter.TryAcquire(300);
        Assert.True(afterWindow.Admitted);
        Assert.Equal(700, afterWindow.RemainingTokens);
    }

    [Fact]
    public void TryAcquire_MoreThanASixthOfRpmInTenSeconds_RefusedUntilTheWindowEnds()
    {
        var limiter = new DeploymentRateLimiter(1_000_000, 12, _time); // 2 per 10 s
        Assert.True(limiter.TryAcquire(1).Admitted);
        _time.Advance(TimeSpan.FromSeconds(3));
        Assert.True(limiter.TryAcquire(1).Admitted);

        var refused = limiter.TryAcquire(1);

        Assert.False(refused.Admitted);
        Assert.Equal(RateLimitKind.Requests, refused.LimitedBy);
        Assert.Equal(TimeSpan.FromSeconds(7), refused.RetryAfter);
        Assert.Equal(0, refused.RemainingRequests);

        _time.Advance(TimeSpan.FromSeconds(7));
        Assert.True(limiter.TryAcquire(1).Admitted);
    }

    [Theory]
    [InlineData(30_000, 180, 30)]
    [InlineData(1_000, 6, 1)]
    [InlineData(100, 1, 1)]
    public void Constructor_NoRequestsPerMinute_SixPerThousandTokens(int tpm, int expectedRpm, int expectedPerWindow)
    {
        var limiter = new DeploymentRateLimiter(tpm, null, _time);

        Assert.Equal(expectedRpm, limiter.RequestsPerMinute);
        Assert.Equal(expectedPerWindow, limiter.RequestsPerWindow);
    }

    [Fact]
    public void Reset_AfterExhaustion_AdmitsAgainAtOnce()
    {
        var limiter = new DeploymentRateLimiter(100, 600, _time);
        Assert.True(limiter.TryAcquire(100).Admitted);
        Assert.False(limiter.TryAcquire(1).Admitted);

        limiter.Reset();

        Assert.True(limiter.TryAcquire(100).Admitted);
    }

    [Fact]
    public async Task TryAcquire_ConcurrentCallers_NeverOverAdmit()
    {
        var limiter = new DeploymentRateLimiter(1000, 6000, _time);

        var results = await Task.WhenAll(Enumerable.Range(0, 200).Select(_ => Task.Run(() => limiter.TryAcquire(10))));

        Assert.Equal(100, results.Count(r => r.Admitted));
    }
}
