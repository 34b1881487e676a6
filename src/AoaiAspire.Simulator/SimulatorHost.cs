using Microsoft.Extensions.Logging;

namespace AoaiAspire.Simulator;

/// <summary>Hosts simulated accounts in-process on loopback (tests, benchmarks, the gateway's demo mode).</summary>
public sealed class SimulatorHost : IAsyncDisposable
{
    private SimulatorHost(IReadOnlyList<SimulatedAccount> accounts) => Accounts = accounts;

    /// <summary>The running accounts, in the order given.</summary>
    public IReadOnlyList<SimulatedAccount> Accounts { get; }

    public SimulatedAccount this[string name] => Accounts.First(a => string.Equals(a.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>Starts one Kestrel listener per account on 127.0.0.1 and returns when all accept connections.</summary>
    public static Task<SimulatorHost> StartAsync(
        IEnumerable<SimulatedAccountOptions> accounts,
        ILoggerFactory? loggerFactory = null,
        TimeProvider? timeProvider = null,
        CancellationToken cancellationToken = default)
        => throw new NotImplementedException();

    public ValueTask DisposeAsync() => throw new NotImplementedException();
}

/// <summary>A running simulated account.</summary>
public sealed class SimulatedAccount
{
    internal SimulatedAccount(SimulatedAccountOptions options, Uri endpoint)
    {
        Options = options;
        Endpoint = endpoint;
        Faults = options.Faults;
    }

    public SimulatedAccountOptions Options { get; }
    public string Name => Options.Name;
    public string Region => Options.Region;

    /// <summary>Base address, e.g. <c>http://127.0.0.1:5101/</c>.</summary>
    public Uri Endpoint { get; }

    /// <summary>The faults in force; replace to change them at run time.</summary>
    public FaultOptions Faults { get; set; }

    /// <summary>What the account has seen (requests received, throttled, failed, tokens).</summary>
    public SimulatorStats Stats { get; } = new();
}

/// <summary>Counters an account keeps; thread-safe reads.</summary>
public sealed class SimulatorStats
{
    private long _requests, _succeeded, _throttled, _failed, _promptTokens, _completionTokens;
    /// <summary>Requests that reached the account (every path but /admin), faults included.</summary>
    public long Requests => Interlocked.Read(ref _requests);
    public long Succeeded => Interlocked.Read(ref _succeeded);
    /// <summary>Requests answered 429.</summary>
    public long Throttled => Interlocked.Read(ref _throttled);
    /// <summary>Requests answered 5xx, hung or dropped.</summary>
    public long Failed => Interlocked.Read(ref _failed);
    public long PromptTokens => Interlocked.Read(ref _promptTokens);
    public long CompletionTokens => Interlocked.Read(ref _completionTokens);

    internal void OnRequest() => Interlocked.Increment(ref _requests);
    internal void OnSucceeded(int prompt, int completion)
    {
        Interlocked.Increment(ref _succeeded);
        Interlocked.Add(ref _promptTokens, prompt);
        Interlocked.Add(ref _completionTokens, completion);
    }
    internal void OnThrottled() => Interlocked.Increment(ref _throttled);
    internal void OnFailed() => Interlocked.Increment(ref _failed);
}
