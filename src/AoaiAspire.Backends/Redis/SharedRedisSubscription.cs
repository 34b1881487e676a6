using StackExchange.Redis;

namespace AoaiAspire.Backends.Redis;

/// <summary>
/// One channel subscribed on the process's one connection (<see cref="SharedRedis.Subscribe"/>): once, while
/// connected, and again on the next <see cref="SharedRedis.ConnectionChanged"/>(true) if that failed (a subscription
/// made while disconnected might fail after being recorded, and a second one would deliver every message twice).
/// StackExchange.Redis keeps it across reconnects.
/// </summary>
/// <remarks>
/// <see cref="ConnectionChanged"/> follows the connection's, raised after this subscribes: a handler that reads
/// stored facts back on <c>true</c> misses no message published after that read.
/// </remarks>
internal sealed class SharedRedisSubscription : IAsyncDisposable
{
    private readonly SharedRedis _redis;
    private readonly RedisChannel _channel;
    private readonly Action<ChannelMessage> _onMessage;
    private ChannelMessageQueue? _queue;
    private int _subscribed;

    internal SharedRedisSubscription(SharedRedis redis, RedisChannel channel, Action<ChannelMessage> onMessage)
    {
        _redis = redis;
        _channel = channel;
        _onMessage = onMessage;
        _redis.ConnectionChanged += OnConnectionChanged;
    }

    /// <summary>The connection's state changes, raised after subscribing when it is usable again.</summary>
    public event Action<bool>? ConnectionChanged;

    /// <summary>Subscribes now if Redis is usable; else on the first <see cref="SharedRedis.ConnectionChanged"/>(true).</summary>
    public void Start()
    {
        if (_redis.IsConnected)
        {
            TrySubscribe();
        }
    }

    private void OnConnectionChanged(bool connected)
    {
        if (connected)
        {
            TrySubscribe();
        }
        ConnectionChanged?.Invoke(connected);
    }

    private void TrySubscribe()
    {
        if (Interlocked.Exchange(ref _subscribed, 1) == 1)
        {
            return;
        }
        try
        {
            _queue = _redis.Subscriber.Subscribe(_channel);
            _queue.OnMessage(_onMessage);
        }
        catch (RedisException)
        {
            Volatile.Write(ref _subscribed, 0); // lost again at once: the next ConnectionChanged(true) tries again
        }
    }

    public async ValueTask DisposeAsync()
    {
        _redis.ConnectionChanged -= OnConnectionChanged;
        if (_queue is { } queue)
        {
            try
            {
                await queue.UnsubscribeAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is RedisException or ObjectDisposedException)
            {
                // Shutting down, or gone with the connection: nothing to unsubscribe from.
            }
        }
    }
}
