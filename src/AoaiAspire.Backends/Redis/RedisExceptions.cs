namespace AoaiAspire.Backends.Redis;

/// <summary>Base of the exceptions this client throws.</summary>
internal class RedisException : Exception
{
    public RedisException(string message)
        : base(message)
    {
    }

    public RedisException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// No connection to Redis: not connected yet, lost, or lost while the command was in flight.
/// Thrown at once rather than queueing while disconnected.
/// </summary>
internal sealed class RedisConnectionException : RedisException
{
    public RedisConnectionException(string message)
        : base(message)
    {
    }

    public RedisConnectionException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>Redis answered with an error reply (<c>-ERR …</c>, <c>-WRONGTYPE …</c>, <c>-NOSCRIPT …</c>).</summary>
internal sealed class RedisServerException : RedisException
{
    public RedisServerException(string message)
        : base(message)
    {
    }

    /// <summary>The first word of the error, e.g. <c>ERR</c>, <c>WRONGTYPE</c>, <c>NOSCRIPT</c>.</summary>
    public string ErrorCode
    {
        get
        {
            var space = Message.IndexOf(' ', StringComparison.Ordinal);
            return space < 0 ? Message : Message[..space];
        }
    }
}

/// <summary>A command got no reply within <see cref="RedisConnectionOptions.SyncTimeout"/>.</summary>
internal sealed class RedisTimeoutException : RedisException
{
    public RedisTimeoutException(string message)
        : base(message)
    {
    }
}

/// <summary>The bytes received are not valid RESP2; the connection is dropped and re-established.</summary>
internal sealed class RedisProtocolException : RedisException
{
    public RedisProtocolException(string message)
        : base(message)
    {
    }
}
