using System.Net;
using static AoaiAspire.Tests.Simulator.SimulatorTestAccounts;

namespace AoaiAspire.Tests.Simulator;

public sealed class AuthenticationTests
{
    [Fact]
    public async Task MissingOrWrongKeyIs401AndTheRightKeyOrAnyBearerPasses()
    {
        var (host, client) = await StartAsync();
        await using var hostScope = host;
        using var clientScope = client;

        using var missing = await client.SendAsync(Post(ChatPath, SimpleChat, apiKey: null));
        using var wrong = await client.SendAsync(Post(ChatPath, SimpleChat, apiKey: "not-the-key"));
        using var right = await client.SendAsync(Post(ChatPath, SimpleChat));
        using var bearer = await client.SendAsync(PostBearer(ChatPath, SimpleChat, "any-entra-token"));

        Assert.Equal(HttpStatusCode.Unauthorized, missing.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Equal("401", await SimulatorEndpointTests.ErrorCodeAsync(wrong));
        Assert.Contains("Access denied", await wrong.Content.ReadAsStringAsync(TestDeadline.Token));
        Assert.Equal(HttpStatusCode.OK, right.StatusCode);
        Assert.Equal(HttpStatusCode.OK, bearer.StatusCode);
        Assert.Equal(4, host.Accounts[0].Stats.Requests);
        Assert.Equal(2, host.Accounts[0].Stats.Succeeded);
        Assert.Equal(0, host.Accounts[0].Stats.Failed);
    }

    [Fact]
    public async Task AccountRequiringBearerRefusesKeysAndChecksTheExpectedToken()
    {
        var (host, client) = await StartAsync(a =>
        {
            a.RequireBearerToken = true;
            a.ExpectedBearerToken = "entra-token";
        });
        await using var hostScope = host;
        using var clientScope = client;

        using var key = await client.SendAsync(Post(ChatPath, SimpleChat));
        using var wrongToken = await client.SendAsync(PostBearer(ChatPath, SimpleChat, "other-token"));
        using var rightToken = await client.SendAsync(PostBearer(ChatPath, SimpleChat, "entra-token"));

        Assert.Equal(HttpStatusCode.Unauthorized, key.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, wrongToken.StatusCode);
        Assert.Equal(HttpStatusCode.OK, rightToken.StatusCode);
    }

    [Fact]
    public async Task NoConfiguredKeyAcceptsAnyNonEmptyKey()
    {
        var (host, client) = await StartAsync(a => a.ApiKey = null);
        await using var hostScope = host;
        using var clientScope = client;

        using var anyKey = await client.SendAsync(Post(ChatPath, SimpleChat, apiKey: "whatever"));
        using var emptyBearer = await client.SendAsync(PostBearer(ChatPath, SimpleChat, " "));

        Assert.Equal(HttpStatusCode.OK, anyKey.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, emptyBearer.StatusCode);
    }
}
