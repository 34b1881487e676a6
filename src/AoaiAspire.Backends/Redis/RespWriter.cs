using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using System.Text;

namespace AoaiAspire.Backends.Redis;

/// <summary>
/// Encodes a command as a RESP2 array of bulk strings straight into the connection's
/// <see cref="IBufferWriter{T}"/> (the pipe), without an intermediate buffer.
/// </summary>
/// <remarks>
/// Arguments may be <see cref="string"/> (UTF-8), <see cref="byte"/>[], <see cref="ReadOnlyMemory{T}"/>
/// of bytes, <see cref="int"/>, <see cref="long"/> or <see cref="double"/>. <see cref="Validate"/> checks
/// them on the caller's thread so a bad argument fails the call, not the connection's writer loop.
/// </remarks>
internal static class RespWriter
{
    /// <exception cref="ArgumentException">An argument is null or of an unsupported type.</exception>
    public static void Validate(string command, ReadOnlySpan<object> args)
    {
        ArgumentException.ThrowIfNullOrEmpty(command);
        foreach (var arg in args)
        {
            if (arg is not (string or byte[] or ReadOnlyMemory<byte> or int or long or double))
            {
                throw new ArgumentException(
                    arg is null
                        ? $"A Redis argument of {command} is null."
                        : $"A Redis argument of {command} has the unsupported type {arg.GetType().Name}; use string, byte[], ReadOnlyMemory<byte>, int, long or double.",
                    nameof(args));
            }
        }
    }

    public static void Write(IBufferWriter<byte> output, string command, ReadOnlySpan<object> args)
    {
        WritePrefixed(output, (byte)'*', args.Length + 1);
        WriteString(output, command);
        foreach (var arg in args)
        {
            switch (arg)
            {
                case string s:
                    WriteString(output, s);
                    break;
                case byte[] b:
                    WriteBytes(output, b);
                    break;
                case ReadOnlyMemory<byte> m:
                    WriteBytes(output, m.Span);
                    break;
                case int i:
                    WriteInteger(output, i);
                    break;
                case long l:
                    WriteInteger(output, l);
                    break;
                case double d:
                    WriteString(output, d.ToString("R", CultureInfo.InvariantCulture));
                    break;
                default:
                    throw new ArgumentException($"Unsupported Redis argument type {arg?.GetType().Name ?? "null"}.", nameof(args));
            }
        }
    }

    private static void WriteString(IBufferWriter<byte> output, string value)
    {
        var length = Encoding.UTF8.GetByteCount(value);
        WritePrefixed(output, (byte)'$', length);
        var span = output.GetSpan(length + 2);
        var written = Encoding.UTF8.GetBytes(value, span);
        span[written] = (byte)'\r';
        span[written + 1] = (byte)'\n';
        output.Advance(written + 2);
    }

    private static void WriteBytes(IBufferWriter<byte> output, ReadOnlySpan<byte> value)
    {
        WritePrefixed(output, (byte)'$', value.Length);
        var span = output.GetSpan(value.Length + 2);
        value.CopyTo(span);
        span[value.Length] = (byte)'\r';
        span[value.Length + 1] = (byte)'\n';
        output.Advance(value.Length + 2);
    }

    private static void WriteInteger(IBufferWriter<byte> output, long value)
    {
        Span<byte> digits = stackalloc byte[20];
        Utf8Formatter.TryFormat(value, digits, out var length);
        WriteBytes(output, digits[..length]);
    }

    // "*3\r\n" or "$5\r\n"
    private static void WritePrefixed(IBufferWriter<byte> output, byte prefix, long number)
    {
        var span = output.GetSpan(24);
        span[0] = prefix;
        Utf8Formatter.TryFormat(number, span[1..], out var length);
        span[length + 1] = (byte)'\r';
        span[length + 2] = (byte)'\n';
        output.Advance(length + 3);
    }
}
