using System.Net;
using AoaiAspire.Simulator;
using AoaiAspire.Tests.Common;
using AoaiAspire.Tests.Gateway;
using Azure.Core;
using Microsoft.Extensions.DependencyInjection;

namespace AoaiAspire.Tests.Security;

/// <summary>Entra ID tokens upstream, end to end against an account with key authentication disabled.</summary>
public sealed class UpstreamAuthenticationTests
{
    private const string ChatPath = "/openai/deployments/chat/chat/completions?api-version=2024-10-21";

    /// <summary>A credential that hands out numbered tokens and counts the calls.</summary>
    private sealed class CountingCredential(TimeSpan lifetime, string prefix = "entra-token") : TokenCredential
    {
        private int _calls;
        public int Calls => Volatile.Read(ref _calls);
        public string[]? LastScopes { get; private set; }

        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken)
            => GetTokenAsync(requestContext, cancellationToken).AsTask().GetAwaiter().GetResult();

        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken)
        {
            LastScopes = requestContext.Scopes;
            var n = Interlocked.Increment(ref _calls);
            return ValueTask.FromResult(new AccessToken(n == 1 ? prefix : $"{prefix}-{n}", DateTimeOffset.UtcNow + lifetime));
        }
    }

    private static SimulatedAccountOptions KeylessAccount(string name, string expectedToken)
    {
        var account = Simulators.Account(name);
        account.ApiKey = null;
        account.RequireBearerToken = true;
        account.ExpectedBearerToken = expectedToken;
        return account;
    }

    [Fact]
    public async Task BackendWithOnlyAnAspireConnectionStringIsCalledWithOneCachedEntraToken()
    {
        await using var sims = await SimulatorHost.StartAsync([KeylessAccount("entra", "entra-token")]);
        var credential = new CountingCredential(TimeSpan.FromHours(1));
        var settings = new Dictionary<string, string?>
        {
            ["Gateway:AllowAnonymous"] = "true",
            ["Gateway:Backends:entra:Connection"] = "aoai-entra",
            ["Gateway:Backends:entra:Deployments:chat"] = "chat",
            ["ConnectionStrings:aoai-entra"] = $"Endpoint={sims["entra"].Endpoint.AbsoluteUri};Deployment=chat",
        };
        await using var gateway = await GatewayTestHost.StartAsync(settings,
            configureServices: s => s.AddSingleton(new Lazy<TokenCredential>(() => credential)));

        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await gateway.Client.PostAsync(ChatPath, GatewayRoutingTests.Chat())).StatusCode);
        }
        Assert.Equal(1, credential.Calls);
        Assert.Equal(["https://cognitiveservices.azure.com/.default"], credential.LastScopes!);
        Assert.Equal(5, sims["entra"].Stats.Succeeded);
    }

    [Fact]
    public async Task TokenCloseToExpiryIsRefreshedInTheBackgroundWithoutFailingRequests()
    {
        await using var sims = await SimulatorHost.StartAsync([KeylessAccount("entra", "entra-token")]);
        // Four minutes left: inside the five-minute refresh window, still valid.
        var credential = new CountingCredential(TimeSpan.FromMinutes(4));
        var settings = GatewayTestHost.Backends(("entra", sims["entra"].Endpoint, null, 1));
        await using var gateway = await GatewayTestHost.StartAsync(settings,
            configureServices: s => s.AddSingleton(new Lazy<TokenCredential>(() => credential)));

        Assert.Equal(HttpStatusCode.OK, (await gateway.Client.PostAsync(ChatPath, GatewayRoutingTests.Chat())).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await gateway.Client.PostAsync(ChatPath, GatewayRoutingTests.Chat())).StatusCode);
        await Wait.UntilAsync(() => credential.Calls >= 2, because: "the second request started a background refresh");
    }

    [Fact]
    public async Task WrongTokenOnOneBackendFailsOverToAnother()
    {
        await using var sims = await SimulatorHost.StartAsync([KeylessAccount("strict", "other-token"), Simulators.Account("keyed")]);
        var credential = new CountingCredential(TimeSpan.FromHours(1));
        var settings = GatewayTestHost.Backends(("strict", sims["strict"].Endpoint, null, 1), ("keyed", sims["keyed"].Endpoint, sims["keyed"].Options.ApiKey, 2));
        await using var gateway = await GatewayTestHost.StartAsync(settings,
            configureServices: s => s.AddSingleton(new Lazy<TokenCredential>(() => credential)));

        var response = await gateway.Client.PostAsync(ChatPath, GatewayRoutingTests.Chat());
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("keyed", response.Headers.GetValues("x-aoai-backend").Single());
        Assert.Equal(1, sims["strict"].Stats.Requests);
    }
}
