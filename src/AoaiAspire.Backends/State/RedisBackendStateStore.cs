using System.Globalization;
using System.Text.Json;
using AoaiAspire.Backends.Redis;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

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
    private const string ExtendScript = """
        local current = tonumber(redis.call('GET', KEYS[1]) or '0')
        if tonumber(ARGV[1]) <= current then return 0 end
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        redis.call('PUBLISH', ARGV[3], ARGV[4])
        return 1
        """;

    // KEYS[1] = health key; ARGV = report JSON, checkedAt (unix ms), ttl ms, channel, event payload. Keeps the newer verdict.
    private const string HealthScript = """
        local current = redis.call('GET', KEYS[1])
        if current then
          local checked = tonumber(string.match(current, '"checkedAtUnixMs":(%d+)'))
          if checked and checked > tonumber(ARGV[2]) then return 0 end
        end
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
        redis.call('PUBLISH', ARGV[4], ARGV[5])
        return 1
        """;

    private static readonly RedisChannel Events = RedisChannel.Literal(SharedStateNames.EventsChannel);

    private readonly SharedRedis _redis;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SharedRedisSubscription _events;

    public RedisBackendStateStore(SharedRedis redis, TimeProvider time, ILogger<RedisBackendStateStore> logger)
    {
        _redis = redis;
        _time = time;
        _logger = logger;
        _events = redis.Subscribe(Events, OnMessage);
        _events.ConnectionChanged += connected => ConnectionChanged?.Invoke(connected); // after subscribing: a read-back misses nothing
        InstanceId = SharedStateNames.NewInstanceId();
    }

    public string InstanceId { get; }
    public bool IsShared => true;
    public bool IsConnected => _redis.IsConnected;
    public event Action<bool>? ConnectionChanged;
    public event Action<BackendEvent>? EventReceived;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _events.Start();
        return Task.CompletedTask;
    }

    private void OnMessage(ChannelMessage message)
    {
        var payload = (byte[]?)message.Message;
        if (payload is null || BackendEvent.FromJson(payload) is not { } backendEvent)
        {
            LogBadEvent(_logger, payload?.Length ?? 0);
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
        await _redis.Database.ScriptEvaluateAsync(ExtendScript, [key],
            [backendEvent.UntilUnixMs, ttl, SharedStateNames.EventsChannel, backendEvent.ToJson()]).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task<bool> PublishHealthAsync(BackendHealthReport report, TimeSpan timeToLive, CancellationToken cancellationToken)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(report, SharedStateJsonContext.Default.BackendHealthReport);
        var payload = new BackendEvent(BackendEventKind.Health, report.Backend, report.RetryAtUnixMs, report.Reporter, report).ToJson();
        var result = await _redis.Database.ScriptEvaluateAsync(HealthScript, [SharedStateNames.HealthKey(report.Backend)],
            [json, report.CheckedAtUnixMs, (long)timeToLive.TotalMilliseconds, SharedStateNames.EventsChannel, payload]).WaitAsync(cancellationToken).ConfigureAwait(false);
        return (long)result == 1;
    }

    public async Task<IReadOnlyList<BackendEvent>> ReadAsync(IReadOnlyList<BackendDeployments> backends, CancellationToken cancellationToken)
    {
        // One MGET: per backend its circuit and health, then one throttle per deployment.
        var keys = new List<RedisKey>();
        foreach (var backend in backends)
        {
            keys.Add(SharedStateNames.CircuitKey(backend.Backend));
            keys.Add(SharedStateNames.HealthKey(backend.Backend));
            keys.AddRange(backend.Deployments.Select(d => (RedisKey)SharedStateNames.ThrottleKey(backend.Backend, d)));
        }
        if (keys.Count == 0)
        {
            return [];
        }
        var values = await _redis.Database.StringGetAsync([.. keys]).WaitAsync(cancellationToken).ConfigureAwait(false);
        var events = new List<BackendEvent>();
        var at = 0;
        foreach (var backend in backends)
        {
            if (ParseUntil(values[at++]) is { } open)
            {
                events.Add(new BackendEvent(BackendEventKind.CircuitOpened, backend.Backend, open, "redis"));
            }
            if ((byte[]?)values[at++] is { } healthJson)
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
        => _redis.Database.StringSetAsync(SharedStateNames.ProbeLeaseKey(backend), InstanceId, duration, When.NotExists).WaitAsync(cancellationToken);

    private static long? ParseUntil(RedisValue value) => value.TryParse(out long until) ? until : null;

    public ValueTask DisposeAsync() => _events.DisposeAsync();

    [LoggerMessage(2001, LogLevel.Warning, "Ignored a malformed shared-state message ({Length} bytes).")]
    private static partial void LogBadEvent(ILogger logger, int length);
}
