using System.Globalization;
using System.Text.Json;
using AoaiAspire.Backends.Redis;
using Microsoft.Extensions.Logging;

namespace AoaiAspire.Backends.State;

/// <summary>
/// Backend state shared through Redis: a key per fact with a time-to-live (so nothing stale outlives
/// its meaning) and an event on <see cref="SharedStateNames.EventsChannel"/> for every change. Writes are
/// atomic Lua scripts that keep only the later throttle or the newer verdict, so replicas and probes
/// writing at once cannot move the shared picture backwards.
/// </summary>
internal sealed partial class RedisBackendStateStore : IBackendStateStore
{
    // KEYS[1] = key; ARGV = until (unix ms), ttl ms, channel, payload. Keeps the later "until".
    private static readonly RedisScript ExtendScript = new("""
        local current = tonumber(redis.call('GET', KEYS[1]) or '0')
        if tonumber(ARGV[1]) <= current then return 0 end
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        redis.call('PUBLISH', ARGV[3], ARGV[4])
        return 1
        """);

    // KEYS[1] = health key; ARGV = report JSON, checkedAt (unix ms), ttl ms, channel, event payload. Keeps the newer verdict.
    private static readonly RedisScript HealthScript = new("""
        local current = redis.call('GET', KEYS[1])
        if current then
          local checked = tonumber(string.match(current, '"checkedAtUnixMs":(%d+)'))
          if checked and checked > tonumber(ARGV[2]) then return 0 end
        end
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
        redis.call('PUBLISH', ARGV[4], ARGV[5])
        return 1
        """);

    private readonly RedisClient _client;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private RedisSubscription? _subscription;

    public RedisBackendStateStore(RedisConnectionOptions options, TimeProvider time, ILogger<RedisBackendStateStore> logger)
    {
        _time = time;
        _logger = logger;
        _client = RedisClient.Create(options, logger, time);
        _client.OnConnectionStateChanged += e => ConnectionChanged?.Invoke(e.IsConnected);
        InstanceId = SharedStateNames.NewInstanceId();
    }

    public string InstanceId { get; }
    public bool IsShared => true;
    public bool IsConnected => _client.IsConnected;
    public event Action<bool>? ConnectionChanged;
    public event Action<BackendEvent>? EventReceived;

    internal RedisClient Client => _client;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await _client.StartAsync(cancellationToken).ConfigureAwait(false);
        // Registered now, active as soon as the subscriber connection is up, and renewed on every reconnect.
        _subscription = await _client.SubscribeAsync(SharedStateNames.EventsChannel, OnMessage, cancellationToken).ConfigureAwait(false);
    }

    private void OnMessage(string channel, ReadOnlyMemory<byte> payload)
    {
        var backendEvent = BackendEvent.FromJson(payload.Span);
        if (backendEvent is null)
        {
            LogBadEvent(_logger, payload.Length);
            return;
        }
        if (backendEvent.Origin != InstanceId)
        {
            EventReceived?.Invoke(backendEvent);
        }
    }

    public async Task PublishAsync(BackendEvent backendEvent, CancellationToken cancellationToken)
    {
        string key;
        if (backendEvent.Kind == BackendEventKind.CircuitOpened)
        {
            key = SharedStateNames.CircuitKey(backendEvent.Backend);
        }
        else if (backendEvent.Deployment is { } deployment)
        {
            key = SharedStateNames.ThrottleKey(backendEvent.Backend, deployment);
        }
        else
        {
            return; // a throttle is always a deployment's
        }
        var ttl = Math.Max(1, backendEvent.UntilUnixMs - _time.GetUtcNow().ToUnixTimeMilliseconds());
        await _client.EvaluateAsync(ExtendScript, [key],
            [backendEvent.UntilUnixMs.ToString(CultureInfo.InvariantCulture), ttl.ToString(CultureInfo.InvariantCulture), SharedStateNames.EventsChannel, backendEvent.ToJson()],
            cancellationToken).ConfigureAwait(false);
    }

    public async Task<bool> PublishHealthAsync(BackendHealthReport report, TimeSpan timeToLive, CancellationToken cancellationToken)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(report, SharedStateJsonContext.Default.BackendHealthReport);
        var payload = new BackendEvent(BackendEventKind.Health, report.Backend, report.RetryAtUnixMs, report.Reporter, report).ToJson();
        var result = await _client.EvaluateAsync(HealthScript, [SharedStateNames.HealthKey(report.Backend)],
            [json, report.CheckedAtUnixMs.ToString(CultureInfo.InvariantCulture), ((long)timeToLive.TotalMilliseconds).ToString(CultureInfo.InvariantCulture), SharedStateNames.EventsChannel, payload],
            cancellationToken).ConfigureAwait(false);
        return result.AsInt64() == 1;
    }

    public async Task<IReadOnlyList<BackendEvent>> ReadAsync(IReadOnlyList<BackendDeployments> backends, CancellationToken cancellationToken)
    {
        // One MGET: per backend its circuit and health, then one throttle per deployment.
        var keys = new List<string>();
        foreach (var backend in backends)
        {
            keys.Add(SharedStateNames.CircuitKey(backend.Backend));
            keys.Add(SharedStateNames.HealthKey(backend.Backend));
            keys.AddRange(backend.Deployments.Select(d => SharedStateNames.ThrottleKey(backend.Backend, d)));
        }
        var values = await _client.GetManyAsync(keys, cancellationToken).ConfigureAwait(false);
        var events = new List<BackendEvent>();
        var at = 0;
        foreach (var backend in backends)
        {
            if (ParseUntil(values[at++]) is { } open)
            {
                events.Add(new BackendEvent(BackendEventKind.CircuitOpened, backend.Backend, open, "redis"));
            }
            if (values[at++] is { } healthJson)
            {
                try
                {
                    if (JsonSerializer.Deserialize(healthJson, SharedStateJsonContext.Default.BackendHealthReport) is { } report)
                    {
                        events.Add(new BackendEvent(BackendEventKind.Health, backend.Backend, report.RetryAtUnixMs, "redis", report));
                    }
                }
                catch (JsonException)
                {
                    LogBadEvent(_logger, healthJson.Length);
                }
            }
            foreach (var deployment in backend.Deployments)
            {
                if (ParseUntil(values[at++]) is { } throttled)
                {
                    events.Add(new BackendEvent(BackendEventKind.Throttled, backend.Backend, throttled, "redis") { Deployment = deployment });
                }
            }
        }
        return events;
    }

    public Task<bool> TryTakeProbeLeaseAsync(string backend, TimeSpan duration, CancellationToken cancellationToken)
        => _client.SetAsync(SharedStateNames.ProbeLeaseKey(backend), InstanceId, duration, RedisSetCondition.IfNotExists, cancellationToken);

    private static long? ParseUntil(byte[]? value)
        => value is not null && long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var until) ? until : null;

    public async ValueTask DisposeAsync()
    {
        if (_subscription is { } subscription)
        {
            try
            {
                await subscription.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is RedisException or ObjectDisposedException)
            {
                // Shutting down: nothing to unsubscribe from.
            }
        }
        await _client.DisposeAsync().ConfigureAwait(false);
    }

    [LoggerMessage(2001, LogLevel.Warning, "Ignored a malformed shared-state message ({Length} bytes).")]
    private static partial void LogBadEvent(ILogger logger, int length);
}
