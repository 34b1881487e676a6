using System.Net;
using System.Text;
using AoaiAspire.Gateway.Forwarding;
using AoaiAspire.Simulator;
using AoaiAspire.Tests.Common;

namespace AoaiAspire.Tests.Gateway;

public sealed class QueryParameterTests
{
    [Theory]
    [InlineData("?api-version=2024-10-21", true)]
    [InlineData("?x=1&api-version=2024-10-21", true)]
    [InlineData("?API-VERSION=1", true)]
    [InlineData("?api-version", true)]
    [InlineData("?api-version=", true)]
    [InlineData("?&&api-version=1&&", true)]
    [InlineData("?api-versionx=1", false)]
    [InlineData("?x=api-version", false)]
    [InlineData("?xapi-version=1", false)]
    [InlineData("?", false)]
    [InlineData("", false)]
    [InlineData(null, false)]
    [InlineData("?&&&=&=", false)]
    public void FindsANamedParameterWithoutParsingTheQuery(string? query, bool expected)
        => Assert.Equal(expected, GatewayRequestHandler.HasQueryParameter(query, "api-version"));

    [Theory]
    [InlineData("?api%2Dversion=2024-10-21", true)]
    [InlineData("?x=%41&api-version=2024-10-21", true)]
    [InlineData("?api%2Dversionx=1", false)]
    [InlineData("?x=api-version", false)]
    public async Task AnEscapedNameIsDecodedAsAzureWould(string query, bool served)
    {
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("a")]);
        await using var gateway = await GatewayTestHost.StartAsync(Simulators.GatewaySettings(sims));
        using var response = await gateway.Client.PostAsync("/openai/deployments/chat/chat/completions" + query,
            new StringContent("""{"messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json"));
        Assert.Equal(served ? HttpStatusCode.OK : HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal(served, response.Headers.Contains("x-aoai-backend"));
    }
}
