namespace AoaiAspire.Backends.Redis;

/// <summary>Pub/sub on the second connection: registry, (re)subscription and message dispatch.</summary>
/// <remarks>
/// The registry of handlers is the truth; the connection mirrors it. On every (re)connect the
/// whole registry is subscribed again before the client reports itself connected. Subscription
/// changes take <see cref="_subscriberWriteLock"/> (async, held across the write) so that the
/// order of SUBSCRIBE/UNSUBSCRIBE on the wire matches the order of registry changes; the registry
/// itself is guarded by a plain lock never held across I/O.
/// </remarks>
internal sealed partial class RedisClient
{
    private readonly SemaphoreSlim _subscriberWriteLock = new(1, 1);
    private readonly Lock _registryLock = new();
    private readonly Dictionary<string, RedisSubscription[]> _channels = new(StringComparer.Ordinal);
    private readonly Dictionary<string, RedisSubscription[]> _patterns = new(StringComparer.Ordinal);
    private readonly Dictionary<(bool IsPattern, string Name), List<TaskCompletionSource>> _confirmations = [];
    private RespTransport? _subscriber;

    /// <summary>
    /// Calls <paramref name="handler"/> (channel, payload) for every message on
    /// <paramref name="channel"/>, from now on and across reconnects. When connected, returns once
    /// Redis confirmed the subscription; when not, returns at once and the subscription is made on
    /// connect (watch <see cref="OnConnectionStateChanged"/>).
    /// </summary>
    /// <remarks>
    /// Handlers run on the pub/sub read loop, one message at a time: keep them short. The payload
    /// is a fresh array the handler may keep.
    /// </remarks>
    public Task<RedisSubscription> SubscribeAsync(string channel, Action<string, ReadOnlyMemory<byte>> handler, CancellationToken cancellationToken = default) =>
        SubscribeCoreAsync(channel, isPattern: false, handler, cancellationToken);

    /// <summary>As <see cref="SubscribeAsync"/>, for a glob pattern (PSUBSCRIBE); the handler gets the actual channel.</summary>
    public Task<RedisSubscription> SubscribePatternAsync(string pattern, Action<string, ReadOnlyMemory<byte>> handler, CancellationToken cancellationToken = default) =>
        SubscribeCoreAsync(pattern, isPattern: true, handler, cancellationToken);

    internal async ValueTask UnsubscribeAsync(RedisSubscription subscription)
    {
        if (IsDisposed)
        {
            return;
        }

        await _subscriberWriteLock.WaitAsync();
        try
        {
            RespTransport? transport;
            bool last;
            lock (_registryLock)
            {
                var map = subscription.IsPattern ? _patterns : _channels;
                if (!map.TryGetValue(subscription.Channel, out var handlers))
                {
                    return;
                }

                var remaining = Array.FindAll(handlers, s => !ReferenceEquals(s, subscription));
                last = remaining.Length == 0;
                if (last)
                {
                    map.Remove(subscription.Channel);
                }
                else
                {
                    map[subscription.Channel] = remaining;
                }

                transport = _subscriber;
            }

            if (last && transport is not null)
            {
                try
                {
                    await transport.SendAsync(subscription.IsPattern ? "PUNSUBSCRIBE" : "UNSUBSCRIBE", [subscription.Channel], _shutdownToken);
                }
                catch (Exception)
                {
                    // The connection is going down; the next one will not resubscribe this channel.
                }
            }
        }
        finally
        {
            _subscriberWriteLock.Release();
        }
    }

    private async Task<RedisSubscription> SubscribeCoreAsync(string channel, bool isPattern, Action<string, ReadOnlyMemory<byte>> handler, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(channel);
        ArgumentNullException.ThrowIfNull(handler);
        ObjectDisposedException.ThrowIf(IsDisposed, this);

        var subscription = new RedisSubscription(this, channel, isPattern, handler);
        TaskCompletionSource? confirmation = null;
        await _subscriberWriteLock.WaitAsync(cancellationToken);
        try
        {
            RespTransport? transport;
            lock (_registryLock)
            {
                var map = isPattern ? _patterns : _channels;
                var first = !map.TryGetValue(channel, out var handlers);
                map[channel] = handlers is null ? [subscription] : [.. handlers, subscription];
                transport = _subscriber;
                if (first && transport is not null)
                {
                    confirmation = AddConfirmation(isPattern, channel);
                }
            }

            if (transport is not null && confirmation is not null)
            {
                try
                {
                    await transport.SendAsync(isPattern ? "PSUBSCRIBE" : "SUBSCRIBE", [channel], cancellationToken);
                }
                catch (Exception) when (!cancellationToken.IsCancellationRequested)
                {
                    // The connection is going down; the reconnect subscribes from the registry.
                    confirmation = null;
                }
            }
        }
        catch
        {
            _subscriberWriteLock.Release();
            await subscription.DisposeAsync();
            throw;
        }

        _subscriberWriteLock.Release();
        if (confirmation is null)
        {
            return subscription;
        }

        try
        {
            await confirmation.Task.WaitAsync(_options.SyncTimeout, _timeProvider, cancellationToken);
        }
        catch (RedisConnectionException)
        {
            // Lost before the confirmation: still registered, subscribed again on reconnect.
        }
        catch (Exception ex)
        {
            await subscription.DisposeAsync();
            if (ex is TimeoutException)
            {
                throw new RedisTimeoutException(
                    $"Redis did not confirm the subscription within {_options.SyncTimeout.TotalMilliseconds:0} ms.");
            }

            throw;
        }

        return subscription;
    }

    // Caller holds _registryLock.
    private TaskCompletionSource AddConfirmation(bool isPattern, string name)
    {
        var waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_confirmations.TryGetValue((isPattern, name), out var waiters))
        {
            _confirmations[(isPattern, name)] = waiters = [];
        }

        waiters.Add(waiter);
        return waiter;
    }

    /// <summary>Resubscribes everything, reports up once confirmed, and reads until the connection ends.</summary>
    private async Task<string> RunSubscriberSessionAsync(RespTransport transport, RedisEndPoint endPoint, CancellationToken shutdown)
    {
        var waiters = new List<Task>();
        Task<string> readLoop;
        try
        {
            await _subscriberWriteLock.WaitAsync(shutdown);
        }
        catch (OperationCanceledException)
        {
            return "the client is shutting down";
        }

        try
        {
            object[] channels, patterns;
            lock (_registryLock)
            {
                channels = [.. _channels.Keys];
                patterns = [.. _patterns.Keys];
                foreach (string channel in channels)
                {
                    waiters.Add(AddConfirmation(isPattern: false, channel).Task);
                }

                foreach (string pattern in patterns)
                {
                    waiters.Add(AddConfirmation(isPattern: true, pattern).Task);
                }

                _subscriber = transport;
            }

            // The read loop starts before anything is sent so no confirmation can be missed.
            readLoop = ReadSubscriberLoopAsync(transport, shutdown);
            try
            {
                if (channels.Length > 0)
                {
                    await transport.SendAsync("SUBSCRIBE", channels, shutdown);
                }

                if (patterns.Length > 0)
                {
                    await transport.SendAsync("PSUBSCRIBE", patterns, shutdown);
                }
            }
            catch (Exception)
            {
                // The read loop sees the same failure and ends; its reason is reported.
                transport.Abort();
            }
        }
        finally
        {
            _subscriberWriteLock.Release();
        }

        try
        {
            await Task.WhenAll(waiters).WaitAsync(_options.SyncTimeout, _timeProvider, shutdown);
            SetConnectionState(isCommandConnection: false, up: true, endPoint, reason: null);
        }
        catch (Exception ex) when (!shutdown.IsCancellationRequested)
        {
            if (ex is TimeoutException)
            {
                RedisLog.ResubscribeFailed(_logger, waiters.Count, Describe(ex));
            }

            transport.Abort();
        }
        catch (OperationCanceledException)
        {
            transport.Abort();
        }

        return await readLoop;
    }

    private async Task<string> ReadSubscriberLoopAsync(RespTransport transport, CancellationToken shutdown)
    {
        try
        {
            while (true)
            {
                var reply = await transport.ReadAsync(shutdown);
                HandleSubscriberReply(reply);
            }
        }
        catch (OperationCanceledException) when (shutdown.IsCancellationRequested)
        {
            return "the client is shutting down";
        }
        catch (Exception ex)
        {
            return Describe(ex);
        }
        finally
        {
            List<TaskCompletionSource> abandoned = [];
            lock (_registryLock)
            {
                if (ReferenceEquals(_subscriber, transport))
                {
                    _subscriber = null;
                }

                foreach (var waiters in _confirmations.Values)
                {
                    abandoned.AddRange(waiters);
                }

                _confirmations.Clear();
            }

            var lost = new RedisConnectionException($"Lost the pub/sub connection to Redis at {transport.EndPoint}.");
            foreach (var waiter in abandoned)
            {
                waiter.TrySetException(lost);
            }
        }
    }

    private void HandleSubscriberReply(RedisResult reply)
    {
        if (reply.Type != RedisResultType.Array || reply.AsArray() is not { Length: >= 2 } items
            || items[0].Type != RedisResultType.BulkString)
        {
            // RESP2 subscribe mode only sends arrays; anything else (an error to a bad
            // SUBSCRIBE) has no waiter to give it to.
            return;
        }

        var kind = items[0].AsBytes().AsSpan();
        if (kind.SequenceEqual("message"u8) && items.Length == 3)
        {
            var channel = items[1].AsString()!;
            Deliver(_channels, channel, channel, items[2].AsBytes() ?? []);
        }
        else if (kind.SequenceEqual("pmessage"u8) && items.Length == 4)
        {
            Deliver(_patterns, items[1].AsString()!, items[2].AsString()!, items[3].AsBytes() ?? []);
        }
        else if (kind.SequenceEqual("subscribe"u8))
        {
            Confirm(isPattern: false, items[1].AsString()!);
        }
        else if (kind.SequenceEqual("psubscribe"u8))
        {
            Confirm(isPattern: true, items[1].AsString()!);
        }

        // unsubscribe, punsubscribe, pong: nothing to do.
    }

    private void Confirm(bool isPattern, string name)
    {
        List<TaskCompletionSource>? waiters;
        lock (_registryLock)
        {
            if (_confirmations.Remove((isPattern, name), out waiters) is false)
            {
                return;
            }
        }

        foreach (var waiter in waiters!)
        {
            waiter.TrySetResult();
        }
    }

    private void Deliver(Dictionary<string, RedisSubscription[]> map, string key, string channel, byte[] payload)
    {
        RedisSubscription[]? handlers;
        lock (_registryLock)
        {
            map.TryGetValue(key, out handlers);
        }

        if (handlers is null)
        {
            return;
        }

        foreach (var subscription in handlers)
        {
            try
            {
                subscription.Handler(channel, payload);
            }
            catch (Exception ex)
            {
                RedisLog.SubscriptionHandlerFailed(_logger, ex, channel);
            }
        }
    }
}
