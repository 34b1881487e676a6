using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace AoaiAspire.Backends.Redis;

/// <summary>
/// A small RESP2 client: one pipelined connection for commands, one for pub/sub, both
/// re-established in the background for as long as the client lives.
/// </summary>
/// <remarks>
/// <para>Commands: callers on any thread enqueue into a channel; one writer loop encodes them into
/// the socket's pipe and records them, in the same order, in an in-flight queue; one reader loop
/// parses replies and completes the in-flight commands first-in first-out. No lock is held across
/// I/O.</para>
/// <para>While disconnected, commands fail at once with <see cref="RedisConnectionException"/>
/// instead of queueing; commands in flight when the connection drops fail the same way. Each
/// command waits at most <see cref="RedisConnectionOptions.SyncTimeout"/>.</para>
/// <para>Start never throws because Redis is down: the gateway serves on local state without it
/// (DESIGN.md, "Shared state"). Reconnects back off exponentially with jitter (100 ms to 5 s).
/// <see cref="IsConnected"/> and <see cref="OnConnectionStateChanged"/> describe both connections
/// together: "connected" means commands flow and every subscription is active again, so a caller
/// that resynchronises on that event misses no message published after it.</para>
/// <para>Blocking commands (BLPOP, WAIT, …) and MULTI/EXEC are not supported on the shared
/// connection: they would stall or interleave with every other caller.</para>
/// </remarks>
internal sealed partial class RedisClient : IAsyncDisposable, IDisposable
{
    private const string CommandConnectionName = "command";
    private const string SubscriberConnectionName = "pub/sub";

    private readonly RedisConnectionOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;
    private readonly Random _random;
    private readonly CancellationTokenSource _shutdown = new();
    private readonly CancellationToken _shutdownToken;
    private readonly string _endPointsText;
    private readonly Channel<RedisConnectionStateChangedArguments> _stateEvents =
        Channel.CreateUnbounded<RedisConnectionStateChangedArguments>(new UnboundedChannelOptions { SingleReader = true });

    private readonly Lock _stateLock = new();
    private bool _commandsUp;
    private bool _subscriberUp;
    private bool _reportedUp;
    private bool _outageLogged;
    private long _outageStarted;

    private CommandSession? _commands;
    private volatile bool _isConnected;
    private int _started;
    private int _disposed;
    private Task _commandLoop = Task.CompletedTask;
    private Task _subscriberLoop = Task.CompletedTask;

    private RedisClient(RedisConnectionOptions options, ILogger logger, TimeProvider timeProvider, Random random)
    {
        if (options.EndPoints.Count == 0)
        {
            throw new ArgumentException("The Redis options name no endpoint.", nameof(options));
        }

        _options = options;
        _logger = logger;
        _timeProvider = timeProvider;
        _random = random;
        _shutdownToken = _shutdown.Token;
        _endPointsText = string.Join(',', options.EndPoints);
    }

    /// <summary>
    /// Raised (on a dedicated loop, in order, never concurrently) when the client becomes usable
    /// and when it loses Redis; once per transition, not per failed command or retry.
    /// Handlers should be quick; they may call the client.
    /// </summary>
    public event Action<RedisConnectionStateChangedArguments>? OnConnectionStateChanged;

    public RedisConnectionOptions Options => _options;

    /// <summary>True when commands can be sent and every subscription is active.</summary>
    public bool IsConnected => _isConnected;

    private bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <param name="random">Jitter for reconnect delays; default <see cref="Random.Shared"/>.</param>
    public static RedisClient Create(RedisConnectionOptions options, ILogger logger, TimeProvider timeProvider, Random? random = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(logger);
        ArgumentNullException.ThrowIfNull(timeProvider);
        return new RedisClient(options, logger, timeProvider, random ?? Random.Shared);
    }

    /// <summary>
    /// Starts connecting in the background and returns at once; never fails because Redis is
    /// unreachable. Calling it again does nothing.
    /// </summary>
    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            return Task.CompletedTask;
        }

        var shutdown = _shutdownToken;
        _ = Task.Run(DispatchStateEventsAsync, CancellationToken.None);
        _commandLoop = Task.Run(() => RunConnectionAsync(isCommandConnection: true, RunCommandSessionAsync, shutdown), CancellationToken.None);
        _subscriberLoop = Task.Run(() => RunConnectionAsync(isCommandConnection: false, RunSubscriberSessionAsync, shutdown), CancellationToken.None);
        return Task.CompletedTask;
    }

    /// <summary>Sends one command; see the type's remarks for failure modes.</summary>
    /// <param name="args">string (UTF-8), byte[], ReadOnlyMemory&lt;byte&gt;, int, long or double.</param>
    /// <exception cref="RedisServerException">Redis answered with an error.</exception>
    /// <exception cref="RedisConnectionException">Not connected, or the connection dropped before the reply.</exception>
    /// <exception cref="RedisTimeoutException">No reply within the sync timeout.</exception>
    public Task<RedisResult> ExecuteAsync(string command, params object[] args) =>
        ExecuteAsync(command, args, CancellationToken.None);

    /// <inheritdoc cref="ExecuteAsync(string, object[])"/>
    public Task<RedisResult> ExecuteAsync(string command, object[] args, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(args);
        RespWriter.Validate(command, args);
        if (IsDisposed)
        {
            return Task.FromException<RedisResult>(new ObjectDisposedException(nameof(RedisClient)));
        }

        var session = Volatile.Read(ref _commands);
        var pending = session is null ? null : new PendingCommand(command, args);
        if (pending is null || !session!.TryEnqueue(pending))
        {
            return Task.FromException<RedisResult>(new RedisConnectionException(
                $"Not connected to Redis ({_endPointsText}); {command} was not sent."));
        }

        return WaitForReplyAsync(pending, cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _shutdown.CancelAsync();
        try
        {
            await Task.WhenAll(_commandLoop, _subscriberLoop);
        }
        catch (OperationCanceledException)
        {
        }

        _stateEvents.Writer.TryComplete();
        _isConnected = false;
        _shutdown.Dispose();
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    private static string Describe(Exception exception) => exception switch
    {
        RedisException => exception.Message,
        AggregateException { InnerException: { } inner } => Describe(inner),
        _ => $"{exception.GetType().Name}: {exception.Message}",
    };

    private async Task<RedisResult> WaitForReplyAsync(PendingCommand pending, CancellationToken cancellationToken)
    {
        try
        {
            return await pending.Task.WaitAsync(_options.SyncTimeout, _timeProvider, cancellationToken);
        }
        catch (TimeoutException) when (!pending.Task.IsCompleted)
        {
            // The command stays in the in-flight queue; its late reply is matched and dropped,
            // which keeps every later reply paired with the right caller.
            throw new RedisTimeoutException(
                $"Redis did not answer {pending.Command} within {_options.SyncTimeout.TotalMilliseconds:0} ms.");
        }
    }

    /// <summary>
    /// One connection's life, for commands and for pub/sub alike: connect (backing off between failures), run a
    /// session until the connection ends, report the loss, back off, and again until shutdown.
    /// </summary>
    private async Task RunConnectionAsync(bool isCommandConnection, Func<RespTransport, RedisEndPoint, CancellationToken, Task<string>> runSession, CancellationToken shutdown)
    {
        var backoff = new RedisBackoff(_random);
        var attempt = 0;
        while (!shutdown.IsCancellationRequested)
        {
            var endPoint = _options.EndPoints[attempt % _options.EndPoints.Count];
            RespTransport transport;
            try
            {
                transport = await RespTransport.ConnectAsync(endPoint, _options, selectDatabase: isCommandConnection, _timeProvider, shutdown);
            }
            catch (OperationCanceledException) when (shutdown.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                attempt++;
                if (!await DelayAfterFailureAsync(backoff, endPoint, Describe(ex), shutdown))
                {
                    return;
                }

                continue;
            }

            var connectedAt = _timeProvider.GetTimestamp();
            var reason = await runSession(transport, endPoint, shutdown);
            await transport.DisposeAsync();
            if (shutdown.IsCancellationRequested)
            {
                return;
            }

            SetConnectionState(isCommandConnection, up: false, endPoint, reason);
            if (!await DelayAfterLossAsync(backoff, connectedAt, shutdown))
            {
                return;
            }
        }
    }

    /// <summary>Serves commands on one connection until it ends; then fails what was still waiting for a reply.</summary>
    private async Task<string> RunCommandSessionAsync(RespTransport transport, RedisEndPoint endPoint, CancellationToken shutdown)
    {
        var session = new CommandSession(transport);
        Volatile.Write(ref _commands, session);
        SetConnectionState(isCommandConnection: true, up: true, endPoint, reason: null);

        var reason = await session.RunAsync(shutdown);

        Volatile.Write(ref _commands, null);
        session.FailAll(IsDisposed
            ? new ObjectDisposedException(nameof(RedisClient))
            : new RedisConnectionException($"Lost the connection to Redis at {endPoint} before the reply: {reason}"));
        return reason;
    }

    // A connection that lived long enough starts a fresh backoff; one that dropped at once
    // (server refusing clients, AUTH revoked mid-way) keeps backing off instead of spinning.
    private async Task<bool> DelayAfterLossAsync(RedisBackoff backoff, long connectedAt, CancellationToken shutdown)
    {
        if (_timeProvider.GetElapsedTime(connectedAt) >= RedisBackoff.Max)
        {
            backoff.Reset();
            return true;
        }

        return await DelayAsync(backoff.Next(), shutdown);
    }

    private async Task<bool> DelayAfterFailureAsync(RedisBackoff backoff, RedisEndPoint endPoint, string reason, CancellationToken shutdown)
    {
        var delay = backoff.Next();
        var first = false;
        lock (_stateLock)
        {
            if (!_outageLogged)
            {
                _outageLogged = true;
                first = true;
            }
        }

        if (first)
        {
            RedisLog.Unavailable(_logger, _endPointsText, reason);
        }
        else
        {
            RedisLog.ConnectAttemptFailed(_logger, endPoint, reason, delay.TotalMilliseconds);
        }

        return await DelayAsync(delay, shutdown);
    }

    private async Task<bool> DelayAsync(TimeSpan delay, CancellationToken shutdown)
    {
        try
        {
            await Task.Delay(delay, _timeProvider, shutdown);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>
    /// The one place that turns the two connections' states into the client's state, the
    /// once-per-outage logs, and the events.
    /// </summary>
    private void SetConnectionState(bool isCommandConnection, bool up, RedisEndPoint endPoint, string? reason)
    {
        lock (_stateLock)
        {
            var wasUp = isCommandConnection ? _commandsUp : _subscriberUp;
            if (isCommandConnection)
            {
                _commandsUp = up;
            }
            else
            {
                _subscriberUp = up;
            }

            var connectionName = isCommandConnection ? CommandConnectionName : SubscriberConnectionName;
            if (up && !wasUp && _outageStarted == 0)
            {
                RedisLog.Connected(_logger, endPoint, connectionName);
            }

            var now = _commandsUp && _subscriberUp;
            if (now == _reportedUp || IsDisposed)
            {
                return;
            }

            _reportedUp = now;
            _isConnected = now;
            if (now)
            {
                if (_outageStarted != 0)
                {
                    var outage = _timeProvider.GetElapsedTime(_outageStarted);
                    RedisLog.ConnectionRestored(_logger, outage.TotalSeconds);
                }

                _outageStarted = 0;
                _outageLogged = false;
            }
            else
            {
                _outageStarted = _timeProvider.GetTimestamp();
                if (!_outageLogged)
                {
                    _outageLogged = true;
                    RedisLog.ConnectionLost(_logger, connectionName, endPoint, reason ?? "unknown");
                }
            }

            _stateEvents.Writer.TryWrite(new RedisConnectionStateChangedArguments(now, now ? null : reason));
        }
    }

    // Handlers run here, off the I/O loops, so a handler that waits on Redis cannot deadlock them.
    private async Task DispatchStateEventsAsync()
    {
        await foreach (var change in _stateEvents.Reader.ReadAllAsync())
        {
            try
            {
                OnConnectionStateChanged?.Invoke(change);
            }
            catch (Exception ex)
            {
                RedisLog.StateHandlerFailed(_logger, ex);
            }
        }
    }

    private sealed class PendingCommand : TaskCompletionSource<RedisResult>
    {
        public PendingCommand(string command, object[] args)
            : base(TaskCreationOptions.RunContinuationsAsynchronously)
        {
            Command = command;
            Args = args;
        }

        public string Command { get; }

        public object[] Args { get; }

        public void Complete(RedisResult reply)
        {
            if (reply.IsError)
            {
                TrySetException(new RedisServerException(reply.ErrorMessage!));
            }
            else
            {
                TrySetResult(reply);
            }
        }
    }

    /// <summary>One live command connection: its outbox, its in-flight queue and its two loops.</summary>
    private sealed class CommandSession
    {
        private const int FlushThreshold = 64 * 1024;

        private readonly RespTransport _transport;
        private readonly Channel<PendingCommand> _outbox =
            Channel.CreateUnbounded<PendingCommand>(new UnboundedChannelOptions { SingleReader = true });

        private readonly ConcurrentQueue<PendingCommand> _inFlight = new();

        public CommandSession(RespTransport transport) => _transport = transport;

        public bool TryEnqueue(PendingCommand command) => _outbox.Writer.TryWrite(command);

        /// <summary>Runs until the connection fails or <paramref name="shutdown"/>; returns why it ended.</summary>
        public async Task<string> RunAsync(CancellationToken shutdown)
        {
            var writer = WriteLoopAsync(shutdown);
            var reader = ReadLoopAsync(shutdown);
            var first = await Task.WhenAny(writer, reader);
            var reason = first.Exception is { } ex
                ? Describe(ex)
                : shutdown.IsCancellationRequested ? "the client is shutting down" : "the connection was closed";

            // From here no command can enter the outbox, and both loops end promptly.
            _outbox.Writer.TryComplete();
            _transport.Abort();
            try
            {
                await Task.WhenAll(writer, reader);
            }
            catch (Exception)
            {
                // Already described; the loops only fail because the connection did.
            }

            return reason;
        }

        /// <summary>Fails everything not yet answered. Call after <see cref="RunAsync"/> returned.</summary>
        public void FailAll(Exception exception)
        {
            while (_inFlight.TryDequeue(out var command))
            {
                command.TrySetException(exception);
            }

            while (_outbox.Reader.TryRead(out var command))
            {
                command.TrySetException(exception);
            }
        }

        private async Task WriteLoopAsync(CancellationToken shutdown)
        {
            var outbox = _outbox.Reader;
            var output = _transport.Output;
            while (await outbox.WaitToReadAsync(shutdown))
            {
                while (outbox.TryRead(out var command))
                {
                    // Recorded before its bytes can reach the server, so its reply always finds it.
                    _inFlight.Enqueue(command);
                    RespWriter.Write(output, command.Command, command.Args);
                    if (output.UnflushedBytes > FlushThreshold && (await output.FlushAsync(shutdown)).IsCompleted)
                    {
                        return;
                    }
                }

                // One flush for everything that queued up meanwhile: that is the pipelining.
                if ((await output.FlushAsync(shutdown)).IsCompleted)
                {
                    return;
                }
            }
        }

        private async Task ReadLoopAsync(CancellationToken shutdown)
        {
            while (true)
            {
                var reply = await _transport.ReadAsync(shutdown);
                if (!_inFlight.TryDequeue(out var command))
                {
                    throw new RedisProtocolException("Redis sent a reply no command was waiting for.");
                }

                command.Complete(reply);
            }
        }
    }
}
