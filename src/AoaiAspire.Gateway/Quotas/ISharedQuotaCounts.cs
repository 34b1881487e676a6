using AoaiAspire.Backends.Redis;
using StackExchange.Redis;

namespace AoaiAspire.Gateway.Quotas;

/// <summary>
/// What <see cref="QuotaSynchronizer"/> needs to share quota counts with the other replicas: add this replica's
/// charges to a window's totals, read the totals, and notice a lost dataset. Without Redis there is no
/// implementation and the counts stay per replica.
/// </summary>
internal interface ISharedQuotaCounts
{
    /// <summary>True while the shared store is reachable.</summary>
    bool IsConnected { get; }

    /// <summary>Raised when the store is lost (false) or usable again (true).</summary>
    event Action<bool>? ConnectionChanged;

    /// <summary>The dataset's epoch: <paramref name="candidate"/> if none is set yet, else the one in force.</summary>
    Task<string?> GetOrSetEpochAsync(string candidate);

    /// <summary>Adds the deltas to both keys (atomically, refreshing their expiry) and returns the totals after.</summary>
    Task<(long Tokens, long Requests)> AddAsync(string tokensKey, string requestsKey, long tokens, long requests, TimeSpan timeToLive);

    /// <summary>The totals stored under <paramref name="keys"/>, 0 where missing.</summary>
    Task<long[]> ReadAsync(string[] keys);
}

/// <summary><see cref="ISharedQuotaCounts"/> on the process's one Redis connection (<see cref="SharedRedis"/>).</summary>
/// <remarks>
/// Calls are not awaited one by one: the synchroniser issues all of a pass's calls before awaiting any, and the
/// multiplexer pipelines them on its connection (one round trip per pass).
/// </remarks>
internal sealed class RedisQuotaCounts(SharedRedis redis) : ISharedQuotaCounts
{
    // KEYS = tokens key, requests key; ARGV = token delta, request delta, ttl ms. Returns both totals.
    private const string PushScript = """
        local t = redis.call('INCRBY', KEYS[1], ARGV[1])
        local r = redis.call('INCRBY', KEYS[2], ARGV[2])
        redis.call('PEXPIRE', KEYS[1], ARGV[3])
        redis.call('PEXPIRE', KEYS[2], ARGV[3])
        return {t, r}
        """;

    // KEYS[1] = epoch key; ARGV[1] = a new random value, set only when the key is missing. Returns the value in force.
    private const string EpochScript = """
        local e = redis.call('GET', KEYS[1])
        if e then return e end
        redis.call('SET', KEYS[1], ARGV[1])
        return ARGV[1]
        """;

    public bool IsConnected => redis.IsConnected;

    public event Action<bool>? ConnectionChanged
    {
        add => redis.ConnectionChanged += value;
        remove => redis.ConnectionChanged -= value;
    }

    public async Task<string?> GetOrSetEpochAsync(string candidate)
        => (string?)await redis.Database.ScriptEvaluateAsync(EpochScript, [Backends.State.SharedStateNames.QuotaEpochKey], [candidate]).ConfigureAwait(false);

    public async Task<(long Tokens, long Requests)> AddAsync(string tokensKey, string requestsKey, long tokens, long requests, TimeSpan timeToLive)
    {
        var totals = (RedisResult[])(await redis.Database.ScriptEvaluateAsync(PushScript, [tokensKey, requestsKey],
            [tokens, requests, (long)timeToLive.TotalMilliseconds]).ConfigureAwait(false))!;
        return ((long)totals[0], (long)totals[1]);
    }

    public async Task<long[]> ReadAsync(string[] keys)
    {
        var redisKeys = new RedisKey[keys.Length];
        for (var i = 0; i < keys.Length; i++)
        {
            redisKeys[i] = keys[i];
        }
        var values = await redis.Database.StringGetAsync(redisKeys).ConfigureAwait(false);
        var totals = new long[values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            totals[i] = values[i].TryParse(out long n) ? n : 0;
        }
        return totals;
    }
}
