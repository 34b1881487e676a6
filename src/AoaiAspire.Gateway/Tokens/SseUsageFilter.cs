using System.Buffers;

namespace AoaiAspire.Gateway.Tokens;

/// <summary>
/// Watches a server-sent event stream for the chunk that carries <c>usage</c> (the last one before
/// <c>[DONE]</c> when <c>stream_options.include_usage</c> is set) and, when the gateway asked upstream for
/// usage that the caller did not ask for, removes that chunk so the caller's stream is exactly what it
/// asked for. Works event by event: complete events are passed on at once; only the unfinished tail of a
/// read waits (in a pooled buffer) for the rest of its event.
/// </summary>
internal sealed class SseUsageFilter : IDisposable
{
    private readonly bool _dropUsageChunk;
    private byte[]? _pending;
    private int _pendingLength;

    public SseUsageFilter(bool dropUsageChunk) => _dropUsageChunk = dropUsageChunk;

    public Usage? Usage { get; private set; }

    /// <summary>Whether a usage chunk was removed from the stream.</summary>
    public bool DroppedUsageChunk { get; private set; }

    /// <summary>Bytes passed on so far.</summary>
    public long BytesWritten { get; private set; }

    /// <summary>Feeds one read: the complete events in it (less a removed usage chunk) go to <paramref name="output"/>, flushed.</summary>
    public async ValueTask ProcessAsync(ReadOnlyMemory<byte> chunk, Stream output, CancellationToken cancellationToken)
    {
        ReadOnlyMemory<byte> data;
        if (_pendingLength > 0)
        {
            Append(chunk.Span);
            data = _pending.AsMemory(0, _pendingLength);
        }
        else
        {
            data = chunk;
        }

        var consumed = 0;      // bytes handled (written or dropped)
        var keepFrom = 0;      // start of the run of kept events not yet written
        while (true)
        {
            var end = EventEnd(data.Span[consumed..]);
            if (end < 0)
            {
                break;
            }
            var eventBytes = data.Span.Slice(consumed, end);
            if (Inspect(eventBytes))
            {
                if (consumed > keepFrom)
                {
                    await WriteAsync(output, data[keepFrom..consumed], cancellationToken).ConfigureAwait(false);
                }
                keepFrom = consumed + end;
            }
            consumed += end;
        }
        if (consumed > keepFrom)
        {
            await WriteAsync(output, data[keepFrom..consumed], cancellationToken).ConfigureAwait(false);
        }

        // Keep the unfinished event for the next read.
        var rest = data[consumed..];
        if (_pendingLength > 0)
        {
            rest.Span.CopyTo(_pending);
            _pendingLength = rest.Length;
        }
        else if (!rest.IsEmpty)
        {
            Append(rest.Span);
        }
    }

    /// <summary>At the end of the stream: whatever is left (an event without its blank line) goes out as is.</summary>
    public async ValueTask CompleteAsync(Stream output, CancellationToken cancellationToken)
    {
        if (_pendingLength > 0)
        {
            var rest = _pending.AsMemory(0, _pendingLength);
            Inspect(rest.Span);
            await WriteAsync(output, rest, cancellationToken).ConfigureAwait(false);
            _pendingLength = 0;
        }
    }

    private async ValueTask WriteAsync(Stream output, ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        await output.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
        await output.FlushAsync(cancellationToken).ConfigureAwait(false);
        BytesWritten += bytes.Length;
    }

    /// <summary>Reads usage from an event; returns true when the event must be dropped.</summary>
    private bool Inspect(ReadOnlySpan<byte> eventBytes)
    {
        var at = eventBytes.IndexOf("\"usage\""u8);
        if (at < 0 || !Tokens.Usage.TryFind(eventBytes, out var usage))
        {
            return false;
        }
        Usage = usage;
        if (_dropUsageChunk && eventBytes.IndexOf("\"choices\":[]"u8) >= 0)
        {
            DroppedUsageChunk = true;
            return true;
        }
        return false;
    }

    /// <summary>Length of the first complete event including its blank line, or -1.</summary>
    private static int EventEnd(ReadOnlySpan<byte> data)
    {
        var lf = data.IndexOf("\n\n"u8);
        var crlf = data.IndexOf("\r\n\r\n"u8);
        if (lf < 0 && crlf < 0)
        {
            return -1;
        }
        if (crlf >= 0 && (lf < 0 || crlf < lf))
        {
            return crlf + 4;
        }
        return lf + 2;
    }

    private void Append(ReadOnlySpan<byte> bytes)
    {
        var needed = _pendingLength + bytes.Length;
        if (_pending is null || _pending.Length < needed)
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(needed, 4096));
            if (_pending is not null)
            {
                _pending.AsSpan(0, _pendingLength).CopyTo(larger);
                ArrayPool<byte>.Shared.Return(_pending);
            }
            _pending = larger;
        }
        bytes.CopyTo(_pending.AsSpan(_pendingLength));
        _pendingLength = needed;
    }

    public void Dispose()
    {
        if (_pending is { } pending)
        {
            _pending = null;
            ArrayPool<byte>.Shared.Return(pending);
        }
    }
}
