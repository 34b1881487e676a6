using System.Security.Cryptography;
using System.Text;

namespace AoaiAspire.Backends.Redis;

/// <summary>
/// A Lua script with its SHA1, for <see cref="RedisClient.EvaluateAsync"/>: sent as EVALSHA, and as
/// EVAL only when the server answers NOSCRIPT (first use, after a restart or SCRIPT FLUSH).
/// Create once (a static field) and reuse.
/// </summary>
internal sealed class RedisScript
{
    public RedisScript(string source)
    {
        ArgumentException.ThrowIfNullOrEmpty(source);
        Source = source;
#pragma warning disable CA5350 // SHA1 is what Redis names scripts by, not a security measure.
        Sha1 = Convert.ToHexStringLower(SHA1.HashData(Encoding.UTF8.GetBytes(source)));
#pragma warning restore CA5350
    }

    public string Source { get; }

    /// <summary>Lower-case hex SHA1 of the UTF-8 source, as SCRIPT LOAD returns it.</summary>
    public string Sha1 { get; }
}
