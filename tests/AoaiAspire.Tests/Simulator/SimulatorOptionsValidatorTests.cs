using AoaiAspire.Simulator;
using AoaiAspire.Simulator.Hosting;

namespace AoaiAspire.Tests.Simulator;

public sealed class SimulatorOptionsValidatorTests
{
    [Fact]
    public void Validate_DefaultAccount_Succeeds()
    {
        var options = new SimulatorOptions { Accounts = [SimulatorTestAccounts.Account()] };

        Assert.True(new SimulatorOptionsValidator().Validate(null, options).Succeeded);
    }

    [Fact]
    public void Validate_BadDeploymentLimit_NamesTheKey()
    {
        var account = SimulatorTestAccounts.Account();
        account.Deployments["chat"].TokensPerMinute = 0;
        var options = new SimulatorOptions { Accounts = [SimulatorTestAccounts.Account("a"), account] };

        var result = new SimulatorOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains("Simulator:Accounts:1:Deployments:chat:TokensPerMinute", result.FailureMessage);
    }

    [Fact]
    public void Validate_TwoAccountsOnTheAppUrls_FailsNamingThePort()
    {
        var options = new SimulatorOptions { Accounts = [SimulatorTestAccounts.Account("a"), SimulatorTestAccounts.Account("b")] };

        var result = new SimulatorOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains("Simulator:Accounts:1:Port", result.FailureMessage);
    }

    [Fact]
    public void ValidateAccounts_InProcessFreePorts_AllowsManyPortZeroAccounts()
    {
        var errors = SimulatorOptionsValidator.ValidateAccounts([SimulatorTestAccounts.Account("a"), SimulatorTestAccounts.Account("b")], "accounts", standalone: false);

        Assert.Empty(errors);
    }

    [Fact]
    public void ValidateAccounts_DuplicateNamesPortsAndBadFaults_ReportsEach()
    {
        var first = SimulatorTestAccounts.Account("same", a => a.Port = 5101);
        var second = SimulatorTestAccounts.Account("SAME", a =>
        {
            a.Port = 5101;
            a.Faults = new FaultOptions { ServerErrorRate = 0.7, DropRate = 0.7, ForceThrottle = TimeSpan.Zero };
        });

        var errors = SimulatorOptionsValidator.ValidateAccounts([first, second], "Simulator:Accounts", standalone: true);

        Assert.Contains(errors, e => e.StartsWith("Simulator:Accounts:1:Name", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Simulator:Accounts:1:Port", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Simulator:Accounts:1:Faults", StringComparison.Ordinal) && e.Contains("must not exceed 1"));
        Assert.Contains(errors, e => e.StartsWith("Simulator:Accounts:1:Faults:ForceThrottle", StringComparison.Ordinal));
    }

    [Fact]
    public async Task StartAsync_InvalidOptions_ThrowsNamingTheSetting()
    {
        var account = SimulatorTestAccounts.Account(configure: a => a.LatencyScale = -1);

        var error = await Assert.ThrowsAsync<ArgumentException>(() => SimulatorHost.StartAsync([account]));

        Assert.Contains("accounts:0:LatencyScale", error.Message);
    }

    [Fact]
    public async Task StartAsync_SeveralAccounts_EachOnItsOwnPortWithDefaultDeployments()
    {
        await using var host = await SimulatorHost.StartAsync([new SimulatedAccountOptions { Name = "one" }, new SimulatedAccountOptions { Name = "two", Region = "westus" }]);

        Assert.NotEqual(host["one"].Endpoint.Port, host["two"].Endpoint.Port);
        Assert.Equal("127.0.0.1", host["two"].Endpoint.Host);
        Assert.Equal(["chat", "embeddings"], host["one"].DeploymentNames.Order());
        using var client = new HttpClient { BaseAddress = host["two"].Endpoint };
        using var response = await client.SendAsync(new HttpRequestMessage(HttpMethod.Get, "openai/models") { Headers = { { "api-key", "k" } } });
        Assert.Equal("westus", response.Headers.GetValues("x-ms-region").Single());
    }
}
