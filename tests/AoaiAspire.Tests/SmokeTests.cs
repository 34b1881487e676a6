namespace AoaiAspire.Tests;

public sealed class SmokeTests
{
    [Fact]
    public void SimulatorOptions_Default_HasNoAccounts() => Assert.Empty(new AoaiAspire.Simulator.SimulatorOptions().Accounts);
}
