using System.Runtime.CompilerServices;
using System.Text;

namespace AoaiAspire.Backends.Redis;

/// <summary>When SET writes.</summary>
internal enum RedisSetCondition
{
    Always,

    /// <summary>NX: only if the key does not exist.</summary>
    IfNotExists,

    /// <summary>XX: only if the key exists.</summary>
    IfExists,
}

/// <summary>Typed conveniences for the commands the gateway and the health probe use.</summary>
internal sealed partial class RedisClient
{
    public async Task<byte[]?> GetAsync(string key, CancellationToken cancellationToken = default) =>
        (await ExecuteAsync("GET", [key], cancellationToken)).AsBytes();

    public async Task<string?> GetStringAsync(string key, CancellationToken cancellationToken = default) =>
        (await ExecuteAsync("GET", [key], cancellationToken)).AsString();

    /// <summary>MGET: one entry per key, null where the key is missing.</summary>
    public async Task<byte[]?[]> GetManyAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken = default)
    {
        var items = await ExecuteForArrayAsync("MGET", ToArgs(keys), cancellationToken);
        var values = new byte[]?[items.Length];
        for (var i = 0; i < items.Length; i++)
        {
            values[i] = items[i].AsBytes();
        }

        return values;
    }

    /// <summary>MGET as UTF-8 strings.</summary>
    public async Task<string?[]> GetManyStringsAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken = default)
    {
        var items = await ExecuteForArrayAsync("MGET", ToArgs(keys), cancellationToken);
        var values = new string?[items.Length];
        for (var i = 0; i < items.Length; i++)
        {
            values[i] = items[i].AsString();
        }

        return values;
    }

    /// <summary>SET with optional PX expiry and NX/XX; false when the condition kept it from writing.</summary>
    public Task<bool> SetAsync(string key, string value, TimeSpan? expiry = null, RedisSetCondition condition = RedisSetCondition.Always, CancellationToken cancellationToken = default) =>
        SetCoreAsync(key, value, expiry, condition, cancellationToken);

    /// <inheritdoc cref="SetAsync(string, string, TimeSpan?, RedisSetCondition, CancellationToken)"/>
    public Task<bool> SetAsync(string key, ReadOnlyMemory<byte> value, TimeSpan? expiry = null, RedisSetCondition condition = RedisSetCondition.Always, CancellationToken cancellationToken = default) =>
        SetCoreAsync(key, value, expiry, condition, cancellationToken);

    /// <summary>DEL: how many of the keys existed.</summary>
    public async Task<long> DeleteAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken = default) =>
        (await ExecuteAsync("DEL", ToArgs(keys), cancellationToken)).AsInt64();

    public Task<long> DeleteAsync(string key, CancellationToken cancellationToken = default) =>
        DeleteAsync([key], cancellationToken);

    /// <summary>INCRBY: the value after the increment.</summary>
    public async Task<long> IncrementByAsync(string key, long increment = 1, CancellationToken cancellationToken = default) =>
        (await ExecuteAsync("INCRBY", [key, increment], cancellationToken)).AsInt64();

    /// <summary>PEXPIRE: false when the key does not exist.</summary>
    public async Task<bool> ExpireAsync(string key, TimeSpan expiry, CancellationToken cancellationToken = default) =>
        (await ExecuteAsync("PEXPIRE", [key, ToMilliseconds(expiry)], cancellationToken)).AsInt64() == 1;

    /// <summary>HSET: how many fields were new.</summary>
    public async Task<long> HashSetAsync(string key, IEnumerable<KeyValuePair<string, string>> fields, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(fields);
        var args = new List<object> { key };
        foreach (var (field, value) in fields)
        {
            args.Add(field);
            args.Add(value);
        }

        if (args.Count == 1)
        {
            throw new ArgumentException("HSET needs at least one field.", nameof(fields));
        }

        return (await ExecuteAsync("HSET", [.. args], cancellationToken)).AsInt64();
    }

    /// <summary>HGETALL as UTF-8 strings; empty when the key does not exist.</summary>
    public async Task<Dictionary<string, string>> HashGetAllAsync(string key, CancellationToken cancellationToken = default)
    {
        var items = await ExecuteForArrayAsync("HGETALL", [key], cancellationToken);
        var fields = new Dictionary<string, string>(items.Length / 2, StringComparer.Ordinal);
        for (var i = 0; i + 1 < items.Length; i += 2)
        {
            fields[items[i].AsString()!] = items[i + 1].AsString() ?? string.Empty;
        }

        return fields;
    }

    /// <summary>EVALSHA, falling back to EVAL (which also caches the script) on NOSCRIPT.</summary>
    public async Task<RedisResult> EvaluateAsync(RedisScript script, IReadOnlyList<string> keys, IReadOnlyList<object> args, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(script);
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentNullException.ThrowIfNull(args);
        var commandArgs = new object[2 + keys.Count + args.Count];
        commandArgs[0] = script.Sha1;
        commandArgs[1] = keys.Count;
        for (var i = 0; i < keys.Count; i++)
        {
            commandArgs[2 + i] = keys[i];
        }

        for (var i = 0; i < args.Count; i++)
        {
            commandArgs[2 + keys.Count + i] = args[i];
        }

        try
        {
            return await ExecuteAsync("EVALSHA", commandArgs, cancellationToken);
        }
        catch (RedisServerException ex) when (ex.ErrorCode == "NOSCRIPT")
        {
            commandArgs[0] = script.Source;
            return await ExecuteAsync("EVAL", commandArgs, cancellationToken);
        }
    }

    /// <summary>PUBLISH: how many subscribers received it.</summary>
    public async Task<long> PublishAsync(string channel, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default) =>
        (await ExecuteAsync("PUBLISH", [channel, payload], cancellationToken)).AsInt64();

    public Task<long> PublishAsync(string channel, string payload, CancellationToken cancellationToken = default) =>
        PublishAsync(channel, Encoding.UTF8.GetBytes(payload), cancellationToken);

    /// <summary>PING on the command connection; returns the round trip as measured by the injected clock.</summary>
    public async Task<TimeSpan> PingAsync(CancellationToken cancellationToken = default)
    {
        var started = _timeProvider.GetTimestamp();
        await ExecuteAsync("PING", [], cancellationToken);
        return _timeProvider.GetElapsedTime(started);
    }

    /// <summary>SCAN MATCH <paramref name="pattern"/>: every matching key, page by page (a key may repeat, as SCAN guarantees no more).</summary>
    public async IAsyncEnumerable<string> ScanAsync(string pattern, int pageSize = 250, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(pageSize);
        var cursor = "0";
        do
        {
            var page = await ExecuteForArrayAsync("SCAN", [cursor, "MATCH", pattern, "COUNT", pageSize], cancellationToken);
            if (page.Length != 2)
            {
                throw new RedisProtocolException("SCAN replied with an unexpected shape.");
            }

            cursor = page[0].AsString()!;
            foreach (var key in page[1].AsArray() ?? [])
            {
                yield return key.AsString()!;
            }
        }
        while (cursor != "0");
    }

    private static object[] ToArgs(IReadOnlyList<string> keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        if (keys.Count == 0)
        {
            throw new ArgumentException("At least one key is needed.", nameof(keys));
        }

        var args = new object[keys.Count];
        for (var i = 0; i < keys.Count; i++)
        {
            args[i] = keys[i];
        }

        return args;
    }

    private static long ToMilliseconds(TimeSpan duration)
    {
        var ms = (long)Math.Ceiling(duration.TotalMilliseconds);
        return ms > 0 ? ms : throw new ArgumentOutOfRangeException(nameof(duration), "An expiry must be positive.");
    }

    private async Task<RedisResult[]> ExecuteForArrayAsync(string command, object[] args, CancellationToken cancellationToken) =>
        (await ExecuteAsync(command, args, cancellationToken)).AsArray() ?? [];

    private async Task<bool> SetCoreAsync(string key, object value, TimeSpan? expiry, RedisSetCondition condition, CancellationToken cancellationToken)
    {
        var count = 2 + (expiry is null ? 0 : 2) + (condition == RedisSetCondition.Always ? 0 : 1);
        var args = new object[count];
        args[0] = key;
        args[1] = value;
        var next = 2;
        if (expiry is { } ttl)
        {
            args[next++] = "PX";
            args[next++] = ToMilliseconds(ttl);
        }

        if (condition != RedisSetCondition.Always)
        {
            args[next] = condition == RedisSetCondition.IfNotExists ? "NX" : "XX";
        }

        return !(await ExecuteAsync("SET", args, cancellationToken)).IsNull;
    }
}
