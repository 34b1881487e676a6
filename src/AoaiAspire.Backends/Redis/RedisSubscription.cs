namespace AoaiAspire.Backends.Redis;

/// <summary>
/// One handler on one channel (or pattern). Kept across reconnects; dispose it to unsubscribe.
/// </summary>
internal sealed class RedisSubscription : IAsyncDisposable
{
    private readonly RedisClient _client;
    private int _disposed;

    internal RedisSubscription(RedisClient client, string channel, bool isPattern, Action<string, ReadOnlyMemory<byte>> handler)
    {
        _client = client;
        Channel = channel;
        IsPattern = isPattern;
        Handler = handler;
    }

    /// <summary>The channel name, or the glob pattern when <see cref="IsPattern"/>.</summary>
    public string Channel { get; }

    public bool IsPattern { get; }

    internal Action<string, ReadOnlyMemory<byte>> Handler { get; }

    public ValueTask DisposeAsync() =>
        Interlocked.Exchange(ref _disposed, 1) == 0 ? _client.UnsubscribeAsync(this) : ValueTask.CompletedTask;
}
