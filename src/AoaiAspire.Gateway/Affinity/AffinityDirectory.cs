using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Options;

namespace AoaiAspire.Gateway.Affinity;

/// <summary>
/// Which backend holds each stateful object the gateway has seen (stored responses, conversations), so that every
/// request naming one goes to its owner.
/// </summary>
/// <remarks>
/// The request path only reads memory (<see cref="TryGetOwner(ReadOnlySpan{byte}, out AffinityOwner)"/>) and
/// records into memory (<see cref="Record"/>); sharing with the other replicas happens in a background loop:
/// 1. a recorded owner or a deletion is queued (bounded; when Redis is slower than the traffic the oldest
///    queued change is dropped, which costs a "not found" search later, never a wrong answer);
/// 2. the loop writes it to the store (Redis: a key with the owner's lifetime, and a message to the others);
/// 3. changes from the other replicas arrive as events and go into memory;
/// 4. an id this replica does not know is looked up in the store in the background, so the next request
///    that names it knows its owner even if this replica missed the message (it joined later, or restarted).
/// </remarks>
internal sealed partial class AffinityDirectory : BackgroundService
{
    private const int MaxIdLength = 256;

    private readonly AffinityCache _cache;
    private readonly IAffinityStore _store;
    private readonly TimeProvider _time;
    private readonly ILogger<AffinityDirectory> _logger;
    private readonly TimeSpan _lifetime;
    private readonly Channel<AffinityChange> _writes = Channel.CreateBounded<AffinityChange>(
        new BoundedChannelOptions(10_000) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
    private readonly Channel<string> _lookups = Channel.CreateBounded<string>(
        new BoundedChannelOptions(1_000) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });
    private bool _writeFailing;

    public AffinityDirectory(IAffinityStore store, IOptions<AffinityOptions> options, TimeProvider time, ILogger<AffinityDirectory> logger)
    {
        _store = store;
        _time = time;
        _logger = logger;
        _lifetime = options.Value.Lifetime;
        _cache = new AffinityCache(options.Value.Capacity);
        _store.Received += OnReceived;
    }

    /// <summary>True when owners are shared with other replicas (Redis).</summary>
    public bool IsShared => _store.IsShared;

    /// <summary>Owners held in memory.</summary>
    public int Count => _cache.Count;

    /// <summary>Changes queued for the store and not yet written.</summary>
    public int PendingWrites => _writes.Reader.Count;

    /// <summary>The owner of the object whose id is <paramref name="utf8Id"/> (raw body bytes); no allocation when known.</summary>
    public bool TryGetOwner(ReadOnlySpan<byte> utf8Id, out AffinityOwner owner)
    {
        owner = null!;
        if (utf8Id.IsEmpty || utf8Id.Length > MaxIdLength)
        {
            return false;
        }
        Span<char> id = stackalloc char[MaxIdLength];
        if (!Encoding.UTF8.TryGetChars(utf8Id, id, out var length))
        {
            return false;
        }
        return TryGetOwner(id[..length], out owner);
    }

    public bool TryGetOwner(ReadOnlySpan<char> id, out AffinityOwner owner)
    {
        if (_cache.TryGet(id, _time.GetUtcNow().ToUnixTimeMilliseconds(), out owner))
        {
            return true;
        }
        if (_store.IsShared && id.Length is > 0 and <= MaxIdLength)
        {
            _lookups.Writer.TryWrite(id.ToString()); // step 4: only unknown ids cost a string
        }
        return false;
    }

    /// <summary>Records that <paramref name="backend"/> holds <paramref name="id"/>: in memory now, in the store in the background.</summary>
    public void Record(string id, string backend, string deployment, string consumer)
    {
        if (id.Length is 0 or > MaxIdLength)
        {
            return;
        }
        if (_cache.TryGet(id, _time.GetUtcNow().ToUnixTimeMilliseconds(), out var known) && known.Backend == backend && known.Consumer == consumer)
        {
            return; // already known (a follow-up found its owner): nothing to tell the others
        }
        var owner = new AffinityOwner(backend, deployment, consumer, (_time.GetUtcNow() + _lifetime).ToUnixTimeMilliseconds());
        _cache.Set(id, owner);
        _writes.Writer.TryWrite(new AffinityChange(id, owner));
        LogRecorded(_logger, id.Length > 12 ? id[..12] : id, backend);
    }

    /// <summary>The object was deleted: forget it here and everywhere.</summary>
    public void Forget(string id)
    {
        _cache.Remove(id);
        _writes.Writer.TryWrite(new AffinityChange(id, null));
    }

    private void OnReceived(AffinityChange change)
    {
        if (change.Owner is { } owner)
        {
            if (owner.ExpiresAtUnixMs > _time.GetUtcNow().ToUnixTimeMilliseconds())
            {
                _cache.Set(change.Id, owner);
            }
        }
        else
        {
            _cache.Remove(change.Id);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await _store.StartAsync(stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            return;
        }
        catch (Exception ex)
        {
            // Redis away at start: the client keeps reconnecting; meanwhile owners stay in this replica's memory.
            _writeFailing = true;
            LogShareFailed(_logger, ex.GetType().Name, ex.Message);
        }
        await Task.WhenAll(WriteLoopAsync(stoppingToken), LookupLoopAsync(stoppingToken)).ConfigureAwait(false);
    }

    private async Task WriteLoopAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var change in _writes.Reader.ReadAllAsync(stoppingToken).ConfigureAwait(false))
            {
                try
                {
                    await _store.WriteAsync(change, stoppingToken).ConfigureAwait(false);
                    _writeFailing = false;
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    if (!_writeFailing)
                    {
                        _writeFailing = true; // once per outage, not once per change
                        LogShareFailed(_logger, ex.GetType().Name, ex.Message);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task LookupLoopAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var id in _lookups.Reader.ReadAllAsync(stoppingToken).ConfigureAwait(false))
            {
                try
                {
                    if (await _store.ReadAsync(id, stoppingToken).ConfigureAwait(false) is { } owner)
                    {
                        OnReceived(new AffinityChange(id, owner));
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    // The store is away: the request that asked was routed normally; nothing else to do.
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _writes.Writer.TryComplete();
        _lookups.Writer.TryComplete();
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
    }

    public override void Dispose()
    {
        _store.Received -= OnReceived;
        base.Dispose();
    }

    [LoggerMessage(2101, LogLevel.Debug, "Object {IdPrefix}… lives on backend {Backend}.")]
    private static partial void LogRecorded(ILogger logger, string idPrefix, string backend);

    [LoggerMessage(2102, LogLevel.Warning, "Could not share object owners with the other replicas ({Error}: {Message}); they will find them by asking the backends. Retrying with the next change.")]
    private static partial void LogShareFailed(ILogger logger, string error, string message);
}
