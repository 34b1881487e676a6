using System.Buffers;
using System.Buffers.Text;
using System.Text;

namespace AoaiAspire.Backends.Redis;

/// <summary>
/// RESP2 reply parser over a <see cref="ReadOnlySequence{T}"/>, for replies that arrive split
/// across any number of reads.
/// </summary>
/// <remarks>
/// Two passes: a non-allocating scan checks that a whole reply is buffered, and only then is it
/// materialised. A reply that is still incomplete therefore costs no garbage however many reads it
/// takes to arrive; the caller keeps the buffer and asks again when more bytes come.
/// </remarks>
internal static class RespParser
{
    /// <summary>Redis' own limit for a bulk string (proto-max-bulk-len).</summary>
    private const long MaxBulkLength = 512L * 1024 * 1024;

    private const int MaxDepth = 64;

    private const int MaxLineLength = 64 * 1024;

    private static readonly string OkString = "OK";
    private static readonly string PongString = "PONG";
    private static readonly string QueuedString = "QUEUED";

    /// <summary>
    /// Reads one whole reply and advances <paramref name="reader"/> past it; returns false and
    /// leaves <paramref name="reader"/> where it was when the reply is not complete yet.
    /// </summary>
    /// <exception cref="RedisProtocolException">The bytes are not RESP2.</exception>
    public static bool TryRead(ref SequenceReader<byte> reader, out RedisResult result)
    {
        var probe = reader;
        if (!TrySkip(ref probe, 0))
        {
            result = default;
            return false;
        }

        result = Read(ref reader);
        return true;
    }

    /// <summary>Reads one reply from a buffer; returns false if it holds no whole reply.</summary>
    public static bool TryRead(ReadOnlySequence<byte> buffer, out RedisResult result, out SequencePosition consumed)
    {
        var reader = new SequenceReader<byte>(buffer);
        var ok = TryRead(ref reader, out result);
        consumed = reader.Position;
        return ok;
    }

    private static bool TrySkip(ref SequenceReader<byte> reader, int depth)
    {
        if (depth > MaxDepth)
        {
            throw new RedisProtocolException($"RESP reply nested deeper than {MaxDepth} levels.");
        }

        if (!reader.TryRead(out var prefix))
        {
            return false;
        }

        switch (prefix)
        {
            case (byte)'+':
            case (byte)'-':
                return TryReadLine(ref reader, out _);
            case (byte)':':
                return TryReadInteger(ref reader, out _);
            case (byte)'$':
                {
                    if (!TryReadInteger(ref reader, out var length))
                    {
                        return false;
                    }

                    if (length == -1)
                    {
                        return true;
                    }

                    ValidateBulkLength(length);
                    if (reader.Remaining < length + 2)
                    {
                        return false;
                    }

                    reader.Advance(length);
                    ExpectCrLf(ref reader);
                    return true;
                }

            case (byte)'*':
                {
                    if (!TryReadInteger(ref reader, out var count))
                    {
                        return false;
                    }

                    if (count == -1)
                    {
                        return true;
                    }

                    ValidateArrayLength(count);
                    for (long i = 0; i < count; i++)
                    {
                        if (!TrySkip(ref reader, depth + 1))
                        {
                            return false;
                        }
                    }

                    return true;
                }

            default:
                throw new RedisProtocolException($"Unexpected RESP type byte 0x{prefix:X2}.");
        }
    }

    // Only called once TrySkip has proven the whole reply is buffered and well formed.
    private static RedisResult Read(ref SequenceReader<byte> reader)
    {
        reader.TryRead(out var prefix);
        switch (prefix)
        {
            case (byte)'+':
                {
                    TryReadLine(ref reader, out var line);
                    return RedisResult.SimpleString(DecodeSimple(line));
                }

            case (byte)'-':
                {
                    TryReadLine(ref reader, out var line);
                    return RedisResult.Error(Decode(line));
                }

            case (byte)':':
                {
                    TryReadInteger(ref reader, out var value);
                    return RedisResult.Integer(value);
                }

            case (byte)'$':
                {
                    TryReadInteger(ref reader, out var length);
                    if (length == -1)
                    {
                        return RedisResult.Null;
                    }

                    var bytes = length == 0 ? [] : new byte[length];
                    reader.TryCopyTo(bytes);
                    reader.Advance(length + 2);
                    return RedisResult.BulkString(bytes);
                }

            default:
                {
                    TryReadInteger(ref reader, out var count);
                    if (count == -1)
                    {
                        return RedisResult.Null;
                    }

                    var items = count == 0 ? [] : new RedisResult[count];
                    for (var i = 0; i < items.Length; i++)
                    {
                        items[i] = Read(ref reader);
                    }

                    return RedisResult.Array(items);
                }
        }
    }

    private static bool TryReadLine(ref SequenceReader<byte> reader, out ReadOnlySequence<byte> line)
    {
        if (reader.TryReadTo(out line, "\r\n"u8, advancePastDelimiter: true))
        {
            return true;
        }

        if (reader.Remaining > MaxLineLength)
        {
            throw new RedisProtocolException($"RESP line longer than {MaxLineLength} bytes.");
        }

        return false;
    }

    private static bool TryReadInteger(ref SequenceReader<byte> reader, out long value)
    {
        if (!TryReadLine(ref reader, out var line))
        {
            value = 0;
            return false;
        }

        Span<byte> scratch = stackalloc byte[20];
        if (line.Length is 0 or > 20)
        {
            throw new RedisProtocolException("Malformed RESP integer.");
        }

        line.CopyTo(scratch);
        var digits = scratch[..(int)line.Length];
        if (!Utf8Parser.TryParse(digits, out value, out var consumed) || consumed != digits.Length)
        {
            throw new RedisProtocolException("Malformed RESP integer.");
        }

        return true;
    }

    private static void ExpectCrLf(ref SequenceReader<byte> reader)
    {
        if (!reader.TryRead(out var cr) || !reader.TryRead(out var lf) || cr != '\r' || lf != '\n')
        {
            throw new RedisProtocolException("RESP bulk string not terminated by CRLF.");
        }
    }

    private static void ValidateBulkLength(long length)
    {
        if (length < 0 || length > MaxBulkLength)
        {
            throw new RedisProtocolException($"Invalid RESP bulk string length {length}.");
        }
    }

    private static void ValidateArrayLength(long count)
    {
        if (count < 0 || count > int.MaxValue)
        {
            throw new RedisProtocolException($"Invalid RESP array length {count}.");
        }
    }

    // Common status replies are returned as shared strings: no allocation for "+OK".
    private static string DecodeSimple(ReadOnlySequence<byte> line)
    {
        if (line.IsSingleSegment)
        {
            var span = line.FirstSpan;
            if (span.SequenceEqual("OK"u8))
            {
                return OkString;
            }

            if (span.SequenceEqual("PONG"u8))
            {
                return PongString;
            }

            if (span.SequenceEqual("QUEUED"u8))
            {
                return QueuedString;
            }
        }

        return Decode(line);
    }

    private static string Decode(ReadOnlySequence<byte> line) =>
        line.IsSingleSegment ? Encoding.UTF8.GetString(line.FirstSpan) : Encoding.UTF8.GetString(line);
}
