using System.Buffers;
using System.Net.WebSockets;
using AoaiAspire.Gateway.Tokens;

namespace AoaiAspire.Gateway.Realtime;

/// <summary>
/// Relays one realtime session both ways between the caller's WebSocket and the backend's, frame by frame with
/// one pooled buffer per direction (no per-message allocation), until either side closes or fails.
/// </summary>
/// <remarks>
/// - A close from one side is passed to the other with its status and reason; the other side's close answer ends
///   the session. If it does not answer within <see cref="RealtimeOptions.CloseTimeout"/>, both connections are ended.
/// - A message larger than <see cref="RealtimeOptions.MaxMessageSize"/> closes both sides with 1009 (message too big).
/// - A side that fails (reset, protocol violation) gets the other side closed: 1001 (going away) toward the caller
///   when the backend failed, 1001 toward the backend when the caller did.
/// - Server events that start like a <c>response.done</c> are read whole (pooled, bounded by the message limit) and
///   their usage handed to <paramref name="onUsage"/>; every other message is only copied.
/// Each socket has one sender (the pump toward it) and one receiver (the pump from it), as WebSocket allows,
/// except on the error paths, where a close may meet a send that the socket serialises.
/// </remarks>
internal sealed class RealtimeRelay(WebSocket caller, WebSocket backend, RealtimeOptions options, Action<Usage> onUsage)
{
    private const int BufferSize = 16 * 1024;

    public long MessagesToBackend { get; private set; }
    public long MessagesToCaller { get; private set; }

    private enum PumpEnd { SourceClosed, SourceFailed, DestinationFailed, TooBig, Cancelled }

    public async Task<string> RunAsync(CancellationToken stopping)
    {
        // Receives and sends are not cancelled by shutdown (a cancelled WebSocket call ends the connection without a
        // close): shutdown sends both sides a close instead, and only a side that does not answer is cut off.
        using var abort = new CancellationTokenSource();
        var shuttingDown = false;
        using var onStopping = stopping.Register(() =>
        {
            shuttingDown = true;
            _ = CloseBothAsync(WebSocketCloseStatus.EndpointUnavailable, "The gateway is shutting down.", abort);
        });
        var toBackend = PumpAsync(caller, backend, toCaller: false, abort.Token);
        var toCaller = PumpAsync(backend, caller, toCaller: true, abort.Token);
        var first = await Task.WhenAny(toBackend, toCaller).ConfigureAwait(false);
        var end = await first.ConfigureAwait(false);
        var fromCaller = first == toBackend;
        var reason = shuttingDown ? RealtimeEndReasons.Shutdown : end switch
        {
            PumpEnd.SourceClosed => fromCaller ? RealtimeEndReasons.ClosedByCaller : RealtimeEndReasons.ClosedByBackend,
            PumpEnd.SourceFailed => fromCaller ? RealtimeEndReasons.CallerGone : RealtimeEndReasons.BackendGone,
            PumpEnd.DestinationFailed => fromCaller ? RealtimeEndReasons.BackendGone : RealtimeEndReasons.CallerGone,
            PumpEnd.TooBig => RealtimeEndReasons.MessageTooBig,
            _ => RealtimeEndReasons.Shutdown,
        };

        // A close was passed on: the other side's answer is awaited. Otherwise what is still open is closed here.
        switch (end)
        {
            case PumpEnd.TooBig:
                await CloseBothAsync(WebSocketCloseStatus.MessageTooBig, $"Message larger than the gateway's limit of {options.MaxMessageSize} bytes.", null).ConfigureAwait(false);
                break;
            case PumpEnd.SourceFailed or PumpEnd.DestinationFailed:
                var callerFailed = reason == RealtimeEndReasons.CallerGone;
                await CloseQuietlyAsync(callerFailed ? backend : caller, WebSocketCloseStatus.EndpointUnavailable,
                    callerFailed ? "The caller's connection ended." : "The backend's connection ended.").ConfigureAwait(false);
                break;
        }
        var other = fromCaller ? toCaller : toBackend;
        // Nobody reads the first pump's source any more: its answer to a close sent here is read (and dropped) here.
        var source = fromCaller ? caller : backend;
        var drain = source.State == WebSocketState.CloseSent ? DrainAsync(source, abort.Token) : Task.CompletedTask;
        try
        {
            await Task.WhenAll(other, drain).WaitAsync(options.CloseTimeout, CancellationToken.None).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
        await abort.CancelAsync().ConfigureAwait(false);
        caller.Abort();
        backend.Abort();
        await other.ConfigureAwait(false);
        await drain.ConfigureAwait(false);
        return reason;
    }

    private static async Task DrainAsync(WebSocket socket, CancellationToken abort)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            while ((await socket.ReceiveAsync(buffer.AsMemory(), abort).ConfigureAwait(false)).MessageType != WebSocketMessageType.Close)
            {
            }
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or ObjectDisposedException or InvalidOperationException or OperationCanceledException)
        {
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private async Task CloseBothAsync(WebSocketCloseStatus status, string description, CancellationTokenSource? abortAfter)
    {
        await Task.WhenAll(CloseQuietlyAsync(caller, status, description), CloseQuietlyAsync(backend, status, description)).ConfigureAwait(false);
        try
        {
            abortAfter?.CancelAfter(options.CloseTimeout);
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private async Task<PumpEnd> PumpAsync(WebSocket source, WebSocket destination, bool toCaller, CancellationToken abort)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        byte[]? captured = null;
        var capturedLength = 0;
        var deciding = toCaller; // the head of a server event is looked at for response.done
        long messageLength = 0;
        try
        {
            while (true)
            {
                ValueWebSocketReceiveResult result;
                try
                {
                    result = await source.ReceiveAsync(buffer.AsMemory(), abort).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return PumpEnd.Cancelled;
                }
                catch (Exception ex) when (ex is WebSocketException or IOException or ObjectDisposedException or InvalidOperationException)
                {
                    return PumpEnd.SourceFailed;
                }

                if (result.MessageType == WebSocketMessageType.Close)
                {
                    if (destination.State is WebSocketState.Open or WebSocketState.CloseReceived)
                    {
                        var status = source.CloseStatus ?? WebSocketCloseStatus.NormalClosure;
                        return await CloseQuietlyAsync(destination, status, source.CloseStatusDescription).ConfigureAwait(false)
                            ? PumpEnd.SourceClosed : PumpEnd.DestinationFailed;
                    }
                    return PumpEnd.SourceClosed;
                }

                messageLength += result.Count;
                if (messageLength > options.MaxMessageSize)
                {
                    return PumpEnd.TooBig;
                }

                if (toCaller && result.MessageType == WebSocketMessageType.Text && (deciding || captured is not null))
                {
                    Capture(buffer.AsSpan(0, result.Count), ref captured, ref capturedLength, ref deciding, result.EndOfMessage);
                }

                try
                {
                    await destination.SendAsync(buffer.AsMemory(0, result.Count), result.MessageType, result.EndOfMessage, abort).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (abort.IsCancellationRequested)
                {
                    return PumpEnd.Cancelled;
                }
                catch (Exception ex) when (ex is WebSocketException or IOException or ObjectDisposedException or InvalidOperationException or OperationCanceledException)
                {
                    return PumpEnd.DestinationFailed;
                }

                if (result.EndOfMessage)
                {
                    messageLength = 0;
                    if (toCaller)
                    {
                        MessagesToCaller++;
                        if (captured is not null && capturedLength > 0 && !deciding && RealtimeUsage.TryRead(captured.AsSpan(0, capturedLength), out var usage))
                        {
                            onUsage(usage);
                        }
                        if (captured is not null)
                        {
                            ArrayPool<byte>.Shared.Return(captured);
                            captured = null;
                        }
                        capturedLength = 0;
                        deciding = true;
                    }
                    else
                    {
                        MessagesToBackend++;
                    }
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            if (captured is not null)
            {
                ArrayPool<byte>.Shared.Return(captured);
            }
        }
    }

    /// <summary>
    /// Keeps a server event's bytes while it may be a <c>response.done</c>: its first <see cref="RealtimeUsage.HeadSize"/>
    /// bytes decide; a <c>response.done</c> is then kept whole (pooled, grown by doubling), anything else let go.
    /// </summary>
    private static void Capture(ReadOnlySpan<byte> chunk, ref byte[]? captured, ref int length, ref bool deciding, bool endOfMessage)
    {
        captured ??= ArrayPool<byte>.Shared.Rent(Math.Max(RealtimeUsage.HeadSize, Math.Min(chunk.Length, BufferSize)));
        if (length + chunk.Length > captured.Length)
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(captured.Length * 2, length + chunk.Length));
            captured.AsSpan(0, length).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(captured);
            captured = larger;
        }
        chunk.CopyTo(captured.AsSpan(length));
        length += chunk.Length;
        if (deciding && (length >= RealtimeUsage.HeadSize || endOfMessage))
        {
            deciding = false;
            if (!RealtimeUsage.MayBeResponseDone(captured.AsSpan(0, Math.Min(length, RealtimeUsage.HeadSize))))
            {
                ArrayPool<byte>.Shared.Return(captured);
                captured = null;
                length = 0;
            }
        }
    }

    /// <summary>Sends a close (not waiting for the answer) if the socket can still send one; false if it failed.</summary>
    private static async Task<bool> CloseQuietlyAsync(WebSocket socket, WebSocketCloseStatus status, string? description)
    {
        if (socket.State is not (WebSocketState.Open or WebSocketState.CloseReceived))
        {
            return true;
        }
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await socket.CloseOutputAsync(status, description, timeout.Token).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or ObjectDisposedException or InvalidOperationException or OperationCanceledException)
        {
            return false;
        }
    }
}
