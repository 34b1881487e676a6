using System.Net;
using System.Text;
using AoaiAspire.Simulator;
using static AoaiAspire.Tests.Simulator.SimulatorTestAccounts;

namespace AoaiAspire.Tests.Simulator;

public sealed class FaultTests : IAsyncLifetime
{
    private SimulatorHost _host = null!;
    private HttpClient _client = null!;

    private SimulatedAccount Account => _host.Accounts[0];

    public async Task InitializeAsync() => (_host, _client) = await StartAsync();

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _host.DisposeAsync();
    }

    [Theory]
    [InlineData(HttpStatusCode.InternalServerError, "InternalServerError")]
    [InlineData(HttpStatusCode.ServiceUnavailable, "ServiceUnavailable")]
    public async Task ErrorRateOfOneFailsEveryRequestWithAnAoaiError(HttpStatusCode status, string code)
    {
        Account.Faults = status == HttpStatusCode.InternalServerError ? new FaultOptions { ServerErrorRate = 1 } : new FaultOptions { ServiceUnavailableRate = 1 };

        using var chat = await _client.SendAsync(Post(ChatPath, SimpleChat));
        using var embeddings = await _client.SendAsync(Post(EmbeddingsPath, """{"input":"x"}"""));

        Assert.Equal(status, chat.StatusCode);
        Assert.Equal(status, embeddings.StatusCode);
        Assert.Equal(code, await SimulatorEndpointTests.ErrorCodeAsync(chat));
        Assert.Equal("test", chat.Header("x-ms-region"));
        Assert.Equal(2, Account.Stats.Requests);
        Assert.Equal(2, Account.Stats.Failed);
        Assert.Equal(0, Account.Stats.Succeeded);
    }

    [Fact]
    public async Task DropRateOfOneClosesTheConnectionWithoutAResponse()
    {
        Account.Faults = new FaultOptions { DropRate = 1 };

        await Assert.ThrowsAsync<HttpRequestException>(() => _client.SendAsync(Post(ChatPath, SimpleChat)));

        Assert.Equal(1, Account.Stats.Failed);
    }

    [Fact]
    public async Task DownAccountDropsEveryRequestUntilItComesBack()
    {
        Account.Faults = new FaultOptions { Down = true };

        await Assert.ThrowsAsync<HttpRequestException>(() => _client.SendAsync(Post(ChatPath, SimpleChat)));
        await Assert.ThrowsAsync<HttpRequestException>(() => _client.GetAsync("openai/models"));

        Account.Faults = new FaultOptions();
        using var ok = await _client.SendAsync(Post(ChatPath, SimpleChat));

        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal(3, Account.Stats.Requests);
        Assert.Equal(2, Account.Stats.Failed);
        Assert.Equal(1, Account.Stats.Succeeded);
    }

    [Fact]
    public async Task ForceThrottleAnswers429WithThatRetryAfter()
    {
        Account.Faults = new FaultOptions { ForceThrottle = TimeSpan.FromSeconds(7.2) };

        using var response = await _client.SendAsync(Post(ChatPath, SimpleChat));

        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.Equal("8", response.Header("retry-after"));
        Assert.Equal("7200", response.Header("retry-after-ms"));
        Assert.Equal(1, Account.Stats.Throttled);
        Assert.Equal(0, Account.Stats.Failed);
    }

    [Fact]
    public async Task TimeoutFaultAnswers408AfterTheTimeoutDuration()
    {
        Account.Faults = new FaultOptions { TimeoutRate = 1, TimeoutDuration = TimeSpan.Zero };

        using var response = await _client.SendAsync(Post(ChatPath, SimpleChat));

        Assert.Equal(HttpStatusCode.RequestTimeout, response.StatusCode);
        Assert.Equal(1, Account.Stats.Failed);
    }

    [Fact]
    public async Task HangingRequestEndsWhenTheClientGivesUp()
    {
        Account.Faults = new FaultOptions { TimeoutRate = 1, TimeoutDuration = TimeSpan.FromHours(1) };
        using var cancel = new CancellationTokenSource();

        var send = _client.SendAsync(Post(ChatPath, SimpleChat), cancel.Token);
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => send);
    }

    [Fact]
    public async Task PutAdminFaultsChangesTheNextRequest()
    {
        using var before = await _client.SendAsync(Post(ChatPath, SimpleChat));

        using var put = await _client.PutAsync("admin/faults", new StringContent("""{"serverErrorRate":1,"extraLatency":"00:00:00"}""", Encoding.UTF8, "application/json"));
        using var after = await _client.SendAsync(Post(ChatPath, SimpleChat));
        var current = await _client.GetStringAsync("admin/faults");

        Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        Assert.Equal(HttpStatusCode.InternalServerError, after.StatusCode);
        Assert.Equal(1, Account.Faults.ServerErrorRate);
        Assert.Contains("\"serverErrorRate\":1", current);
        Assert.Contains("\"timeoutDuration\":\"00:01:40\"", current);
    }

    [Fact]
    public async Task PutAdminFaultsRejectsAnInvalidShareNamingIt()
    {
        using var put = await _client.PutAsync("admin/faults", new StringContent("""{"dropRate":2}""", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, put.StatusCode);
        Assert.Contains("DropRate", await put.Content.ReadAsStringAsync(TestDeadline.Token));
        Assert.Equal(0, Account.Faults.DropRate);
    }

    [Fact]
    public async Task AdminStatsReportAndResetClearsCountersAndLimits()
    {
        Account.Faults = new FaultOptions { ForceThrottle = TimeSpan.FromSeconds(1) };
        using var throttled = await _client.SendAsync(Post(ChatPath, SimpleChat));
        Account.Faults = new FaultOptions();
        using var ok = await _client.SendAsync(Post(ChatPath, SimpleChat));

        var stats = await _client.GetStringAsync("admin/stats");
        using var reset = await _client.PostAsync("admin/reset", content: null);

        Assert.Contains("\"requests\":2,\"succeeded\":1,\"throttled\":1,\"failed\":0", stats);
        Assert.Contains("\"chat\":{", stats);
        Assert.Equal(HttpStatusCode.NoContent, reset.StatusCode);
        Assert.Equal(0, Account.Stats.Requests);
        Assert.Equal(0, Account.Stats.Throttled);
        Assert.Equal(0, Account.GetDeploymentStats("chat").Succeeded);
    }
}
