namespace AoaiAspire.Gateway.Affinity;

/// <summary>
/// Where replicas share what they learn about object owners. Writes come from the directory's background loop,
/// never from a request; changes other replicas made arrive as <see cref="Received"/>. Implementations:
/// <see cref="LocalAffinityStore"/> (one replica, nothing shared) and <see cref="RedisAffinityStore"/>.
/// </summary>
internal interface IAffinityStore : IAsyncDisposable
{
    /// <summary>True when owners are shared with other replicas.</summary>
    bool IsShared { get; }

    /// <summary>A change another replica made.</summary>
    event Action<AffinityChange>? Received;

    Task StartAsync(CancellationToken cancellationToken);

    /// <summary>Stores the change (a key that expires with the owner, or its deletion) and tells the other replicas.</summary>
    Task WriteAsync(AffinityChange change, CancellationToken cancellationToken);

    /// <summary>The stored owner of <paramref name="id"/>, if any (for a replica that has not heard of it).</summary>
    Task<AffinityOwner?> ReadAsync(string id, CancellationToken cancellationToken);
}

/// <summary>One replica alone: nothing to share.</summary>
internal sealed class LocalAffinityStore : IAffinityStore
{
    public bool IsShared => false;

    public event Action<AffinityChange>? Received { add { } remove { } }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task WriteAsync(AffinityChange change, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task<AffinityOwner?> ReadAsync(string id, CancellationToken cancellationToken) => Task.FromResult<AffinityOwner?>(null);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
