namespace AoaiAspire.Bench.LoadGeneration;

/// <summary>How one logical request ended, as the caller saw it.</summary>
internal enum Outcome : byte
{
    /// <summary>2xx with a complete body (a stream that ended with <c>[DONE]</c>).</summary>
    Ok,
    /// <summary>429 reached the caller.</summary>
    Throttled,
    /// <summary>Another non-2xx status reached the caller.</summary>
    HttpError,
    /// <summary>No response: connection refused or reset, timeout.</summary>
    Failed,
    /// <summary>A 2xx stream that broke with an error the caller could see (reset, premature end).</summary>
    StreamBroken,
    /// <summary>A 2xx stream that ended cleanly but without <c>[DONE]</c>: looks complete, is not. Must never happen.</summary>
    StreamTruncated,
    /// <summary>Never sent: the open-loop generator was at its concurrency cap.</summary>
    Dropped,
}

/// <summary>One request's record. Times are seconds since the run started; latencies in milliseconds.</summary>
internal struct Sample
{
    /// <summary>When the request was due (open loop) or sent (closed loop).</summary>
    public double StartS;

    /// <summary>From <see cref="StartS"/> to the end of the body (open loop: includes any wait to be sent).</summary>
    public double LatencyMs;

    /// <summary>From <see cref="StartS"/> to the first body byte (streams); NaN when none arrived.</summary>
    public double FirstByteMs;

    public Outcome Outcome;

    /// <summary>HTTP status, 0 when none.</summary>
    public short Status;

    /// <summary>Index of the simulated region that answered (from <c>x-ms-region</c>), -1 when unknown.</summary>
    public sbyte Region;

    /// <summary>Upstream attempts: <c>x-aoai-attempts</c> from the gateway, the client's own count for client-retry, else 1.</summary>
    public byte Attempts;

    /// <summary>True once the slot holds a finished request.</summary>
    public bool Done;
}
