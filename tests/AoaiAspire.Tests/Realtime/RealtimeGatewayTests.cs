using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using AoaiAspire.Gateway.Tokens;
using AoaiAspire.Simulator;
using AoaiAspire.Tests.Common;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AoaiAspire.Tests.Realtime;

/// <summary>
/// Realtime sessions through a real gateway to real simulated regions, over loopback WebSockets
/// (System.Net.WebSockets.ClientWebSocket, and a raw socket for frames no client library sends).
/// </summary>
public sealed class RealtimeGatewayTests : IAsyncLifetime
{
    private const string CallerKey = "caller-key-0123456789";
    private SimulatorHost _sims = null!;
    private GatewayTestHost _gateway = null!;
    private readonly LogCapture _logs = new();

    public async Task InitializeAsync()
    {
        _sims = await SimulatorHost.StartAsync([Simulators.Account("a"), Simulators.Account("b")]);
        var settings = Simulators.GatewaySettings(_sims, 1, 2);
        settings.Remove("Gateway:AllowAnonymous");
        settings["Gateway:Consumers:app:Keys:0"] = CallerKey;
        settings["Gateway:Realtime:MaxMessageSize"] = "65536";
        settings["Gateway:Realtime:CloseTimeout"] = "00:00:02";
        _gateway = await GatewayTestHost.StartAsync(settings, logs: _logs);
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _sims.DisposeAsync();
    }

    private Uri WebSocketUri(string pathAndQuery) => new($"ws://127.0.0.1:{_gateway.Address.Port}{pathAndQuery}");

    private async Task<ClientWebSocket> ConnectAsync(string pathAndQuery = "/openai/v1/realtime?model=chat", Action<ClientWebSocketOptions>? configure = null, string? key = CallerKey)
    {
        var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        if (key is not null)
        {
            socket.Options.SetRequestHeader("api-key", key);
        }
        configure?.Invoke(socket.Options);
        await socket.ConnectAsync(WebSocketUri(pathAndQuery), TestDeadline.Token);
        return socket;
    }

    private static async Task SendAsync(WebSocket socket, string json)
        => await socket.SendAsync(Encoding.UTF8.GetBytes(json), WebSocketMessageType.Text, endOfMessage: true, TestDeadline.Token);

    /// <summary>The next whole message as JSON, or null when the other side closed.</summary>
    private static async Task<JsonElement?> ReceiveAsync(WebSocket socket)
    {
        var buffer = new byte[64 * 1024];
        using var message = new MemoryStream();
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer, TestDeadline.Token);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return null;
            }
            message.Write(buffer, 0, result.Count);
            if (result.EndOfMessage)
            {
                return JsonDocument.Parse(message.ToArray()).RootElement.Clone();
            }
        }
    }

    private static async Task<List<JsonElement>> ReceiveUntilAsync(WebSocket socket, string type)
    {
        var events = new List<JsonElement>();
        while (await ReceiveAsync(socket) is { } e)
        {
            events.Add(e);
            if (e.GetProperty("type").GetString() == type)
            {
                return events;
            }
        }
        throw new InvalidOperationException($"Closed before '{type}'; got {string.Join(", ", events.Select(x => x.GetProperty("type").GetString()))}.");
    }

    private void AssertNothingLoggedAsError() => Assert.True(_logs.Since(0, LogLevel.Error).Count == 0, _logs.Summary());

    [Fact]
    public async Task FullSessionIsRelayedBothWaysAndItsUsageRecorded()
    {
        using var socket = await ConnectAsync();
        Assert.Equal("a", socket.HttpResponseHeaders!["x-aoai-backend"].Single());
        Assert.Equal("session.created", (await ReceiveAsync(socket))!.Value.GetProperty("type").GetString());

        await SendAsync(socket, """{"type":"session.update","session":{"instructions":"Be brief.","output_modalities":["text"]}}""");
        var updated = (await ReceiveAsync(socket))!.Value;
        Assert.Equal("session.updated", updated.GetProperty("type").GetString());
        Assert.Equal("Be brief.", updated.GetProperty("session").GetProperty("instructions").GetString());

        await SendAsync(socket, """{"type":"response.create"}""");
        var turn = await ReceiveUntilAsync(socket, "response.done");
        var text = string.Concat(turn.Where(e => e.GetProperty("type").GetString() == "response.output_text.delta").Select(e => e.GetProperty("delta").GetString()));
        Assert.False(string.IsNullOrWhiteSpace(text));
        var usage = turn[^1].GetProperty("response").GetProperty("usage");
        var input = usage.GetProperty("input_tokens").GetInt64();
        var output = usage.GetProperty("output_tokens").GetInt64();

        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", TestDeadline.Token);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, socket.CloseStatus);

        var a = _sims["a"].Realtime;
        await Wait.UntilAsync(() => a.OpenSessions == 0, because: "the backend's side of the session is closed too");
        Assert.Equal(1, a.Sessions);
        Assert.Equal(2, a.MessagesReceived);
        Assert.Equal(1, a.Responses);
        Assert.Equal(0, _sims["b"].Realtime.Sessions);

        // The turn's tokens, as the backend reported them, are in the gateway's ledger for backend, deployment and consumer.
        var ledger = _gateway.Services.GetRequiredService<UsageLedger>();
        await Wait.UntilAsync(() => ledger.Totals(k => k is { Backend: "a", Deployment: "chat", Consumer: "app" }).Prompt == input);
        Assert.Equal((input, output), ledger.Totals(k => k is { Backend: "a", Deployment: "chat", Consumer: "app" }));
        AssertNothingLoggedAsError();
    }

    [Fact]
    public async Task BackendDownBeforeTheUpgradeIsSkippedAndTheSessionOpensOnTheNext()
    {
        _sims["a"].Faults = new FaultOptions { Down = true };
        using var socket = await ConnectAsync();
        Assert.Equal("b", socket.HttpResponseHeaders!["x-aoai-backend"].Single());
        Assert.Equal("2", socket.HttpResponseHeaders!["x-aoai-attempts"].Single());
        Assert.Equal("session.created", (await ReceiveAsync(socket))!.Value.GetProperty("type").GetString());
        await SendAsync(socket, """{"type":"response.create"}""");
        await ReceiveUntilAsync(socket, "response.done");
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, TestDeadline.Token);

        // a was tried (the connection reached it and was dropped) and holds no session; b served the turn.
        Assert.True(_sims["a"].Stats.Requests >= 1);
        Assert.Equal(0, _sims["a"].Realtime.Sessions);
        Assert.Equal(1, _sims["b"].Realtime.Sessions);
        Assert.Equal(1, _sims["b"].Realtime.Responses);
        AssertNothingLoggedAsError();
    }

    [Fact]
    public async Task ThrottledBackendIsBenchedUntilItsRetryAfterAndSessionsGoToTheNext()
    {
        _sims["a"].Faults = new FaultOptions { ForceThrottle = TimeSpan.FromSeconds(60) };
        for (var i = 0; i < 2; i++)
        {
            using var socket = await ConnectAsync();
            Assert.Equal("b", socket.HttpResponseHeaders!["x-aoai-backend"].Single());
            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, TestDeadline.Token);
        }
        // The 429 benched a: the second session did not try it again.
        Assert.Equal(1, _sims["a"].Stats.Throttled);
        Assert.Equal(1, _sims["a"].Stats.Requests);
        Assert.Equal(2, _sims["b"].Realtime.Sessions);
        AssertNothingLoggedAsError();
    }

    [Fact]
    public async Task EveryBackendDownIsA503BeforeTheUpgrade()
    {
        _sims["a"].Faults = new FaultOptions { Down = true };
        _sims["b"].Faults = new FaultOptions { Down = true };
        var ex = await Assert.ThrowsAsync<WebSocketException>(() => ConnectAsync());
        Assert.NotNull(ex);
        var response = await RawUpgradeAsync("/openai/v1/realtime?model=chat", ["api-key: " + CallerKey]);
        Assert.Equal(503, response.Status);
        Assert.Equal("ServiceUnavailable", ErrorCode(response));
    }

    [Fact]
    public async Task CallersKeyRefusedIsA401BeforeTheUpgradeAndNoBackendIsTouched()
    {
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        socket.Options.SetRequestHeader("api-key", "wrong-key-0123456789");
        await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(WebSocketUri("/openai/v1/realtime?model=chat"), TestDeadline.Token));
        Assert.Equal(HttpStatusCode.Unauthorized, socket.HttpStatusCode);

        // The same upgrade on a raw socket, to read the body: Azure OpenAI's error shape and code.
        var response = await RawUpgradeAsync("/openai/v1/realtime?model=chat", ["api-key: wrong-key-0123456789"]);
        Assert.Equal(401, response.Status);
        Assert.Equal("application/json", response.Header("content-type"));
        Assert.Equal("401", ErrorCode(response));

        // A key in the query string is refused unless Gateway:Realtime:AllowKeyInQuery is set, and says so.
        var query = await RawUpgradeAsync("/openai/v1/realtime?model=chat&api-key=" + CallerKey, []);
        Assert.Equal(401, query.Status);
        Assert.Contains("AllowKeyInQuery", query.BodyText, StringComparison.Ordinal);

        Assert.Equal(0, _sims["a"].Stats.Requests + _sims["b"].Stats.Requests);
    }

    [Fact]
    public async Task KeyAsSubprotocolIsAcceptedAndRealtimeIsTheProtocolChosen()
    {
        using var socket = await ConnectAsync(configure: o =>
        {
            o.AddSubProtocol("realtime");
            o.AddSubProtocol("openai-insecure-api-key." + CallerKey);
        }, key: null);
        Assert.Equal("realtime", socket.SubProtocol);
        Assert.Equal("session.created", (await ReceiveAsync(socket))!.Value.GetProperty("type").GetString());
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, TestDeadline.Token);
    }

    [Fact]
    public async Task PreviewPathNeedsApiVersionAndRelaysPreviewEvents()
    {
        var missing = await RawUpgradeAsync("/openai/realtime?deployment=chat", ["api-key: " + CallerKey]);
        Assert.Equal(404, missing.Status);
        Assert.Equal("404", ErrorCode(missing));

        using var socket = await ConnectAsync("/openai/realtime?api-version=2025-04-01-preview&deployment=chat");
        Assert.Equal("session.created", (await ReceiveAsync(socket))!.Value.GetProperty("type").GetString());
        await SendAsync(socket, """{"type":"response.create"}""");
        var turn = await ReceiveUntilAsync(socket, "response.done");
        Assert.Contains(turn, e => e.GetProperty("type").GetString() == "response.text.delta");
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, TestDeadline.Token);
    }

    [Fact]
    public async Task UnknownDeploymentAndPlainGetAreAnsweredBeforeAnyBackend()
    {
        var unknown = await RawUpgradeAsync("/openai/v1/realtime?model=nope", ["api-key: " + CallerKey]);
        Assert.Equal(404, unknown.Status);
        Assert.Equal("DeploymentNotFound", ErrorCode(unknown));

        using var request = new HttpRequestMessage(HttpMethod.Get, "/openai/v1/realtime?model=chat");
        request.Headers.Add("api-key", CallerKey);
        using var plain = await _gateway.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.BadRequest, plain.StatusCode);
        Assert.Equal(0, _sims["a"].Stats.Requests + _sims["b"].Stats.Requests);
    }

    [Fact]
    public async Task OversizeMessageClosesWith1009AndTheGatewayKeepsServing()
    {
        using (var socket = await ConnectAsync())
        {
            Assert.NotNull(await ReceiveAsync(socket));
            var big = "{\"type\":\"conversation.item.create\",\"pad\":\"" + new string('x', 100_000) + "\"}";
            await SendAsync(socket, big);
            Assert.Null(await ReceiveAsync(socket));
            Assert.Equal(WebSocketCloseStatus.MessageTooBig, socket.CloseStatus);
        }
        await Wait.UntilAsync(() => _sims["a"].Realtime.OpenSessions == 0, because: "the backend's leg is closed as well");

        await AssertStillServesAsync();
        AssertNothingLoggedAsError();
    }

    [Fact]
    public async Task MalformedJsonIsPassedThroughAndAnsweredByTheBackendWithAnErrorEvent()
    {
        using var socket = await ConnectAsync();
        Assert.NotNull(await ReceiveAsync(socket));
        await SendAsync(socket, "{not json");
        var error = (await ReceiveAsync(socket))!.Value;
        Assert.Equal("error", error.GetProperty("type").GetString());
        Assert.Equal("invalid_request_error", error.GetProperty("error").GetProperty("type").GetString());
        await SendAsync(socket, """{"type":"response.create"}""");
        await ReceiveUntilAsync(socket, "response.done");
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, TestDeadline.Token);
    }

    [Fact]
    public async Task MalformedFrameAndAbruptCloseEndTheSessionQuietly()
    {
        // A frame no client sends: a reserved opcode (3). The gateway ends the session and the backend's leg.
        using (var tcp = new TcpClient())
        {
            await tcp.ConnectAsync(IPAddress.Loopback, _gateway.Address.Port);
            var stream = tcp.GetStream();
            await HandshakeAsync(stream, "/openai/v1/realtime?model=chat");
            await Wait.UntilAsync(() => _sims["a"].Realtime.OpenSessions == 1);
            await stream.WriteAsync(new byte[] { 0x83, 0x82, 0x01, 0x02, 0x03, 0x04, 0x40, 0x40 });
            var buffer = new byte[4096];
            using var cts = new CancellationTokenSource(TestDeadline.Default);
            try
            {
                while (await stream.ReadAsync(buffer, cts.Token) > 0)
                {
                }
            }
            catch (IOException)
            {
                // Reset instead of a close frame: also an end.
            }
        }
        await Wait.UntilAsync(() => _sims["a"].Realtime.OpenSessions == 0, because: "the gateway closed the backend's leg");

        // The caller vanishes mid-session without a close.
        var socket = await ConnectAsync();
        Assert.NotNull(await ReceiveAsync(socket));
        socket.Abort();
        socket.Dispose();
        await Wait.UntilAsync(() => _sims["a"].Realtime.OpenSessions == 0, because: "the gateway closed the backend's leg");

        await AssertStillServesAsync();
        AssertNothingLoggedAsError();
    }

    private async Task AssertStillServesAsync()
    {
        using var socket = await ConnectAsync();
        Assert.NotNull(await ReceiveAsync(socket));
        await SendAsync(socket, """{"type":"response.create"}""");
        await ReceiveUntilAsync(socket, "response.done");
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, TestDeadline.Token);
        using var chat = await _gateway.Client.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/openai/v1/chat/completions")
        {
            Headers = { { "api-key", CallerKey } },
            Content = new StringContent("""{"model":"chat","messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json"),
        });
        Assert.Equal(HttpStatusCode.OK, chat.StatusCode);
    }

    private static async Task HandshakeAsync(NetworkStream stream, string target)
    {
        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
        var request = $"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\napi-key: {CallerKey}\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        var head = new StringBuilder();
        var one = new byte[1];
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            Assert.Equal(1, await stream.ReadAsync(one, TestDeadline.Token));
            head.Append((char)one[0]);
        }
        Assert.StartsWith("HTTP/1.1 101", head.ToString(), StringComparison.Ordinal);
    }

    private Task<RawResponse> RawUpgradeAsync(string target, IEnumerable<string> headers)
        => RawUpgradeAsync(_gateway.Address, target, headers);

    internal static async Task<RawResponse> RawUpgradeAsync(Uri gateway, string target, IEnumerable<string> headers)
    {
        var outcome = await RawHttp.SendAsync(gateway, RawHttp.Build("GET", target,
            ["Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: " + Convert.ToBase64String(RandomNumberGenerator.GetBytes(16)), .. headers], null),
            TestDeadline.Default);
        return outcome.Response ?? throw new InvalidOperationException("No response.");
    }

    internal static string? ErrorCode(RawResponse response)
        => JsonDocument.Parse(response.Body).RootElement.GetProperty("error").GetProperty("code").GetString();
}
