using System.Buffers;
using System.Text.Json;
using AoaiAspire.Backends.Redis;
using AoaiAspire.Backends.State;
using StackExchange.Redis;

namespace AoaiAspire.Gateway.Affinity;

/// <summary>
/// Owners shared through Redis: one key per object (<see cref="AffinityNames.Key"/>, expiring with the object) and a
/// message on <see cref="AffinityNames.Channel"/> for every change, written together by one script. On the process's
/// one Redis connection (<see cref="SharedRedis"/>), listening through <see cref="SharedRedis.Subscribe"/> as the backend-state store does.
/// </summary>
internal sealed partial class RedisAffinityStore : IAffinityStore
{
    // KEYS[1] = key; ARGV = value, ttl ms, channel, message.
    private const string SetScript = """
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        redis.call('PUBLISH', ARGV[3], ARGV[4])
        return 1
        """;

    // KEYS[1] = key; ARGV = channel, message.
    private const string DeleteScript = """
        redis.call('DEL', KEYS[1])
        redis.call('PUBLISH', ARGV[1], ARGV[2])
        return 1
        """;

    private static readonly RedisChannel Changes = RedisChannel.Literal(AffinityNames.Channel);

    private readonly SharedRedis _redis;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _instanceId = SharedStateNames.NewInstanceId();
    private readonly SharedRedisSubscription _changes;

    public RedisAffinityStore(SharedRedis redis, TimeProvider time, ILogger<RedisAffinityStore> logger)
    {
        _redis = redis;
        _time = time;
        _logger = logger;
        _changes = redis.Subscribe(Changes, OnMessage);
    }

    public bool IsShared => true;

    public event Action<AffinityChange>? Received;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _changes.Start();
        return Task.CompletedTask;
    }

    public async Task WriteAsync(AffinityChange change, CancellationToken cancellationToken)
    {
        var message = Serialize(change, _instanceId);
        if (change.Owner is { } owner)
        {
            var ttl = owner.ExpiresAtUnixMs - _time.GetUtcNow().ToUnixTimeMilliseconds();
            if (ttl <= 0)
            {
                return;
            }
            await _redis.Database.ScriptEvaluateAsync(SetScript, [AffinityNames.Key(change.Id)],
                [Serialize(change, origin: null), ttl, AffinityNames.Channel, message]).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await _redis.Database.ScriptEvaluateAsync(DeleteScript, [AffinityNames.Key(change.Id)], [AffinityNames.Channel, message])
                .WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task<AffinityOwner?> ReadAsync(string id, CancellationToken cancellationToken)
    {
        var value = (byte[]?)await _redis.Database.StringGetAsync(AffinityNames.Key(id)).WaitAsync(cancellationToken).ConfigureAwait(false);
        return value is not null && TryParse(value, out var change, out _) && change.Id == id ? change.Owner : null;
    }

    private void OnMessage(ChannelMessage message)
    {
        var payload = (byte[]?)message.Message;
        if (payload is null || !TryParse(payload, out var change, out var origin))
        {
            LogBadMessage(_logger, payload?.Length ?? 0);
            return;
        }
        if (origin != _instanceId)
        {
            Received?.Invoke(change);
        }
    }

    /// <summary><c>{"id","backend","deployment","consumer","expiresAtUnixMs","origin"}</c>; no backend for a deletion.</summary>
    internal static string Serialize(AffinityChange change, string? origin)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("id", change.Id);
            if (change.Owner is { } owner)
            {
                writer.WriteString("backend", owner.Backend);
                writer.WriteString("deployment", owner.Deployment);
                writer.WriteString("consumer", owner.Consumer);
                writer.WriteNumber("expiresAtUnixMs", owner.ExpiresAtUnixMs);
            }
            if (origin is not null)
            {
                writer.WriteString("origin", origin);
            }
            writer.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    internal static bool TryParse(ReadOnlySpan<byte> json, out AffinityChange change, out string? origin)
    {
        change = default;
        origin = null;
        try
        {
            var reader = new Utf8JsonReader(json);
            string? id = null, backend = null, deployment = null, consumer = null;
            long expires = 0;
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var name = reader.GetString();
                reader.Read();
                switch (name)
                {
                    case "id": id = reader.GetString(); break;
                    case "backend": backend = reader.GetString(); break;
                    case "deployment": deployment = reader.GetString(); break;
                    case "consumer": consumer = reader.GetString(); break;
                    case "expiresAtUnixMs": expires = reader.GetInt64(); break;
                    case "origin": origin = reader.GetString(); break;
                    default: reader.Skip(); break;
                }
            }
            if (string.IsNullOrEmpty(id))
            {
                return false;
            }
            change = new AffinityChange(id, backend is null ? null : new AffinityOwner(backend, deployment ?? "", consumer ?? "", expires));
            return true;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
        {
            return false;
        }
    }

    public ValueTask DisposeAsync() => _changes.DisposeAsync();

    [LoggerMessage(2103, LogLevel.Warning, "An affinity message of {Length} bytes could not be read; ignored.")]
    private static partial void LogBadMessage(ILogger logger, int length);
}
