using System.Buffers;
using System.Text.Json;

namespace AoaiAspire.Gateway.Tokens;

/// <summary>
/// Watches a server-sent event stream for the chunk that carries <c>usage</c> (the last one before
/// <c>[DONE]</c> when <c>stream_options.include_usage</c> is set) and, when the gateway asked upstream for
/// usage that the caller did not ask for, removes that chunk so the caller's stream is exactly what it
/// asked for. Works event by event: complete events are passed on at once; only the unfinished tail of a
/// read waits (in a pooled buffer) for the rest of its event.
/// When asked to count (a stream that brings no usage), it also keeps the generated text of the events
/// (<c>content</c> of chat deltas, <c>text</c> of completions choices) in a pooled buffer and tokenizes it
/// once, when the usage is first read.
/// </summary>
internal sealed class SseUsageFilter : IDisposable
{
    private readonly bool _dropUsageChunk;
    private readonly ReadOnlyMemory<byte> _countedRequest;
    private readonly bool _count;
    private byte[]? _pending;
    private int _pendingLength;
    private char[]? _text;
    private int _textLength;
    private Usage? _usage;

    /// <param name="dropUsageChunk">Remove the usage chunk (the gateway asked for it, the caller did not).</param>
    /// <param name="countRequest">When given, the request body whose stream brings no usage: its usage is counted.</param>
    public SseUsageFilter(bool dropUsageChunk, ReadOnlyMemory<byte>? countRequest = null)
    {
        _dropUsageChunk = dropUsageChunk;
        _count = countRequest.HasValue;
        _countedRequest = countRequest.GetValueOrDefault();
    }

    /// <summary>
    /// The usage the stream reported or, when counting and none came, the real count of the request's prompt and of
    /// the text streamed so far (tokenized on first read).
    /// </summary>
    public Usage? Usage
    {
        get
        {
            if (_usage is null && _count && TokenCounter.PromptTokens(_countedRequest.Span) is { } prompt)
            {
                _usage = new Usage(prompt, TokenCounter.Count(_text.AsSpan(0, _textLength)));
                Counted = true;
            }
            return _usage;
        }
    }

    /// <summary>Whether <see cref="Usage"/> was counted by the gateway rather than reported.</summary>
    public bool Counted { get; private set; }

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
        if (_count && _usage is null)
        {
            KeepText(eventBytes);
        }
        if (at < 0 || !Tokens.Usage.TryFind(eventBytes, out var usage))
        {
            return false;
        }
        _usage = usage;
        if (_dropUsageChunk && eventBytes.IndexOf("\"choices\":[]"u8) >= 0)
        {
            DroppedUsageChunk = true;
            return true;
        }
        return false;
    }

    /// <summary>Appends the generated text of an event (chat <c>delta.content</c>, completions <c>choices[].text</c>) to the pooled text buffer.</summary>
    private void KeepText(ReadOnlySpan<byte> eventBytes)
    {
        var start = eventBytes.IndexOf((byte)'{');
        var end = eventBytes.LastIndexOf((byte)'}');
        if (start < 0 || end <= start)
        {
            return; // [DONE], comments
        }
        var reader = new Utf8JsonReader(eventBytes[start..(end + 1)]);
        try
        {
            while (reader.Read())
            {
                if (reader.TokenType != JsonTokenType.PropertyName || !(reader.ValueTextEquals("content"u8) || reader.ValueTextEquals("text"u8)))
                {
                    continue;
                }
                if (!reader.Read() || reader.TokenType != JsonTokenType.String)
                {
                    continue;
                }
                var needed = _textLength + reader.ValueSpan.Length; // unescaped is never longer than escaped
                if (_text is null || _text.Length < needed)
                {
                    var larger = ArrayPool<char>.Shared.Rent(Math.Max(needed * 2, 1024));
                    _text?.AsSpan(0, _textLength).CopyTo(larger);
                    if (_text is not null)
                    {
                        ArrayPool<char>.Shared.Return(_text);
                    }
                    _text = larger;
                }
                _textLength += reader.CopyString(_text.AsSpan(_textLength));
            }
        }
        catch (JsonException)
        {
            // Not JSON: nothing to count.
        }
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
        if (_text is { } text)
        {
            _text = null;
            ArrayPool<char>.Shared.Return(text);
        }
    }
}
