using AoaiAspire.Backends.Configuration;
using AoaiAspire.Gateway.Availability;

namespace AoaiAspire.Tests.Availability;

public sealed class BackendStateTests
{
    private static readonly CircuitBreakerOptionsSnapshot Options = new(ConsecutiveFailures: 3, FailureRatio: 0.5, MinimumThroughput: 10, SamplingTicks: TimeSpan.FromSeconds(30).Ticks, BreakTicks: TimeSpan.FromSeconds(30).Ticks);
    private static readonly long T0 = new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero).UtcTicks;

    private static BackendState NewState() => new(new BackendDefinition("a", new Uri("http://a/"), "r", 1, 1, "k", new Dictionary<string, string> { ["chat"] = "chat" }));

    [Fact]
    public void RecordFailure_ConsecutiveFailures_OpensCircuit()
    {
        var state = NewState();
        Assert.Equal(0, state.RecordFailure(T0, Options));
        Assert.Equal(0, state.RecordFailure(T0, Options));
        Assert.Equal(T0 + Options.BreakTicks, state.RecordFailure(T0, Options));
        Assert.False(state.IsAvailable(T0 + 1));
        Assert.Equal(CircuitState.Open, state.Circuit);
    }

    [Fact]
    public void RecordSuccess_BetweenFailures_ResetsConsecutiveCount()
    {
        var state = NewState();
        state.RecordFailure(T0, Options);
        state.RecordFailure(T0, Options);
        state.RecordSuccess(T0, TimeSpan.FromMilliseconds(10), 0.3, Options.SamplingTicks);
        Assert.Equal(0, state.RecordFailure(T0, Options));
        Assert.True(state.IsAvailable(T0));
    }

    [Fact]
    public void RecordFailure_RatioOverWindow_OpensCircuit()
    {
        var state = NewState();
        var options = Options with { ConsecutiveFailures = 100 };
        for (var i = 0; i < 5; i++)
        {
            state.RecordSuccess(T0, TimeSpan.FromMilliseconds(10), 0.3, options.SamplingTicks);
            var opened = state.RecordFailure(T0, options);
            Assert.Equal(i == 4 ? T0 + options.BreakTicks : 0, opened);
        }
    }

    [Fact]
    public void OpenCircuit_AfterBreak_AllowsExactlyOneTrial()
    {
        var state = NewState();
        for (var i = 0; i < 3; i++)
        {
            state.RecordFailure(T0, Options);
        }
        var later = T0 + Options.BreakTicks;
        Assert.True(state.IsAvailable(later));
        Assert.True(state.TryBeginAttempt(later));
        Assert.Equal(CircuitState.HalfOpen, state.Circuit);
        Assert.False(state.TryBeginAttempt(later));
        Assert.False(state.IsAvailable(later));

        state.RecordSuccess(later, TimeSpan.FromMilliseconds(5), 0.3, Options.SamplingTicks);
        Assert.Equal(CircuitState.Closed, state.Circuit);
        Assert.True(state.TryBeginAttempt(later));
    }

    [Fact]
    public void HalfOpenTrial_Failure_ReopensCircuit()
    {
        var state = NewState();
        for (var i = 0; i < 3; i++)
        {
            state.RecordFailure(T0, Options);
        }
        var later = T0 + Options.BreakTicks;
        Assert.True(state.TryBeginAttempt(later));
        Assert.Equal(later + Options.BreakTicks, state.RecordFailure(later, Options));
        Assert.False(state.IsAvailable(later + 1));
    }

    [Fact]
    public void ExtendThrottle_NeverShortensAnExistingThrottle()
    {
        var state = NewState();
        Assert.True(state.ExtendThrottle("chat", T0 + 100));
        Assert.False(state.ExtendThrottle("chat", T0 + 50));
        Assert.Equal(T0 + 100, state.ThrottledUntil);
        Assert.Equal(T0 + 100, state.ThrottledUntilFor("chat"));
        Assert.True(state.IsThrottledOnly(T0, state.CapacityOf("chat")));
        Assert.False(state.IsAvailable(T0 + 99, state.CapacityOf("chat")));
        Assert.True(state.IsAvailable(T0 + 100, state.CapacityOf("chat")));
    }

    [Fact]
    public void ExtendThrottle_OneDeployment_LeavesTheOthersOnTheBackendAvailable()
    {
        var state = NewState();
        state.ExtendThrottle("chat", T0 + 100);
        Assert.False(state.IsAvailable(T0, state.CapacityOf("chat")));
        Assert.True(state.IsAvailable(T0, state.CapacityOf("embeddings")));
    }

    [Fact]
    public void RecordSuccess_Latency_IsSmoothed()
    {
        var state = NewState();
        state.RecordSuccess(T0, TimeSpan.FromMilliseconds(100), 0.5, Options.SamplingTicks);
        Assert.Equal(100, state.LatencyMs, 3);
        state.RecordSuccess(T0, TimeSpan.FromMilliseconds(200), 0.5, Options.SamplingTicks);
        Assert.Equal(150, state.LatencyMs, 3);
    }

    [Fact]
    public void EndBreakEarly_OpenCircuit_AllowsTheTrialNow()
    {
        var state = NewState();
        for (var i = 0; i < 3; i++)
        {
            state.RecordFailure(T0, Options);
        }
        Assert.False(state.IsAvailable(T0 + 1));
        Assert.True(state.EndBreakEarly(T0 + 1));
        Assert.True(state.TryBeginAttempt(T0 + 1));
        Assert.Equal(CircuitState.HalfOpen, state.Circuit);
        Assert.False(state.EndBreakEarly(T0 + 2));
    }
}
