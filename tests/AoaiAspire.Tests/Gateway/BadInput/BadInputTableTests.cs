using System.Net;
using AoaiAspire.Tests.Common;
using Xunit.Abstractions;

namespace AoaiAspire.Tests.Gateway.BadInput;

/// <summary>
/// The charter's rule, case by case: bad input gets a 4xx with the Azure OpenAI error JSON (never a 5xx),
/// a gateway-made error spends no backend, a good request right after succeeds, and nothing is logged at
/// Error. Every case goes over a raw socket so the bytes are exactly the table's.
/// </summary>
public sealed class BadInputTableTests(BadInputGateway fixture, ITestOutputHelper output) : IClassFixture<BadInputGateway>
{
    private static readonly TimeSpan CaseTimeout = TimeSpan.FromSeconds(30);

    public static TheoryData<string> Cases => [.. BadInputCases.All.Keys];

    public static TheoryData<string> IsolatedCases => [.. BadInputCases.Isolated.Keys];

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task BadInputGetsClearErrorAndGatewayKeepsServing(string name)
    {
        var failure = await RunAsync(fixture, BadInputCases.All[name], output, checkNoBackendSpent: true);
        Assert.True(failure is null, $"{name}: {failure}");
    }

    [Theory]
    [MemberData(nameof(IsolatedCases))]
    public async Task RepeatedBadInputDoesNotCountAgainstBackends(string name)
    {
        // A gateway of its own: a failure here must not leak into the other cases.
        await using var gateway = new BadInputGateway();
        await gateway.InitializeAsync();
        try
        {
            for (var i = 0; i < 7; i++)
            {
                var failure = await RunAsync(gateway, BadInputCases.Isolated[name], output, checkNoBackendSpent: false);
                Assert.True(failure is null, $"{name}, attempt {i + 1}: {failure}");
            }
        }
        finally
        {
            output.WriteLine(gateway.Logs.Summary());
        }
    }

    /// <summary>Sends one case; null when every part of the rule held, else what broke.</summary>
    internal static async Task<string?> RunAsync(BadInputGateway gateway, BadCase bad, ITestOutputHelper output, bool checkNoBackendSpent)
    {
        var mark = gateway.Logs.Mark;
        var spentBefore = gateway.Sims.Accounts.Sum(a => a.Stats.Requests);
        var outcome = await RawHttp.SendAsync(gateway.Address, bad.Request, CaseTimeout, bad.EndSend, bad.IsHead);
        var spent = gateway.Sims.Accounts.Sum(a => a.Stats.Requests) - spentBefore;
        var problems = new List<string>();
        if (outcome.Response is not { } response)
        {
            if (outcome.TimedOut || !bad.EndSend)
            {
                problems.Add(outcome.TimedOut ? "no answer within " + CaseTimeout : "connection closed without a response");
            }
        }
        else
        {
            var fromBackend = response.Header("x-aoai-backend") is not null;
            output.WriteLine($"{response.Status} {(fromBackend ? "backend " + response.Header("x-aoai-backend") : "gateway")} {response.Header("content-type")} {BadInputGateway.Shorten(response.BodyText)}");
            var kestrelRejected = bad.KestrelReject && response.Body.Length == 0 && response.Status is 400 or 414 or 431 or 505;
            if (kestrelRejected)
            {
                output.WriteLine("(refused by Kestrel's HTTP parser, empty body)");
            }
            else
            {
                if (Charter.Check(response.Status, response.Header("content-type"), response.Body, fromBackend, bad.IsHead, bad.Backend2xx, bad.Gateway2xx) is { } broken)
                {
                    problems.Add(broken);
                }
                var backendAnswered2xx = fromBackend && response.Status is >= 200 and < 300 && bad.Backend2xx;
                if (bad.Statuses.Length > 0 && !bad.Statuses.Contains(response.Status) && !backendAnswered2xx)
                {
                    problems.Add($"status {response.Status}, expected {string.Join(" or ", bad.Statuses)}");
                }
                if (checkNoBackendSpent && !fromBackend && response.Status is >= 400 and < 500 && spent != 0)
                {
                    problems.Add($"a gateway-made {response.Status} still sent {spent} request(s) to a backend");
                }
            }
        }
        if (await gateway.TryGoodRequestAsync() is { } goodFailed)
        {
            problems.Add("after it, " + goodFailed);
        }
        if (gateway.ErrorsSince(mark) is { Length: > 0 } errors)
        {
            problems.Add("logged at Error or above:" + Environment.NewLine + errors);
        }
        return problems.Count == 0 ? null : string.Join("; ", problems);
    }

    [Fact]
    public async Task StalledBodyIsCutOffWhileOthersAreServed()
    {
        // Regression guard (was a gateway bug, fixed): the stalled body is ended with a 408 (right), but the body read's BadHttpRequestException is
        // logged at Error by the exception handler, and the error's code says "BadRequest" for a 408.
        // Headers and 10 of 1,000 promised bytes, then nothing. Kestrel's minimum request body data rate
        // (240 B/s after a 5 s grace; the gateway does not change it and exposes no setting for it) must end it.
        var mark = fixture.Logs.Mark;
        var request = RawHttp.Build("POST", BadInputGateway.ChatPath, ["api-key: " + BadInputGateway.Key, "Content-Type: application/json", "Content-Length: 1000"], null);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var stalled = RawHttp.SendAsync(fixture.Address, [.. request, .. "{\"messages\""u8.ToArray()], TimeSpan.FromSeconds(45), cancellationToken: timeout.Token);

        // Others are served while it hangs.
        for (var i = 0; i < 5 && !stalled.IsCompleted; i++)
        {
            Assert.Null(await fixture.TryGoodRequestAsync());
        }
        var outcome = await stalled;
        Assert.False(outcome.TimedOut, "the stalled request was neither answered nor closed within 45 s");
        if (outcome.Response is { } response)
        {
            output.WriteLine($"{response.Status} {response.BodyText}");
            Assert.InRange(response.Status, 400, 499);
        }
        else
        {
            output.WriteLine("closed without a response");
        }
        Assert.Null(await fixture.TryGoodRequestAsync());
        output.WriteLine(fixture.Logs.Summary(mark));
        Assert.True(fixture.ErrorsSince(mark).Length == 0, "logged at Error: " + fixture.ErrorsSince(mark));
    }

    [Fact]
    public async Task CallerThatResetsMidBodyLeavesNoErrorAndOthersAreServed()
    {
        // Regression guard (was a gateway bug, fixed): each reset logs "Unexpected end of request content" at Error (ExceptionHandlerMiddleware, event 1).
        var mark = fixture.Logs.Mark;
        var spent = fixture.Sims.Accounts.Sum(a => a.Stats.Requests);
        for (var i = 0; i < 20; i++)
        {
            using var client = new System.Net.Sockets.TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, fixture.Address.Port);
            var request = RawHttp.Build("POST", BadInputGateway.ChatPath, ["api-key: " + BadInputGateway.Key, "Content-Type: application/json", "Content-Length: 5000"], null);
            await client.GetStream().WriteAsync((byte[])[.. request, .. "{\"messages\":[{\"role\""u8.ToArray()]);
            client.Client.LingerState = new System.Net.Sockets.LingerOption(true, 0); // close with RST
            client.Close();
        }
        for (var i = 0; i < 5; i++)
        {
            Assert.Null(await fixture.TryGoodRequestAsync());
        }
        Assert.Equal(spent + 5, fixture.Sims.Accounts.Sum(a => a.Stats.Requests));
        output.WriteLine(fixture.Logs.Summary(mark));
        Assert.True(fixture.ErrorsSince(mark).Length == 0, "logged at Error: " + fixture.ErrorsSince(mark));
    }
}
