namespace AoaiAspire.Backends.Redis;

/// <summary>
/// Reconnect delays: exponential from <see cref="Initial"/>, capped at <see cref="Max"/>, with
/// "equal jitter" (each delay is uniformly between half and all of the exponential value) so
/// replicas that lost Redis together do not reconnect in lockstep.
/// </summary>
internal sealed class RedisBackoff
{
    public static readonly TimeSpan Initial = TimeSpan.FromMilliseconds(100);
    public static readonly TimeSpan Max = TimeSpan.FromSeconds(5);

    private readonly Random _random;
    private int _attempt;

    public RedisBackoff(Random random) => _random = random;

    public TimeSpan Next()
    {
        var exponent = Math.Min(_attempt, 16);
        _attempt++;
        var ceiling = Math.Min(Max.TotalMilliseconds, Initial.TotalMilliseconds * Math.Pow(2, exponent));
        var jittered = (ceiling / 2) + (_random.NextDouble() * ceiling / 2);
        return TimeSpan.FromMilliseconds(jittered);
    }

    public void Reset() => _attempt = 0;
}
