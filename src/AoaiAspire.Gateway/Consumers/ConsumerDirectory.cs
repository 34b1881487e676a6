using System.Security.Cryptography;
using System.Text;
using AoaiAspire.Gateway.Configuration;
using Microsoft.Extensions.Options;

namespace AoaiAspire.Gateway.Consumers;

/// <summary>A caller of the gateway.</summary>
internal sealed class Consumer(string name, IReadOnlySet<string>? deployments, int maxConcurrentRequests = 0, string? priority = null, TimeSpan? maxQueueWait = null)
{
    public static readonly Consumer Anonymous = new("anonymous", null);

    private int _inFlight;

    public string Name { get; } = name;

    /// <summary>Requests in flight at most; 0 means no limit.</summary>
    public int MaxConcurrentRequests { get; } = maxConcurrentRequests;

    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Its priority class in the admission queue; null: the default class.</summary>
    public string? Priority { get; } = priority;

    /// <summary>How long its requests may wait in the admission queue; null: <c>Gateway:Admission:MaxQueueWait</c>.</summary>
    public TimeSpan? MaxQueueWait { get; } = maxQueueWait;

    /// <summary>Counts a request in, unless the consumer is at its concurrency limit. Pair with <see cref="Exit"/>.</summary>
    public bool TryEnter()
    {
        var now = Interlocked.Increment(ref _inFlight);
        if (MaxConcurrentRequests > 0 && now > MaxConcurrentRequests)
        {
            Interlocked.Decrement(ref _inFlight);
            return false;
        }
        return true;
    }

    public void Exit() => Interlocked.Decrement(ref _inFlight);

    /// <summary>Logical deployments the consumer may call; null means all.</summary>
    public IReadOnlySet<string>? Deployments { get; } = deployments;

    public bool MayCall(string deployment) => Deployments is null || Deployments.Contains(deployment);
}

/// <summary>The SHA-256 of a key: what the directory stores and compares, never the key itself.</summary>
internal readonly record struct KeyHash(ulong A, ulong B, ulong C, ulong D)
{
    public static KeyHash Of(ReadOnlySpan<char> key)
    {
        Span<byte> utf8 = key.Length <= 256 ? stackalloc byte[key.Length * 3] : new byte[Encoding.UTF8.GetMaxByteCount(key.Length)];
        var length = Encoding.UTF8.GetBytes(key, utf8);
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(utf8[..length], hash);
        return FromBytes(hash);
    }

    public static KeyHash FromHex(string hex) => FromBytes(Convert.FromHexString(hex));

    private static KeyHash FromBytes(ReadOnlySpan<byte> hash)
        => new(BitConverter.ToUInt64(hash[..8]), BitConverter.ToUInt64(hash[8..16]), BitConverter.ToUInt64(hash[16..24]), BitConverter.ToUInt64(hash[24..32]));
}

/// <summary>
/// Finds the consumer behind a presented key. Keys are hashed with SHA-256 and looked up by hash, so
/// nothing compares secrets byte by byte and configuration may hold hashes instead of keys.
/// </summary>
internal sealed class ConsumerDirectory
{
    private volatile Dictionary<KeyHash, Consumer> _byKey;
    private volatile Consumer? _anonymous;

    public ConsumerDirectory(IOptionsMonitor<GatewayOptions> options, IHostEnvironment environment)
    {
        (_byKey, _anonymous) = Build(options.CurrentValue, environment);
        options.OnChange(o => (_byKey, _anonymous) = Build(o, environment));
    }

    /// <summary>True when callers need no key (no consumers configured and anonymous access allowed).</summary>
    public bool AllowsAnonymous => _anonymous is not null;

    public int Count => _byKey.Values.Distinct().Count();

    /// <summary>Reads the caller's key from <c>api-key</c> or <c>Authorization: Bearer</c>.</summary>
    public static ReadOnlySpan<char> PresentedKey(HttpRequest request)
    {
        var apiKey = request.Headers["api-key"];
        if (apiKey.Count > 0 && !string.IsNullOrEmpty(apiKey[0]))
        {
            return apiKey[0].AsSpan().Trim();
        }
        var authorization = request.Headers.Authorization;
        if (authorization.Count > 0 && authorization[0] is { } value && value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return value.AsSpan(7).Trim();
        }
        return [];
    }

    public Consumer? Authenticate(HttpRequest request) => Authenticate(PresentedKey(request));

    /// <summary>The consumer behind a key found elsewhere than the headers (a realtime subprotocol or query parameter).</summary>
    public Consumer? Authenticate(ReadOnlySpan<char> key)
    {
        if (_anonymous is { } anonymous)
        {
            return anonymous;
        }
        if (key.IsEmpty || key.Length > 1024)
        {
            return null;
        }
        return _byKey.GetValueOrDefault(KeyHash.Of(key));
    }

    private static (Dictionary<KeyHash, Consumer>, Consumer?) Build(GatewayOptions options, IHostEnvironment environment)
    {
        var map = new Dictionary<KeyHash, Consumer>();
        foreach (var (name, c) in options.Consumers)
        {
            var consumer = new Consumer(name, c.Deployments.Count == 0 ? null : new HashSet<string>(c.Deployments, StringComparer.OrdinalIgnoreCase),
                c.MaxConcurrentRequests ?? options.Limits.MaxConcurrentRequestsPerConsumer, c.Priority, c.MaxQueueWait);
            foreach (var key in c.Keys.Where(k => !string.IsNullOrWhiteSpace(k)))
            {
                map[KeyHash.Of(key.Trim())] = consumer;
            }
            foreach (var hash in c.KeyHashes)
            {
                map[KeyHash.FromHex(hash)] = consumer;
            }
        }
        var anonymous = map.Count == 0 && (options.AllowAnonymous || environment.IsDevelopment());
        return (map, anonymous ? new Consumer(Consumer.Anonymous.Name, null, options.Limits.MaxConcurrentRequestsPerConsumer) : null);
    }
}
