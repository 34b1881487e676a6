using System.Buffers;
using System.Net.WebSockets;
using System.Text.Json;
using AoaiAspire.Simulator.Completions;
using AoaiAspire.Simulator.Endpoints;
using AoaiAspire.Simulator.Hosting;
using AoaiAspire.Simulator.RateLimiting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace AoaiAspire.Simulator.Realtime;

/// <summary>
/// The realtime WebSocket of one account: <c>/openai/v1/realtime?model={deployment}</c> (GA event names) and
/// <c>/openai/realtime?api-version=…&amp;deployment={deployment}</c> (preview event names).
/// </summary>
/// <remarks>
/// Before the upgrade it behaves like any other call (the account found, a <c>Down</c> account dropping the
/// connection, auth, the deployment, faults, <c>ForceThrottle</c> and the rate limiter charging one request), so a
/// gateway's failover before the upgrade can be tested. After it: <c>session.created</c>, then per client event
/// <c>session.update</c> → <c>session.updated</c>, <c>conversation.item.create</c> → <c>conversation.item.created</c>,
/// <c>response.create</c> → a short text (or audio and transcript) turn ending in <c>response.done</c> with usage;
/// anything else → an <c>error</c> event, the session staying open, as the service does.
/// </remarks>
internal sealed class RealtimeHandler(InferenceHandler inference, ILogger logger, CancellationToken stopping)
{
    /// <summary>Largest client event accepted; a larger one closes the session with 1009 (message too big).</summary>
    public const int MaxMessageSize = 1024 * 1024;

    private const int TurnTokens = 12;

    public async Task HandleAsync(HttpContext context, bool preview)
    {
        if (await inference.AdmitAsync(context, HttpMethods.Get) is not { } account)
        {
            return;
        }
        var query = context.Request.Query;
        if (preview && string.IsNullOrEmpty(query["api-version"]))
        {
            await AoaiResponses.WriteErrorAsync(context, StatusCodes.Status404NotFound, "404", "Resource not found");
            return;
        }
        var name = preview ? query["deployment"].ToString() : query["model"].ToString();
        if (string.IsNullOrEmpty(name))
        {
            await AoaiResponses.WriteErrorAsync(context, StatusCodes.Status400BadRequest, "BadRequest",
                preview ? "The 'deployment' query parameter is required." : "The 'model' query parameter is required: name the deployment.");
            return;
        }
        if (!account.Deployments.TryGetValue(name, out var deployment))
        {
            await AoaiResponses.WriteDeploymentNotFoundAsync(context);
            return;
        }
        deployment.Stats.OnRequest();
        if (deployment.Options.Kind != DeploymentKind.Chat)
        {
            await AoaiResponses.WriteErrorAsync(context, StatusCodes.Status400BadRequest, "OperationNotSupported",
                "The realtime operation does not work with the specified model. Please choose different model and try again.");
            return;
        }
        if (!context.WebSockets.IsWebSocketRequest)
        {
            await AoaiResponses.WriteErrorAsync(context, StatusCodes.Status400BadRequest, "BadRequest", "The realtime API takes a WebSocket upgrade request.");
            return;
        }

        using var cancellation = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping);
        try
        {
            var faults = account.Faults;
            if (await inference.InjectFaultAsync(context, account, deployment, faults, cancellation.Token))
            {
                return;
            }
            if (faults.ForceThrottle is { } forced)
            {
                account.Stats.OnThrottled();
                deployment.Stats.OnThrottled();
                var forcedDecision = new RateLimitDecision(RateLimitKind.Tokens, forced, forced, forced, 0, 0);
                await AoaiResponses.WriteThrottledAsync(context, "Realtime_Connect", forced, forcedDecision, tokenLimit: true);
                return;
            }
            var admission = deployment.Limiter.TryAcquire(1);
            if (!admission.Admitted)
            {
                account.Stats.OnThrottled();
                deployment.Stats.OnThrottled();
                await AoaiResponses.WriteThrottledAsync(context, "Realtime_Connect", admission.RetryAfter, admission, admission.LimitedBy == RateLimitKind.Tokens);
                return;
            }

            var subProtocol = context.WebSockets.WebSocketRequestedProtocols.Contains("realtime") ? "realtime" : null;
            using var socket = await context.WebSockets.AcceptWebSocketAsync(subProtocol);
            account.Stats.OnSucceeded(0, 0);
            deployment.Stats.OnSucceeded(0, 0);
            account.Realtime.OnSessionOpened();
            try
            {
                await new Session(socket, account, deployment, preview).RunAsync(cancellation.Token);
            }
            finally
            {
                account.Realtime.OnSessionClosed();
            }
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            // The client went away or the host is stopping.
        }
        catch (WebSocketException ex)
        {
            RealtimeLog.SessionBroken(logger, account.Name, ex.WebSocketErrorCode);
        }
    }

    /// <summary>One open session: reads client events one at a time and answers each.</summary>
    private sealed class Session(WebSocket socket, SimulatedAccount account, SimulatedDeployment deployment, bool preview)
    {
        private readonly ArrayBufferWriter<byte> _out = new(1024);
        private readonly Utf8JsonWriter _writer = new(Stream.Null);
        private readonly string _sessionId = "sess_" + Guid.NewGuid().ToString("N")[..20];
        private bool _audio;
        private string _instructions = "";
        private int _items;
        private int _eventCounter;

        private string TextDelta => preview ? "response.text.delta" : "response.output_text.delta";
        private string TextDone => preview ? "response.text.done" : "response.output_text.done";
        private string AudioDelta => preview ? "response.audio.delta" : "response.output_audio.delta";
        private string TranscriptDelta => preview ? "response.audio_transcript.delta" : "response.output_audio_transcript.delta";

        public async Task RunAsync(CancellationToken cancellationToken)
        {
            await SendAsync(w =>
            {
                Header(w, "session.created");
                WriteSession(w);
            }, cancellationToken);

            var buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
            var message = new ArrayBufferWriter<byte>(4096);
            try
            {
                while (true)
                {
                    message.ResetWrittenCount();
                    ValueWebSocketReceiveResult result;
                    do
                    {
                        result = await socket.ReceiveAsync(buffer.AsMemory(), cancellationToken);
                        if (result.MessageType == WebSocketMessageType.Close)
                        {
                            if (socket.State == WebSocketState.CloseReceived)
                            {
                                await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, cancellationToken);
                            }
                            return;
                        }
                        if (message.WrittenCount + result.Count > MaxMessageSize)
                        {
                            await socket.CloseAsync(WebSocketCloseStatus.MessageTooBig, $"Client events are limited to {MaxMessageSize} bytes.", cancellationToken);
                            return;
                        }
                        message.Write(buffer.AsSpan(0, result.Count));
                    }
                    while (!result.EndOfMessage);

                    account.Realtime.OnMessageReceived();
                    if (result.MessageType != WebSocketMessageType.Text)
                    {
                        await ErrorAsync("invalid_request_error", "binary_not_supported", "Client events are JSON text messages.", cancellationToken);
                        continue;
                    }
                    await HandleEventAsync(message.WrittenMemory, cancellationToken);
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
                _writer.Dispose();
            }
        }

        private async Task HandleEventAsync(ReadOnlyMemory<byte> json, CancellationToken cancellationToken)
        {
            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(json);
            }
            catch (JsonException)
            {
                await ErrorAsync("invalid_request_error", "invalid_json", "The event is not valid JSON.", cancellationToken);
                return;
            }
            using (document)
            {
                var root = document.RootElement;
                var type = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
                var clientEventId = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("event_id", out var e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null;
                switch (type)
                {
                    case "session.update":
                        if (root.TryGetProperty("session", out var session) && session.ValueKind == JsonValueKind.Object)
                        {
                            ApplySession(session);
                        }
                        await SendAsync(w =>
                        {
                            Header(w, "session.updated");
                            WriteSession(w);
                        }, cancellationToken);
                        return;
                    case "conversation.item.create":
                        _items++;
                        await SendAsync(w =>
                        {
                            Header(w, "conversation.item.created");
                            w.WriteStartObject("item");
                            w.WriteString("id", "item_" + _items.ToString(System.Globalization.CultureInfo.InvariantCulture));
                            w.WriteString("object", "realtime.item");
                            w.WriteString("type", "message");
                            w.WriteString("status", "completed");
                            w.WriteEndObject();
                        }, cancellationToken);
                        return;
                    case "input_audio_buffer.append" or "input_audio_buffer.clear" or "input_audio_buffer.commit":
                        return;
                    case "response.create":
                        await RespondAsync(cancellationToken);
                        return;
                    case null:
                        await ErrorAsync("invalid_request_error", "missing_type", "The event has no 'type'.", cancellationToken, clientEventId);
                        return;
                    default:
                        await ErrorAsync("invalid_request_error", "unknown_event", $"Unknown event type '{type}'.", cancellationToken, clientEventId);
                        return;
                }
            }
        }

        private void ApplySession(JsonElement session)
        {
            if (session.TryGetProperty("instructions", out var instructions) && instructions.ValueKind == JsonValueKind.String)
            {
                _instructions = instructions.GetString() ?? "";
            }
            foreach (var name in (ReadOnlySpan<string>)["output_modalities", "modalities"])
            {
                if (session.TryGetProperty(name, out var modalities) && modalities.ValueKind == JsonValueKind.Array)
                {
                    _audio = modalities.EnumerateArray().Any(m => m.ValueKind == JsonValueKind.String && m.ValueEquals("audio"));
                }
            }
        }

        /// <summary>One turn: created, deltas, done events, then <c>response.done</c> with usage.</summary>
        private async Task RespondAsync(CancellationToken cancellationToken)
        {
            var responseId = "resp_" + Guid.NewGuid().ToString("N")[..20];
            var itemId = "item_" + Guid.NewGuid().ToString("N")[..20];
            var inputTokens = 8 + TokenCount.Of(_instructions) + (_items * 4);
            var text = GeneratedText.Tokens(0, 0, TurnTokens);
            await SendAsync(w =>
            {
                Header(w, "response.created");
                WriteResponse(w, responseId, "in_progress", null, 0, 0);
            }, cancellationToken);
            for (var i = 0; i < TurnTokens; i += 4)
            {
                var delta = GeneratedText.Tokens(0, i, Math.Min(4, TurnTokens - i));
                await SendAsync(w =>
                {
                    Header(w, _audio ? TranscriptDelta : TextDelta);
                    w.WriteString("response_id", responseId);
                    w.WriteString("item_id", itemId);
                    w.WriteNumber("output_index", 0);
                    w.WriteNumber("content_index", 0);
                    w.WriteString("delta", delta);
                }, cancellationToken);
                if (_audio)
                {
                    await SendAsync(w =>
                    {
                        Header(w, AudioDelta);
                        w.WriteString("response_id", responseId);
                        w.WriteString("item_id", itemId);
                        w.WriteNumber("output_index", 0);
                        w.WriteNumber("content_index", 0);
                        w.WriteBase64String("delta", new byte[480]); // 10 ms of 24 kHz pcm16 silence
                    }, cancellationToken);
                }
            }
            if (!_audio)
            {
                await SendAsync(w =>
                {
                    Header(w, TextDone);
                    w.WriteString("response_id", responseId);
                    w.WriteString("item_id", itemId);
                    w.WriteNumber("output_index", 0);
                    w.WriteNumber("content_index", 0);
                    w.WriteString("text", text);
                }, cancellationToken);
            }
            await SendAsync(w =>
            {
                Header(w, "response.done");
                WriteResponse(w, responseId, "completed", (itemId, text), inputTokens, TurnTokens);
            }, cancellationToken);
            account.Realtime.OnResponse(inputTokens, TurnTokens);
            deployment.Stats.OnSucceeded(inputTokens, TurnTokens);
        }

        private void WriteResponse(Utf8JsonWriter w, string id, string status, (string ItemId, string Text)? output, int input, int outputTokens)
        {
            w.WriteStartObject("response");
            w.WriteString("id", id);
            w.WriteString("object", "realtime.response");
            w.WriteString("status", status);
            w.WriteStartArray("output");
            if (output is { } item)
            {
                w.WriteStartObject();
                w.WriteString("id", item.ItemId);
                w.WriteString("object", "realtime.item");
                w.WriteString("type", "message");
                w.WriteString("role", "assistant");
                w.WriteStartArray("content");
                w.WriteStartObject();
                w.WriteString("type", _audio ? "output_audio" : "output_text");
                w.WriteString(_audio ? "transcript" : "text", item.Text);
                w.WriteEndObject();
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            if (output is not null)
            {
                w.WriteStartObject("usage");
                w.WriteNumber("total_tokens", input + outputTokens);
                w.WriteNumber("input_tokens", input);
                w.WriteNumber("output_tokens", outputTokens);
                w.WriteStartObject("input_token_details");
                w.WriteNumber("text_tokens", input);
                w.WriteNumber("audio_tokens", 0);
                w.WriteNumber("cached_tokens", 0);
                w.WriteEndObject();
                w.WriteStartObject("output_token_details");
                w.WriteNumber("text_tokens", _audio ? outputTokens / 3 : outputTokens);
                w.WriteNumber("audio_tokens", _audio ? outputTokens - (outputTokens / 3) : 0);
                w.WriteEndObject();
                w.WriteEndObject();
            }
            else
            {
                w.WriteNull("usage");
            }
            w.WriteEndObject();
        }

        private void WriteSession(Utf8JsonWriter w)
        {
            w.WriteStartObject("session");
            w.WriteString("id", _sessionId);
            w.WriteString("object", "realtime.session");
            w.WriteString("model", deployment.Options.Model);
            w.WriteString("instructions", _instructions);
            w.WriteStartArray(preview ? "modalities" : "output_modalities");
            w.WriteStringValue(_audio ? "audio" : "text");
            w.WriteEndArray();
            w.WriteEndObject();
        }

        private void Header(Utf8JsonWriter w, string type)
        {
            w.WriteString("type", type);
            w.WriteString("event_id", "event_" + (++_eventCounter).ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        private Task ErrorAsync(string type, string code, string message, CancellationToken cancellationToken, string? clientEventId = null)
            => SendAsync(w =>
            {
                Header(w, "error");
                w.WriteStartObject("error");
                w.WriteString("type", type);
                w.WriteString("code", code);
                w.WriteString("message", message);
                if (clientEventId is not null)
                {
                    w.WriteString("event_id", clientEventId);
                }
                w.WriteEndObject();
            }, cancellationToken);

        private async Task SendAsync(Action<Utf8JsonWriter> write, CancellationToken cancellationToken)
        {
            _out.ResetWrittenCount();
            _writer.Reset(_out);
            _writer.WriteStartObject();
            write(_writer);
            _writer.WriteEndObject();
            _writer.Flush();
            await socket.SendAsync(_out.WrittenMemory, WebSocketMessageType.Text, endOfMessage: true, cancellationToken);
            account.Realtime.OnMessageSent();
        }
    }
}

/// <summary>Realtime counters of one account (sessions, events each way, turns, tokens); thread-safe reads.</summary>
public sealed class SimulatorRealtimeStats
{
    private long _sessions, _open, _received, _sent, _responses, _input, _output;

    /// <summary>Sessions accepted (upgraded).</summary>
    public long Sessions => Interlocked.Read(ref _sessions);

    /// <summary>Sessions open now.</summary>
    public long OpenSessions => Interlocked.Read(ref _open);

    /// <summary>Client events received.</summary>
    public long MessagesReceived => Interlocked.Read(ref _received);

    /// <summary>Server events sent.</summary>
    public long MessagesSent => Interlocked.Read(ref _sent);

    /// <summary>Turns answered (<c>response.done</c> sent).</summary>
    public long Responses => Interlocked.Read(ref _responses);
    public long InputTokens => Interlocked.Read(ref _input);
    public long OutputTokens => Interlocked.Read(ref _output);

    internal void OnSessionOpened()
    {
        Interlocked.Increment(ref _sessions);
        Interlocked.Increment(ref _open);
    }

    internal void OnSessionClosed() => Interlocked.Decrement(ref _open);
    internal void OnMessageReceived() => Interlocked.Increment(ref _received);
    internal void OnMessageSent() => Interlocked.Increment(ref _sent);

    internal void OnResponse(int input, int output)
    {
        Interlocked.Increment(ref _responses);
        Interlocked.Add(ref _input, input);
        Interlocked.Add(ref _output, output);
    }

    internal void Reset()
    {
        Interlocked.Exchange(ref _sessions, 0);
        Interlocked.Exchange(ref _received, 0);
        Interlocked.Exchange(ref _sent, 0);
        Interlocked.Exchange(ref _responses, 0);
        Interlocked.Exchange(ref _input, 0);
        Interlocked.Exchange(ref _output, 0);
    }
}

internal static partial class RealtimeLog
{
    [LoggerMessage(EventId = 20, Level = LogLevel.Debug, Message = "Account {Account}: a realtime session ended abruptly ({Error})")]
    public static partial void SessionBroken(ILogger logger, string account, WebSocketError error);
}
