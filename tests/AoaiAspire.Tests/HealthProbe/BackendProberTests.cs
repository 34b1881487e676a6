using System.Net;
using AoaiAspire.Backends.State;
using AoaiAspire.HealthProbe.Probing;
using AoaiAspire.Simulator;
using AoaiAspire.Tests.Common;

namespace AoaiAspire.Tests.HealthProbe;

/// <summary>One probe against simulated accounts on loopback, each with its own fault.</summary>
public sealed class BackendProberTests : IAsyncLifetime
{
    private SimulatorHost _simulators = null!;
    private readonly InMemoryBackendStateStore _store = new(TimeProvider.System);

    public async Task InitializeAsync() => _simulators = await SimulatorHost.StartAsync(
    [
        ProbeTestKit.Account("healthy"),
        ProbeTestKit.Account("down", new FaultOptions { Down = true }),
        ProbeTestKit.Account("throttled", new FaultOptions { ForceThrottle = TimeSpan.FromSeconds(30) }),
        ProbeTestKit.Account("erroring", new FaultOptions { ServerErrorRate = 1 }),
    ]);

    public async Task DisposeAsync() => await _simulators.DisposeAsync();

    private async Task<ProbeOutcome> ProbeAsync(AoaiAspire.Backends.Configuration.BackendDefinition backend, Azure.Core.TokenCredential? credential = null)
    {
        using var parts = ProbeTestKit.Create(_store, credential: credential);
        return await parts.Prober.ProbeAsync(backend, CancellationToken.None);
    }

    [Fact]
    public async Task HealthyBackendIsHealthyWithItsLatency()
    {
        var outcome = await ProbeAsync(ProbeTestKit.Backend(_simulators["healthy"]));

        Assert.Equal(HealthStatus.Healthy, outcome.Report.Status);
        Assert.Equal(200, outcome.Report.HttpStatus);
        Assert.True(outcome.Report.LatencyMs > 0, $"latency {outcome.Report.LatencyMs} ms");
        Assert.Equal("healthy", outcome.Report.Backend);
        Assert.Equal(_store.InstanceId, outcome.Report.Reporter);
        Assert.Equal(0, outcome.Report.RetryAtUnixMs);
        Assert.Equal(1, _simulators["healthy"].Stats.Requests);
    }

    [Fact]
    public async Task BackendThatDropsEveryConnectionIsUnreachable()
    {
        var outcome = await ProbeAsync(ProbeTestKit.Backend(_simulators["down"]));

        Assert.Equal(HealthStatus.Unreachable, outcome.Report.Status);
        Assert.Null(outcome.Report.HttpStatus);
    }

    [Fact]
    public async Task EndpointWhereNothingListensIsUnreachable()
    {
        var outcome = await ProbeAsync(ProbeTestKit.Backend("nowhere", ProbeTestKit.NothingListening(), "key"));

        Assert.Equal(HealthStatus.Unreachable, outcome.Report.Status);
        Assert.Null(outcome.Report.HttpStatus);
    }

    [Fact]
    public async Task ThrottledBackendIsThrottledUntilItsRetryAfter()
    {
        var before = DateTimeOffset.UtcNow;
        var outcome = await ProbeAsync(ProbeTestKit.Backend(_simulators["throttled"]));
        var after = DateTimeOffset.UtcNow;

        Assert.Equal(HealthStatus.Throttled, outcome.Report.Status);
        Assert.Equal(429, outcome.Report.HttpStatus);
        Assert.InRange(outcome.Report.RetryAtUnixMs, before.AddSeconds(30).ToUnixTimeMilliseconds(), after.AddSeconds(30).ToUnixTimeMilliseconds() + 1);
    }

    [Fact]
    public async Task FailingBackendIsCalledOncePerProbeNeitherRetriedNorCutOffByACircuit()
    {
        // The standard resilience handler would retry a 500 or a 429 and, after enough failures, stop calling;
        // the probe's client is tuned to do neither, so each probe reports one real answer.
        using var parts = ProbeTestKit.Create(_store);
        const int Probes = 120; // above the circuit breaker's minimum throughput of 100
        for (var i = 0; i < Probes; i++)
        {
            Assert.Equal(HealthStatus.Erroring, (await parts.Prober.ProbeAsync(ProbeTestKit.Backend(_simulators["erroring"]), CancellationToken.None)).Report.Status);
        }
        Assert.Equal(HealthStatus.Throttled, (await parts.Prober.ProbeAsync(ProbeTestKit.Backend(_simulators["throttled"]), CancellationToken.None)).Report.Status);

        Assert.Equal(Probes, _simulators["erroring"].Stats.Requests);
        Assert.Equal(1, _simulators["throttled"].Stats.Requests);
    }

    [Fact]
    public async Task BackendAnswering500IsErroring()
    {
        var outcome = await ProbeAsync(ProbeTestKit.Backend(_simulators["erroring"]));

        Assert.Equal(HealthStatus.Erroring, outcome.Report.Status);
        Assert.Equal(500, outcome.Report.HttpStatus);
    }

    [Fact]
    public async Task WrongApiKeyIsAnAuthenticationFailure()
    {
        var outcome = await ProbeAsync(ProbeTestKit.Backend(_simulators["healthy"], apiKey: "not-the-key"));

        Assert.Equal(HealthStatus.AuthFailure, outcome.Report.Status);
        Assert.Equal(401, outcome.Report.HttpStatus);
        Assert.DoesNotContain("not-the-key", outcome.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WrongPathIsErroringWithItsStatus()
    {
        using var parts = ProbeTestKit.Create(_store, ProbeTestKit.Options(o => o.Path = "openai/nothing-here"));
        var outcome = await parts.Prober.ProbeAsync(ProbeTestKit.Backend(_simulators["healthy"]), CancellationToken.None);

        Assert.Equal(HealthStatus.Erroring, outcome.Report.Status);
        Assert.Equal(404, outcome.Report.HttpStatus);
    }

    [Fact]
    public async Task BackendWithoutKeyIsProbedWithOneCachedEntraToken()
    {
        var credential = new CountingCredential("entra-token");
        using var parts = ProbeTestKit.Create(_store, credential: credential);
        var backend = ProbeTestKit.Backend("healthy", _simulators["healthy"].Endpoint, apiKey: null);

        var first = await parts.Prober.ProbeAsync(backend, CancellationToken.None);
        var second = await parts.Prober.ProbeAsync(backend, CancellationToken.None);

        Assert.Equal(HealthStatus.Healthy, first.Report.Status);
        Assert.Equal(HealthStatus.Healthy, second.Report.Status);
        Assert.Equal(1, credential.Calls);
    }

    [Fact]
    public async Task BackendWithoutKeyAndNoEntraIdentityIsAnAuthenticationFailure()
    {
        var outcome = await ProbeAsync(ProbeTestKit.Backend("healthy", _simulators["healthy"].Endpoint, apiKey: null), new FailingCredential());

        Assert.Equal(HealthStatus.AuthFailure, outcome.Report.Status);
        Assert.Null(outcome.Report.HttpStatus);
        Assert.Equal(0, _simulators["healthy"].Stats.Requests);
    }
}

/// <summary>The verdict on an answer, without a network.</summary>
public sealed class ProbeClassificationTests
{
    private static readonly DateTimeOffset Now = TestClock.Create().GetUtcNow();
    private static readonly TimeSpan ThrottleDefault = TimeSpan.FromSeconds(10);

    private static (HealthStatus Status, long RetryAt) Classify(HttpStatusCode code, params (string Name, string Value)[] headers)
    {
        using var response = new HttpResponseMessage(code);
        foreach (var (name, value) in headers)
        {
            response.Headers.TryAddWithoutValidation(name, value);
        }
        var (status, retryAt, _) = BackendProber.Classify(response, Now, ThrottleDefault);
        return (status, retryAt);
    }

    [Theory]
    [InlineData(200, "Healthy")]
    [InlineData(204, "Healthy")]
    [InlineData(401, "AuthFailure")]
    [InlineData(403, "AuthFailure")]
    [InlineData(404, "Erroring")]
    [InlineData(400, "Erroring")]
    [InlineData(500, "Erroring")]
    [InlineData(503, "Erroring")]
    public void Classify_Status_Verdict(int code, string expected)
        => Assert.Equal(Enum.Parse<HealthStatus>(expected), Classify((HttpStatusCode)code).Status);

    [Fact]
    public void Classify_429WithRetryAfterMs_ThrottledUntilThen()
        => Assert.Equal((HealthStatus.Throttled, Now.AddMilliseconds(1500).ToUnixTimeMilliseconds()), Classify(HttpStatusCode.TooManyRequests, ("retry-after-ms", "1500"), ("retry-after", "2")));

    [Fact]
    public void Classify_429WithRetryAfterSeconds_ThrottledUntilThen()
        => Assert.Equal((HealthStatus.Throttled, Now.AddSeconds(7).ToUnixTimeMilliseconds()), Classify(HttpStatusCode.TooManyRequests, ("retry-after", "7")));

    [Fact]
    public void Classify_429WithoutRetryAfter_ThrottledForTheDefault()
        => Assert.Equal((HealthStatus.Throttled, (Now + ThrottleDefault).ToUnixTimeMilliseconds()), Classify(HttpStatusCode.TooManyRequests));

    [Fact]
    public void Classify_Healthy_NoRetryAt()
        => Assert.Equal(0, Classify(HttpStatusCode.OK, ("retry-after", "7")).RetryAt);
}
