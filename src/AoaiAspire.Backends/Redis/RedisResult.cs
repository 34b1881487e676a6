using System.Globalization;
using System.Text;

namespace AoaiAspire.Backends.Redis;

/// <summary>The RESP2 reply kinds.</summary>
internal enum RedisResultType : byte
{
    /// <summary><c>$-1</c> or <c>*-1</c>.</summary>
    Null,
    SimpleString,
    Error,
    Integer,
    BulkString,
    Array,
}

/// <summary>
/// One RESP2 reply. A small struct: the payload is the string (simple string, error), the
/// <c>byte[]</c> (bulk string) or the <see cref="RedisResult"/> array; integers are stored inline.
/// </summary>
internal readonly struct RedisResult : IEquatable<RedisResult>
{
    private readonly object? _value;
    private readonly long _integer;

    private RedisResult(RedisResultType type, object? value, long integer)
    {
        Type = type;
        _value = value;
        _integer = integer;
    }

    public static RedisResult Null => default;

    public RedisResultType Type { get; }

    public bool IsNull => Type == RedisResultType.Null;

    public bool IsError => Type == RedisResultType.Error;

    public static RedisResult SimpleString(string value) => new(RedisResultType.SimpleString, value, 0);

    public static RedisResult Error(string message) => new(RedisResultType.Error, message, 0);

    public static RedisResult Integer(long value) => new(RedisResultType.Integer, null, value);

    public static RedisResult BulkString(byte[] value) => new(RedisResultType.BulkString, value, 0);

    public static RedisResult Array(RedisResult[] items) => new(RedisResultType.Array, items, 0);

    /// <summary>The error message of an error reply; null otherwise.</summary>
    public string? ErrorMessage => Type == RedisResultType.Error ? (string)_value! : null;

    /// <summary>Integer replies, and simple/bulk strings that hold an integer.</summary>
    /// <exception cref="InvalidCastException">The reply is not an integer.</exception>
    public long AsInt64()
    {
        switch (Type)
        {
            case RedisResultType.Integer:
                return _integer;
            case RedisResultType.SimpleString when long.TryParse((string)_value!, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var s):
                return s;
            case RedisResultType.BulkString when System.Buffers.Text.Utf8Parser.TryParse((byte[])_value!, out long b, out var consumed) && consumed == ((byte[])_value!).Length:
                return b;
            default:
                throw new InvalidCastException($"A Redis {Type} reply is not an integer.");
        }
    }

    /// <summary>Strings as UTF-8 text, integers in invariant digits, null for a null reply.</summary>
    /// <exception cref="InvalidCastException">The reply is an array.</exception>
    public string? AsString() => Type switch
    {
        RedisResultType.Null => null,
        RedisResultType.SimpleString or RedisResultType.Error => (string)_value!,
        RedisResultType.BulkString => Encoding.UTF8.GetString((byte[])_value!),
        RedisResultType.Integer => _integer.ToString(CultureInfo.InvariantCulture),
        _ => throw new InvalidCastException("A Redis array reply is not a string."),
    };

    /// <summary>Bulk strings as their bytes (not copied), simple strings and integers as UTF-8, null for a null reply.</summary>
    /// <exception cref="InvalidCastException">The reply is an array.</exception>
    public byte[]? AsBytes() => Type switch
    {
        RedisResultType.Null => null,
        RedisResultType.BulkString => (byte[])_value!,
        RedisResultType.SimpleString or RedisResultType.Error => Encoding.UTF8.GetBytes((string)_value!),
        RedisResultType.Integer => Encoding.UTF8.GetBytes(_integer.ToString(CultureInfo.InvariantCulture)),
        _ => throw new InvalidCastException("A Redis array reply is not a string."),
    };

    /// <summary>The items of an array reply; null for a null reply.</summary>
    /// <exception cref="InvalidCastException">The reply is not an array.</exception>
    public RedisResult[]? AsArray() => Type switch
    {
        RedisResultType.Null => null,
        RedisResultType.Array => (RedisResult[])_value!,
        _ => throw new InvalidCastException($"A Redis {Type} reply is not an array."),
    };

    public bool Equals(RedisResult other)
    {
        if (Type != other.Type)
        {
            return false;
        }

        return Type switch
        {
            RedisResultType.Null => true,
            RedisResultType.Integer => _integer == other._integer,
            RedisResultType.SimpleString or RedisResultType.Error => (string)_value! == (string)other._value!,
            RedisResultType.BulkString => ((byte[])_value!).AsSpan().SequenceEqual((byte[])other._value!),
            _ => ((RedisResult[])_value!).AsSpan().SequenceEqual((RedisResult[])other._value!),
        };
    }

    public override bool Equals(object? obj) => obj is RedisResult other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(Type, _integer);

    public static bool operator ==(RedisResult left, RedisResult right) => left.Equals(right);

    public static bool operator !=(RedisResult left, RedisResult right) => !left.Equals(right);

    /// <summary>A short description for tests and debugging (bulk strings as UTF-8).</summary>
    public override string ToString() => Type switch
    {
        RedisResultType.Null => "(nil)",
        RedisResultType.Integer => $"(integer) {_integer.ToString(CultureInfo.InvariantCulture)}",
        RedisResultType.Error => $"(error) {_value}",
        RedisResultType.Array => $"[{string.Join(", ", (RedisResult[])_value!)}]",
        _ => $"\"{AsString()}\"",
    };
}
