using AoaiAspire.Backends.Upstream;
using AoaiAspire.Gateway.Admission;
using System.Buffers;
using System.Diagnostics;
using System.Net.Http.Headers;
using AoaiAspire.Gateway.Configuration;
using AoaiAspire.Gateway.Errors;
using AoaiAspire.Gateway.Availability;
using AoaiAspire.Gateway.LoadBalancing;
using AoaiAspire.Gateway.Responses;
using AoaiAspire.Gateway.Telemetry;
using AoaiAspire.Gateway.Tokens;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace AoaiAspire.Gateway.Forwarding;

/// <summary>What one upstream attempt came to.</summary>
internal enum AttemptOutcome
{
    /// <summary>A response went to the caller (success, or a caller error returned unchanged).</summary>
    Completed,
    /// <summary>Throttled, failed or timed out before anything reached the caller: try another backend.</summary>
    Retry,
    /// <summary>The caller went away.</summary>
    CallerGone,
    /// <summary>A hedged attempt whose pair produced the first byte: cancelled, nothing reached the caller from it.</summary>
    Lost,
}

/// <summary>How the usage of a response is found.</summary>
internal enum UsageMode
{
    /// <summary>A JSON response: <c>usage</c> near its end.</summary>
    Json,
    /// <summary>A stream whose caller asked for the usage chunk: read it, pass it on.</summary>
    StreamCallerAsked,
    /// <summary>A stream whose caller did not: the gateway asks upstream for it, reads it and removes it.</summary>
    StreamGatewayAsked,
    /// <summary>A stream whose caller explicitly refused usage: the gateway counts the prompt and the streamed text with the real tokenizer.</summary>
    StreamNone,
}

/// <summary>A caller's request as the forwarder needs it.</summary>
internal readonly record struct ForwardRequest(
    DeploymentRoute Route,
    string Operation,
    string Query,
    ReadOnlyMemory<byte> Body,
    string? ContentType,
    string Consumer,
    long EstimatedTokens,
    long EstimatedPromptTokens,
    UsageMode UsageMode,
    long ArrivedAt,
    long? ConsumerRemainingTokens = null,
    long? ConsumerRemainingRequests = null)
{
    /// <summary>A Responses API call: its owner, search and recording rules, and its account-wide upstream path.</summary>
    public ResponsesCall? Stateful { get; init; }

    /// <summary>The consumer's priority class (null: the default class) in the admission queue.</summary>
    public string? PriorityClass { get; init; }

    /// <summary>The consumer's patience: how long the request may wait in the admission queue (a header may lower it). Zero: not at all.</summary>
    public TimeSpan MaxQueueWait { get; init; }
}

/// <summary>What the forwarding came to: whether a backend answered, and the tokens it reported.</summary>
internal readonly record struct ForwardResult(bool Answered, Usage Usage, bool UsageEstimated)
{
    /// <summary>The backend that answered, if one did.</summary>
    public string? Backend { get; init; }

    /// <summary>Time spent in upstream calls (all attempts, body included): the rest is the gateway's own.</summary>
    public TimeSpan Upstream { get; init; }

    /// <summary>Why no backend served the request (the caller has been answered with a 429 or 503); null when one did.</summary>
    public NoBackend? Unserved { get; init; }
}

/// <summary>
/// Sends a caller's request to the backends of its deployment until one answers.
/// </summary>
/// <remarks>
/// For each attempt:
/// 1. select: the best available backend not tried yet (priority group, then policy);
/// 2. send: the buffered body, the caller's headers minus hop-by-hop and credentials, upstream auth;
/// 3. react to the status before anything reaches the caller: 429 benches the backend until its
///    Retry-After and tries the next at once; 5xx, 408, timeouts and connection failures count toward the
///    backend's circuit and try the next; anything else is the answer;
/// 4. stream the answer: status and headers, then the body chunk by chunk with a pooled buffer, flushed
///    per chunk so SSE reaches the caller as it is produced. From the first byte on, no retry.
/// When no backend is left: if one will be within the caller's patience, the request waits in the admission queue
/// (Admission/AdmissionQueue.cs) and goes round again when dispatched; else, or once its patience is spent, 429 with
/// the soonest Retry-After if every candidate is throttled, else 503.
/// </remarks>
internal sealed partial class GatewayForwarder(
    UpstreamInvoker upstream,
    UpstreamCredentials credentials,
    BackendSelector selector,
    BackendStateUpdater updater,
    Hedging.Hedger hedger,
    AdmissionQueue admission,
    IOptionsMonitor<GatewayOptions> options,
    GatewayTelemetry telemetry,
    TimeProvider time,
    ILogger<GatewayForwarder> logger)
{
    private const int CopyBufferSize = 16 * 1024;

    /// <summary>SSE events are a few hundred bytes and a stream stays open for seconds: a small buffer per open stream.</summary>
    private const int StreamCopyBufferSize = 4 * 1024;
    private const int UsageTailSize = 2048;

    /// <summary>Opens the caller's JSON object with a request for the usage chunk; the caller's members follow.</summary>
    private static readonly ReadOnlyMemory<byte> IncludeUsagePrefix = "{\"stream_options\":{\"include_usage\":true},"u8.ToArray();
    private static readonly string[] AttemptCounts = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

    public async Task<ForwardResult> ForwardAsync(HttpContext context, ForwardRequest request)
    {
        var gateway = options.CurrentValue;
        var route = request.Route;
        var maxAttempts = gateway.Routing.MaxAttempts == 0 ? route.Candidates.Length : Math.Min(gateway.Routing.MaxAttempts, route.Candidates.Length);
        NoBackend none = default;
        var upstreamTicks = 0L;
        var priorityClass = admission.ClassOf(request.PriorityClass); // looked up once: every admission step below takes it
        admission.RecordDemand(route, priorityClass, request.EstimatedTokens);
        if (request.Stateful is { OwnerIndex: >= 0 } pinned)
        {
            return await ForwardToOwnerAsync(context, request, pinned, gateway).ConfigureAwait(false);
        }
        // The caller's priority class may keep it off some priority groups; a request that may wait joins those of its
        // class (or a higher one) already waiting for this deployment instead of overtaking them (Admission/AdmissionQueue.cs).
        var excluded = admission.Excluded(route, priorityClass);
        var mayWait = request.MaxQueueWait > TimeSpan.Zero && request.Stateful is null;
        WaitingRequest? waiting = null;
        var lastRound = false;
        try
        {
            if (mayWait && admission.MustWaitBehind(route, priorityClass)
                && (waiting = admission.CreateWaiter(context, route, request.Consumer, request.PriorityClass, request.MaxQueueWait, request.EstimatedTokens)) is not null
                && admission.TryEnqueue(waiting, context, none: null))
            {
                var first = await waiting.Outcome.ConfigureAwait(false);
                if (first != WaitOutcome.Granted)
                {
                    if (await AnswerWaitAsync(context, route, first) is { } answered)
                    {
                        return answered;
                    }
                    lastRound = true;
                }
            }
            while (true)
            {
                var tried = excluded;
                // What lower classes must leave for higher ones changes with time and traffic: looked at again each round.
                var reserved = admission.Reserved(route, priorityClass);
                for (var attempt = 1; attempt <= maxAttempts; attempt++)
                {
                    // 1. Select.
                    var index = selector.Select(route, tried, updater.Now, out none, request.EstimatedTokens, excluded, reserved);
                    if (waiting is { HoldsGrant: true })
                    {
                        admission.Selected(waiting, picked: index >= 0); // the next waiting request may go (now, or after its answer or the hold)
                    }
                    if (index < 0)
                    {
                        break;
                    }
                    tried |= 1UL << index;

                    var attemptStarted = time.GetTimestamp();
                    var lastChance = attempt == maxAttempts || System.Numerics.BitOperations.PopCount(tried) >= route.Candidates.Length;
                    AttemptOutcome outcome;
                    ForwardResult result;
                    if (attempt == 1 && !lastChance && request.Stateful is null
                        && hedger.TryPlan(route.Name, route.Candidates[index].State, out var hedgeDelay, stream: request.UsageMode != UsageMode.Json))
                    {
                        var hedged = await HedgedAsync(context, request, index, tried | reserved.Mask, hedgeDelay, maxAttempts, gateway).ConfigureAwait(false);
                        (outcome, result, tried) = (hedged.Outcome, hedged.Result, hedged.Tried);
                        attempt = hedged.Attempts;
                    }
                    else
                    {
                        (outcome, result) = await AttemptAsync(context, request, route.Candidates[index], attempt, gateway, lastChance).ConfigureAwait(false);
                    }
                    upstreamTicks += time.GetElapsedTime(attemptStarted).Ticks;
                    if (waiting is { HoldsGrant: true })
                    {
                        waiting.Queue.Dispatched(waiting); // answered before the hold ran out
                    }
                    if (outcome != AttemptOutcome.Retry)
                    {
                        admission.OnCompleted(route);
                        return result with { Upstream = TimeSpan.FromTicks(upstreamTicks) };
                    }
                    if (attempt >= maxAttempts)
                    {
                        selector.Select(route, ulong.MaxValue, updater.Now, out none, excluded: excluded, reserved: reserved);
                        break;
                    }
                }
                // No backend now: wait in the admission queue if one will take the request within the caller's patience.
                if (lastRound || !mayWait)
                {
                    break;
                }
                waiting ??= admission.CreateWaiter(context, route, request.Consumer, request.PriorityClass, request.MaxQueueWait, request.EstimatedTokens);
                if (waiting is null || !admission.TryEnqueue(waiting, context, none))
                {
                    break;
                }
                var waited = await waiting.Outcome.ConfigureAwait(false);
                if (waited != WaitOutcome.Granted)
                {
                    if (await AnswerWaitAsync(context, route, waited) is { } answered)
                    {
                        return answered with { Upstream = TimeSpan.FromTicks(upstreamTicks) };
                    }
                    lastRound = true; // patience spent: one more look, then the answer it would have had at once
                }
            }
        }
        finally
        {
            if (waiting is not null)
            {
                admission.Leave(waiting);
            }
        }
        if (request.Stateful is { SawNotFound: true } searched)
        {
            await searched.WriteNotFoundElsewhereAsync(context, route, none, updater.Now).ConfigureAwait(false);
        }
        else
        {
            await WriteNoBackendAsync(context, route, none).ConfigureAwait(false);
        }
        return new ForwardResult { Upstream = TimeSpan.FromTicks(upstreamTicks), Unserved = none };
    }

    /// <summary>A wait that did not end in a grant: the caller left (nothing to answer) or the gateway is stopping (503); null when its patience ran out.</summary>
    private async ValueTask<ForwardResult?> AnswerWaitAsync(HttpContext context, DeploymentRoute route, WaitOutcome outcome)
    {
        switch (outcome)
        {
            case WaitOutcome.CallerGone:
                return new ForwardResult { Unserved = new NoBackend(false, 0) { Reason = "caller_gone" } };
            case WaitOutcome.ShuttingDown:
                await GatewayErrors.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, GatewayErrorCodes.NoBackendAvailable,
                    $"The gateway is shutting down; the request waited for a backend of deployment '{route.Name}' and was not sent. Please retry after 1 second.",
                    TimeSpan.FromSeconds(1)).ConfigureAwait(false);
                return new ForwardResult { Unserved = new NoBackend(false, 0) { Reason = "admission_shutdown" } };
            default:
                return null;
        }
    }

    private readonly record struct HedgedResult(AttemptOutcome Outcome, ForwardResult Result, ulong Tried, int Attempts);

    /// <summary>
    /// A streaming request to a hedging deployment (README "Hedging"; a non-streaming one too with
    /// <c>Gateway:Hedging:NonStreaming</c>, whose first byte is its answer): the first backend is tried; if no byte has come
    /// after <paramref name="delay"/>, the same request also goes to a second backend, and whichever produces a byte
    /// first answers the caller while the other is cancelled at once. Neither touches the caller's response before it
    /// has won (<see cref="HedgeRace"/>). When both are retryable failures, the attempt loop goes on with the rest.
    /// </summary>
    private async Task<HedgedResult> HedgedAsync(HttpContext context, ForwardRequest request, int firstIndex, ulong tried, TimeSpan delay, int maxAttempts, GatewayOptions gateway)
    {
        var route = request.Route;
        using var race = new HedgeRace();
        var first = AttemptAsync(context, request, route.Candidates[firstIndex], 1, gateway, lastChance: false, race, HedgeRace.First);
        using (var delayCts = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted))
        {
            var due = Task.Delay(delay, time, delayCts.Token);
            if (await Task.WhenAny(first, race.Claimed, due).ConfigureAwait(false) != due)
            {
                delayCts.Cancel();
                var (o, r) = await first.ConfigureAwait(false);
                return new HedgedResult(o, r, tried, 1);
            }
        }
        if (race.IsClaimed || context.RequestAborted.IsCancellationRequested)
        {
            var (o, r) = await first.ConfigureAwait(false);
            return new HedgedResult(o, r, tried, 1);
        }
        var secondIndex = selector.Select(route, tried, updater.Now, out _, request.EstimatedTokens);
        if (secondIndex < 0)
        {
            hedger.Ended(route.Name, Hedging.HedgeOutcomes.NoBackend);
            var (o, r) = await first.ConfigureAwait(false);
            return new HedgedResult(o, r, tried, 1);
        }
        if (!hedger.TryTake(route.Name, request.EstimatedPromptTokens))
        {
            var (o, r) = await first.ConfigureAwait(false);
            return new HedgedResult(o, r, tried, 1);
        }
        tried |= 1UL << secondIndex;
        var lastChance = maxAttempts <= 2 || System.Numerics.BitOperations.PopCount(tried) >= route.Candidates.Length;
        var second = AttemptAsync(context, request, route.Candidates[secondIndex], 2, gateway, lastChance, race, HedgeRace.Second);
        await Task.WhenAll(first, second).ConfigureAwait(false);
        var (firstOutcome, firstResult) = first.Result;
        var (secondOutcome, secondResult) = second.Result;
        if (firstOutcome is AttemptOutcome.Completed or AttemptOutcome.CallerGone)
        {
            hedger.Ended(route.Name, Hedging.HedgeOutcomes.FirstWon);
            return new HedgedResult(firstOutcome, firstResult, tried, 2);
        }
        if (secondOutcome is AttemptOutcome.Completed or AttemptOutcome.CallerGone)
        {
            hedger.Ended(route.Name, Hedging.HedgeOutcomes.HedgeWon);
            return new HedgedResult(secondOutcome, secondResult, tried, 2);
        }
        hedger.Ended(route.Name, Hedging.HedgeOutcomes.BothFailed);
        return new HedgedResult(AttemptOutcome.Retry, default, tried, 2);
    }

    /// <summary>
    /// The two attempts of a hedge: the first to have a byte (or any final answer) for the caller claims the response,
    /// which cancels the other at once. Each attempt has its own cancellation, linked into its attempt's token.
    /// </summary>
    private sealed class HedgeRace : IDisposable
    {
        public const int First = 0;
        public const int Second = 1;

        private readonly CancellationTokenSource[] _cancel = [new(), new()];
        private readonly TaskCompletionSource _claimed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _winner = -1;

        public Task Claimed => _claimed.Task;
        public bool IsClaimed => Volatile.Read(ref _winner) >= 0;
        public CancellationToken TokenFor(int racer) => _cancel[racer].Token;

        /// <summary>True when this attempt lost: the other claimed the caller.</summary>
        public bool Lost(int racer) => Volatile.Read(ref _winner) is var w && w >= 0 && w != racer;

        public bool TryClaim(int racer)
        {
            if (Interlocked.CompareExchange(ref _winner, racer, -1) != -1)
            {
                return false;
            }
            _claimed.TrySetResult();
            _cancel[1 - racer].Cancel();
            return true;
        }

        public void Dispose()
        {
            _cancel[0].Dispose();
            _cancel[1].Dispose();
        }
    }

    /// <summary>
    /// A call naming a stored object whose owner is known goes there and nowhere else: another backend would answer
    /// "not found", or run a follow-up without its context. A create needs the owner's deployment free of throttles;
    /// a call that runs no model (retrieve, delete, cancel, input items) only needs the backend up.
    /// </summary>
    private async Task<ForwardResult> ForwardToOwnerAsync(HttpContext context, ForwardRequest request, ResponsesCall call, GatewayOptions gateway)
    {
        var owner = request.Route.Candidates[call.OwnerIndex];
        var now = updater.Now;
        var usable = call.Kind == ResponsesCallKind.Create ? owner.State.IsAvailable(now, owner.Capacity) : owner.State.IsAvailable(now);
        var started = time.GetTimestamp();
        if (usable && BackendStateUpdater.TryBeginAttempt(owner.State, now))
        {
            var (outcome, result) = await AttemptAsync(context, request, owner, 1, gateway, lastChance: true).ConfigureAwait(false);
            if (outcome != AttemptOutcome.Retry)
            {
                return result with { Upstream = time.GetElapsedTime(started) };
            }
        }
        var unserved = await call.WriteOwnerUnavailableAsync(context, owner, updater.Now).ConfigureAwait(false);
        return new ForwardResult { Upstream = time.GetElapsedTime(started), Unserved = unserved };
    }

    /// <param name="race">For a hedged request: the pair this attempt races in, and which of the two it is.</param>
    private async Task<(AttemptOutcome, ForwardResult)> AttemptAsync(HttpContext context, ForwardRequest request, BackendCandidate candidate, int attempt, GatewayOptions gateway, bool lastChance,
        HedgeRace? race = null, int racer = 0)
    {
        var state = candidate.State;
        var backend = candidate.Backend;
        var aborted = context.RequestAborted;
        using var attemptCts = race is null ? CancellationTokenSource.CreateLinkedTokenSource(aborted) : CancellationTokenSource.CreateLinkedTokenSource(aborted, race.TokenFor(racer));
        byte[]? firstChunk = null;
        // A stream's first byte should come fast: while another backend could still be tried, wait for it only as
        // long as this backend's recent first bytes say (Gateway:Upstream:StreamFirstByte); else FirstByteTimeout.
        var isStreamRequest = request.UsageMode != UsageMode.Json;
        var firstByteDeadline = isStreamRequest && !lastChance && gateway.Upstream.StreamFirstByte.Enabled
            ? state.FirstByteDeadline(gateway.Upstream.StreamFirstByte) : TimeSpan.Zero;
        var adaptive = firstByteDeadline > TimeSpan.Zero && firstByteDeadline < gateway.Upstream.FirstByteTimeout;
        attemptCts.CancelAfter(adaptive ? firstByteDeadline : gateway.Upstream.FirstByteTimeout);
        var started = time.GetTimestamp();
        using var activity = telemetry.StartAttempt(request.Operation, request.Route.Name, backend.Name, backend.Region, backend.Endpoint.Host, attempt);

        // Outstanding until its headers (a stream: its first byte) or its end; given back exactly once, by CopyBodyAsync once it owns it.
        var outstanding = updater.OnAttemptStarted(candidate, request.EstimatedTokens);
        var outstandingOwned = true;
        try
        {
        // 2. Send.
        HttpResponseMessage response;
        using var upstreamRequest = CreateUpstreamRequest(context, request, candidate, gateway);
        try
        {
            await credentials.ApplyAsync(upstreamRequest, backend, attemptCts.Token).ConfigureAwait(false);
            response = await upstream.Invoker.SendAsync(upstreamRequest, attemptCts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            updater.OnAbandoned(state);
            telemetry.AttemptEnded(activity, backend.Name, AttemptOutcomes.CallerGone, 0, retried: false);
            return (AttemptOutcome.CallerGone, default);
        }
        catch (OperationCanceledException) when (race is not null && race.Lost(racer))
        {
            return LostRace(state, activity, backend.Name, started, isStreamRequest, overtaken: racer == HedgeRace.First);
        }
        catch (OperationCanceledException)
        {
            LogAttemptFailed(logger, backend.Name, adaptive ? "no first byte within the stream's first-byte deadline" : "timeout waiting for response headers");
            updater.OnFailure(state);
            telemetry.AttemptEnded(activity, backend.Name, adaptive ? AttemptOutcomes.FirstByteDeadline : AttemptOutcomes.Timeout, 0, retried: true);
            return (AttemptOutcome.Retry, default);
        }
        catch (HttpRequestException ex)
        {
            updater.OnAnswered(state, outstanding); // refused or reset: not silent
            outstandingOwned = false;
            LogAttemptFailed(logger, backend.Name, ex.HttpRequestError.ToString());
            updater.OnFailure(state);
            telemetry.AttemptEnded(activity, backend.Name, AttemptOutcomes.ConnectionFailure, 0, retried: true);
            return (AttemptOutcome.Retry, default);
        }
        catch (Azure.Identity.AuthenticationFailedException)
        {
            LogAttemptFailed(logger, backend.Name, "Entra ID token unavailable");
            updater.OnFailure(state);
            telemetry.AttemptEnded(activity, backend.Name, AttemptOutcomes.AuthUnavailable, 0, retried: true);
            return (AttemptOutcome.Retry, default);
        }

        using (response)
        {
            var isEventStream = response.Content.Headers.ContentType?.MediaType == "text/event-stream";
            var watchFirstByte = isStreamRequest && isEventStream;
            if (!watchFirstByte)
            {
                updater.OnAnswered(state, outstanding);
                outstandingOwned = false;
            }
            // 3. React before anything reaches the caller.
            var status = (int)response.StatusCode;
            ObserveCapacity(candidate, response, outstanding);
            if (status == StatusCodes.Status429TooManyRequests)
            {
                updater.OnThrottled(state, request.Route.Name, RetryAfter.Parse(response.Headers, time.GetUtcNow()));
                telemetry.AttemptEnded(activity, backend.Name, AttemptOutcomes.Throttled, status, retried: true);
                return (AttemptOutcome.Retry, default);
            }
            // 401/403 from a backend mean that backend is misconfigured (the gateway sends its own credentials),
            // and so does a 404 that says the deployment does not exist there: another backend may well serve, so
            // they count as failures. Any other 404 (a bad api-version, an operation the model lacks) is the caller's.
            if (status >= 500 || status is StatusCodes.Status408RequestTimeout or StatusCodes.Status401Unauthorized or StatusCodes.Status403Forbidden
                || (status == StatusCodes.Status404NotFound && await IsDeploymentNotFoundAsync(response, attemptCts.Token).ConfigureAwait(false)))
            {
                LogAttemptFailed(logger, backend.Name, status.ToString(System.Globalization.CultureInfo.InvariantCulture));
                updater.OnFailure(state);
                telemetry.AttemptEnded(activity, backend.Name, status >= 500 || status == 408 ? AttemptOutcomes.ServerError : AttemptOutcomes.BackendMisconfigured, status, retried: true);
                return (AttemptOutcome.Retry, default);
            }
            // A Responses call naming an object no one here knows the owner of: "not found" means "ask the next backend".
            if (status == StatusCodes.Status404NotFound && !lastChance && request.Stateful is { SearchOnNotFound: true } searching)
            {
                searching.OnNotFound(backend.Name);
                updater.OnSuccess(state, time.GetElapsedTime(started));
                telemetry.AttemptEnded(activity, backend.Name, AttemptOutcomes.CallerError, status, retried: true);
                return (AttemptOutcome.Retry, default);
            }
            updater.OnSuccess(state, time.GetElapsedTime(started), fullAnswer: !isStreamRequest);
            var firstRead = 0;
            if (race is not null)
            {
                // A hedged attempt has its first byte before it touches the caller's response, and only the first of
                // the pair to get there (or to get any final answer) goes on.
                if (watchFirstByte)
                {
                    firstChunk = ArrayPool<byte>.Shared.Rent(StreamCopyBufferSize);
                    try
                    {
                        var left = (adaptive ? firstByteDeadline : gateway.Upstream.FirstByteTimeout) - time.GetElapsedTime(started);
                        attemptCts.CancelAfter(left > TimeSpan.Zero ? left : TimeSpan.FromTicks(1));
                        var source = await response.Content.ReadAsStreamAsync(attemptCts.Token).ConfigureAwait(false);
                        firstRead = await source.ReadAsync(firstChunk, attemptCts.Token).ConfigureAwait(false);
                    }
                    catch (Exception ex) when (ex is OperationCanceledException or HttpRequestException or IOException)
                    {
                        if (aborted.IsCancellationRequested)
                        {
                            updater.OnAbandoned(state);
                            telemetry.AttemptEnded(activity, backend.Name, AttemptOutcomes.CallerGone, status, retried: false);
                            return (AttemptOutcome.CallerGone, default);
                        }
                        if (race.Lost(racer))
                        {
                            return LostRace(state, activity, backend.Name, started, isStreamRequest, overtaken: racer == HedgeRace.First);
                        }
                        LogAttemptFailed(logger, backend.Name, ex is OperationCanceledException ? "no first byte within the stream's first-byte deadline" : "the stream failed before its first byte");
                        updater.OnFailure(state);
                        telemetry.AttemptEnded(activity, backend.Name, ex is OperationCanceledException ? AttemptOutcomes.FirstByteDeadline : AttemptOutcomes.BodyFailed, status, retried: true);
                        return (AttemptOutcome.Retry, default);
                    }
                    attemptCts.CancelAfter(gateway.Upstream.StreamIdleTimeout);
                    updater.OnFirstByte(state, outstanding, time.GetElapsedTime(started), gateway.Routing.LatencySmoothing);
                    outstandingOwned = false;
                    watchFirstByte = false;
                }
                if (!race.TryClaim(racer))
                {
                    return LostRace(state, activity, backend.Name, started, isStreamRequest, overtaken: racer == HedgeRace.First);
                }
            }
            var stateful = request.Stateful;
            if (stateful is not null)
            {
                stateful.AnsweringBackend = status < 300 ? backend.Name : null;
                stateful.OnAnswered(backend.Name, status, context.Request.Method);
            }

            // 4. Stream the answer.
            var callerResponse = context.Response;
            callerResponse.StatusCode = status;
            CopyResponseHeaders(response, callerResponse);
            callerResponse.Headers[GatewayHeaders.Backend] = backend.Name;
            callerResponse.Headers[GatewayHeaders.Attempts] = attempt < AttemptCounts.Length ? AttemptCounts[attempt] : attempt.ToString(System.Globalization.CultureInfo.InvariantCulture);
            Quotas.QuotaHeaders.SetRemaining(callerResponse.Headers, request.ConsumerRemainingTokens, request.ConsumerRemainingRequests);
            context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();

            if (isEventStream && request.UsageMode == UsageMode.StreamGatewayAsked)
            {
                // The caller's stream loses a chunk: its length is no longer the upstream's.
                callerResponse.ContentLength = null;
            }
            var watch = watchFirstByte
                ? new FirstByteWatch(updater, state, outstanding, started, adaptive ? firstByteDeadline : TimeSpan.Zero, gateway.Routing.LatencySmoothing)
                : default;
            outstandingOwned = false;
            var (copy, usage, firstByteAt) = await CopyBodyAsync(response.Content, callerResponse, isEventStream ? request.UsageMode : UsageMode.Json, request.Body, attemptCts, gateway.Upstream.StreamIdleTimeout, time, stateful, watch, aborted, firstChunk, firstRead).ConfigureAwait(false);
            firstChunk = null; // CopyBodyAsync returned it to the pool
            if (copy == CopyResult.FirstByteDeadline && !callerResponse.HasStarted)
            {
                // Nothing reached the caller: forget this backend's status and headers and try the next one.
                callerResponse.Clear();
                LogAttemptFailed(logger, backend.Name, "no first byte within the stream's first-byte deadline");
                updater.OnFailure(state);
                telemetry.AttemptEnded(activity, backend.Name, AttemptOutcomes.FirstByteDeadline, status, retried: true);
                return (AttemptOutcome.Retry, default);
            }
            var result = (usage is { } reported
                ? new ForwardResult(true, reported, UsageEstimated: false)
                : new ForwardResult(true, new Usage(request.EstimatedPromptTokens, 0), UsageEstimated: true)) with { Backend = backend.Name };
            if (isEventStream && firstByteAt != 0)
            {
                telemetry.FirstChunk(request.Route.Name, backend.Name, TimeSpan.FromTicks((long)((firstByteAt - request.ArrivedAt) * ((double)TimeSpan.TicksPerSecond / time.TimestampFrequency))));
            }
            if (activity is not null)
            {
                activity.SetTag(TelemetryNames.InputTokens, result.Usage.PromptTokens);
                activity.SetTag(TelemetryNames.OutputTokens, result.Usage.CompletionTokens);
            }
            telemetry.AttemptEnded(activity, backend.Name, copy switch
            {
                CopyResult.Done => status < 400 ? AttemptOutcomes.Success : AttemptOutcomes.CallerError,
                CopyResult.CallerGone => AttemptOutcomes.CallerGone,
                _ => AttemptOutcomes.BodyFailed,
            }, status, retried: false);
            switch (copy)
            {
                case CopyResult.Done:
                    return (AttemptOutcome.Completed, result);
                case CopyResult.CallerGone:
                    return (AttemptOutcome.CallerGone, result);
                default:
                    // The backend failed mid-body. The caller has part of an answer: end the connection so
                    // that it cannot take a cut body for a whole one.
                    LogBodyFailed(logger, backend.Name, copy.ToString());
                    updater.OnFailure(state);
                    context.Abort();
                    return (AttemptOutcome.Completed, result);
            }
        }
        }
        finally
        {
            if (outstandingOwned)
            {
                updater.OnAttemptEnded(state, outstanding);
            }
            if (firstChunk is not null)
            {
                ArrayPool<byte>.Shared.Return(firstChunk);
            }
        }
    }

    /// <summary>
    /// A hedged attempt whose pair won. Its wait so far is recorded as a time to first byte (a lower bound), so that the
    /// hedge delay's percentile does not forget the slow answers that hedging cut short; the first attempt overtaken by
    /// its hedge counts toward its backend's circuit (<see cref="BackendStateUpdater.OnLostRace"/>).
    /// </summary>
    private (AttemptOutcome, ForwardResult) LostRace(BackendState state, Activity? activity, string backend, long started, bool stream, bool overtaken)
    {
        updater.OnLostRace(state, time.GetElapsedTime(started), stream, overtaken);
        telemetry.AttemptEnded(activity, backend, AttemptOutcomes.HedgeLost, 0, retried: false);
        return (AttemptOutcome.Lost, default);
    }

    private HttpRequestMessage CreateUpstreamRequest(HttpContext context, ForwardRequest request, BackendCandidate candidate, GatewayOptions gateway)
    {
        // Every call goes upstream Azure-style, with the backend's own deployment name: a v1-style caller's
        // body is sent unchanged (Azure OpenAI ignores 'model' on deployment paths), so nothing is rewritten.
        // Responses API calls are account-wide (the deployment is the body's model): {endpoint}openai/v1/responses…,
        // with the caller's query as is (the v1 API takes no api-version).
        var stateful = request.Stateful;
        var uri = stateful is not null
            ? candidate.OpenAiBase + stateful.AccountPath + request.Query
            : candidate.DeploymentBase + request.Operation + (request.Query.Length > 0 ? request.Query : "?api-version=" + gateway.DefaultApiVersion);
        var method = context.Request.Method;
        var upstreamRequest = new HttpRequestMessage(HttpMethods.IsGet(method) ? HttpMethod.Get : HttpMethods.IsDelete(method) ? HttpMethod.Delete : HttpMethod.Post, uri)
        {
            Version = System.Net.HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
        };
        if (!request.Body.IsEmpty)
        {
            HttpContent content = request.UsageMode == UsageMode.StreamGatewayAsked && request.Body.Span.IndexOf((byte)'{') is var brace and >= 0
                ? new PrefixedContent(IncludeUsagePrefix, request.Body[(brace + 1)..])
                : stateful is { ModelTokenLength: > 0 } && !string.Equals(stateful.Model, candidate.UpstreamDeployment, StringComparison.Ordinal)
                    ? ModelRewriteContent.Create(request.Body, stateful.ModelTokenStart, stateful.ModelTokenLength, candidate.UpstreamDeployment)
                    : new ReadOnlyMemoryContent(request.Body);
            content.Headers.TryAddWithoutValidation("Content-Type", request.ContentType ?? "application/json");
            upstreamRequest.Content = content;
        }
        // With an activity current, the client's trace context continues through it (the handler writes a
        // traceparent for the attempt span); without one, the caller's own is passed on unchanged.
        var tracing = Activity.Current is not null;
        foreach (var header in context.Request.Headers)
        {
            if (!HeaderRules.NotForwardedUpstream.Contains(header.Key) && !(tracing && HeaderRules.IsTraceContext(header.Key)))
            {
                upstreamRequest.Headers.TryAddWithoutValidation(header.Key, (IEnumerable<string>)header.Value);
            }
        }
        return upstreamRequest;
    }

    private static void CopyResponseHeaders(HttpResponseMessage response, HttpResponse callerResponse)
    {
        var headers = callerResponse.Headers;
        foreach (var header in response.Headers.NonValidated)
        {
            if (!HeaderRules.NotReturned.Contains(header.Key))
            {
                headers[header.Key] = ToStringValues(header.Value);
            }
        }
        foreach (var header in response.Content.Headers.NonValidated)
        {
            if (!HeaderRules.NotReturned.Contains(header.Key))
            {
                headers[header.Key] = ToStringValues(header.Value);
            }
        }
    }

    private static Microsoft.Extensions.Primitives.StringValues ToStringValues(HeaderStringValues values)
    {
        if (values.Count == 1)
        {
            foreach (var v in values)
            {
                return v;
            }
        }
        return values.ToArray();
    }

    /// <summary>Reads a 404's (small) body to tell a missing deployment from a caller's mistake; the body stays readable.</summary>
    private static async Task<bool> IsDeploymentNotFoundAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            await response.Content.LoadIntoBufferAsync(64 * 1024, cancellationToken).ConfigureAwait(false);
            var bytes = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
            return bytes.AsSpan().IndexOf("DeploymentNotFound"u8) >= 0;
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or OperationCanceledException)
        {
            return true; // could not even read it: treat as the backend's failure
        }
    }

    private void ObserveCapacity(BackendCandidate candidate, HttpResponseMessage response, OutstandingAttempt attempt)
    {
        var tokens = ReadLong(response.Headers, "x-ratelimit-remaining-tokens");
        var requests = ReadLong(response.Headers, "x-ratelimit-remaining-requests");
        updater.OnRemainingCapacity(candidate.Capacity, tokens, requests, attempt.StartedAt, attempt.ChargedThrough);
    }

    private static long ReadLong(HttpResponseHeaders headers, string name)
    {
        if (headers.NonValidated.TryGetValues(name, out var values))
        {
            foreach (var value in values)
            {
                return long.TryParse(value, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var n) ? n : -1;
            }
        }
        return -1;
    }

    private enum CopyResult { Done, CallerGone, UpstreamFailed, UpstreamIdle, FirstByteDeadline }

    /// <summary>
    /// A stream's outstanding attempt, ended by its first body byte (which also feeds the backend's time to first
    /// byte); <see cref="Deadline"/> is the adaptive first-byte deadline from the attempt's start, zero when none applies.
    /// </summary>
    private readonly record struct FirstByteWatch(BackendStateUpdater? Updater, BackendState? State, OutstandingAttempt Attempt, long StartedTimestamp, TimeSpan Deadline, double Smoothing);

    /// <summary>
    /// Copies the body with a pooled buffer, reading <c>usage</c> on the way: from the SSE usage chunk (removed
    /// when the gateway asked for it), or from the last bytes of a JSON body.
    /// </summary>
    /// <param name="firstChunk">A hedged stream's first bytes, already read (a pooled buffer this method returns), or null.</param>
    private static async ValueTask<(CopyResult, Usage?, long FirstByteAt)> CopyBodyAsync(HttpContent content, HttpResponse callerResponse, UsageMode usageMode, ReadOnlyMemory<byte> requestBody, CancellationTokenSource attemptCts, TimeSpan idleTimeout, TimeProvider time, ResponsesCall? stateful, FirstByteWatch watch, CancellationToken aborted,
        byte[]? firstChunk = null, int firstRead = 0)
    {
        long firstByteAt = 0;
        var watching = watch.State is not null;
        var isStream = usageMode != UsageMode.Json;
        var pending = firstChunk is not null;
        var buffer = firstChunk ?? ArrayPool<byte>.Shared.Rent(isStream ? StreamCopyBufferSize : CopyBufferSize);
        using var sse = isStream ? new SseUsageFilter(dropUsageChunk: usageMode == UsageMode.StreamGatewayAsked, countRequest: usageMode == UsageMode.StreamNone ? requestBody : null) : null;
        byte[]? tail = isStream ? null : ArrayPool<byte>.Shared.Rent(UsageTailSize);
        var tailLength = 0;
        var body = callerResponse.Body;
        try
        {
            Stream source;
            try
            {
                source = await content.ReadAsStreamAsync(attemptCts.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException or OperationCanceledException)
            {
                return (aborted.IsCancellationRequested ? CopyResult.CallerGone : CopyResult.UpstreamFailed, null, 0);
            }
            await using (source.ConfigureAwait(false))
            {
                // A watched stream starts the caller's response with its first byte, so that until then another backend can still be tried.
                if (!watching)
                {
                    await callerResponse.StartAsync(aborted).ConfigureAwait(false);
                }
                while (true)
                {
                    int read;
                    var firstByteWait = watching && watch.Deadline > TimeSpan.Zero;
                    if (pending)
                    {
                        pending = false;
                        read = firstRead;
                    }
                    else
                    {
                    if (firstByteWait)
                    {
                        var left = watch.Deadline - time.GetElapsedTime(watch.StartedTimestamp);
                        attemptCts.CancelAfter(left > TimeSpan.Zero ? left : TimeSpan.FromTicks(1));
                    }
                    else
                    {
                        attemptCts.CancelAfter(idleTimeout);
                    }
                    try
                    {
                        read = await source.ReadAsync(buffer, attemptCts.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        return (aborted.IsCancellationRequested ? CopyResult.CallerGone : firstByteWait ? CopyResult.FirstByteDeadline : CopyResult.UpstreamIdle, sse?.Usage, firstByteAt);
                    }
                    catch (Exception ex) when (ex is HttpRequestException or IOException)
                    {
                        return (aborted.IsCancellationRequested ? CopyResult.CallerGone : CopyResult.UpstreamFailed, sse?.Usage, firstByteAt);
                    }
                    }
                    if (watching)
                    {
                        // The backend answered: no longer outstanding, and its time to first byte is known.
                        watching = false;
                        watch.Updater!.OnFirstByte(watch.State!, watch.Attempt, time.GetElapsedTime(watch.StartedTimestamp), watch.Smoothing);
                    }
                    try
                    {
                        // A new stored response's id is read (and its owner recorded) before the caller has the bytes.
                        stateful?.OnBody(buffer.AsSpan(0, read));
                        if (read == 0)
                        {
                            if (sse is not null)
                            {
                                await sse.CompleteAsync(body, aborted).ConfigureAwait(false);
                                return (CopyResult.Done, sse.Usage, firstByteAt);
                            }
                            return (CopyResult.Done, Usage.TryFind(tail.AsSpan(0, tailLength), out var found) ? found : null, firstByteAt);
                        }
                        if (sse is not null)
                        {
                            // Event by event, flushed: SSE reaches the caller as it is produced.
                            await sse.ProcessAsync(buffer.AsMemory(0, read), body, aborted).ConfigureAwait(false);
                            if (firstByteAt == 0 && sse.BytesWritten > 0)
                            {
                                firstByteAt = time.GetTimestamp();
                            }
                        }
                        else
                        {
                            if (firstByteAt == 0)
                            {
                                firstByteAt = time.GetTimestamp();
                            }
                            await body.WriteAsync(buffer.AsMemory(0, read), aborted).ConfigureAwait(false);
                            KeepTail(tail!, ref tailLength, buffer.AsSpan(0, read));
                        }
                    }
                    catch (Exception ex) when (ex is OperationCanceledException or IOException or ObjectDisposedException)
                    {
                        return (CopyResult.CallerGone, sse?.Usage, firstByteAt);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            return (CopyResult.CallerGone, sse?.Usage, firstByteAt);
        }
        finally
        {
            if (watching)
            {
                watch.Updater!.OnAttemptEnded(watch.State!, watch.Attempt);
            }
            ArrayPool<byte>.Shared.Return(buffer);
            if (tail is not null)
            {
                ArrayPool<byte>.Shared.Return(tail);
            }
        }
    }

    /// <summary>Keeps the last <see cref="UsageTailSize"/> bytes of a body, where <c>usage</c> is.</summary>
    private static void KeepTail(byte[] tail, ref int tailLength, ReadOnlySpan<byte> read)
    {
        if (read.Length >= UsageTailSize)
        {
            read[^UsageTailSize..].CopyTo(tail);
            tailLength = UsageTailSize;
            return;
        }
        var keep = Math.Min(tailLength, UsageTailSize - read.Length);
        tail.AsSpan(tailLength - keep, keep).CopyTo(tail);
        read.CopyTo(tail.AsSpan(keep));
        tailLength = keep + read.Length;
    }

    private Task WriteNoBackendAsync(HttpContext context, DeploymentRoute route, NoBackend none)
    {
        if (none.AllThrottled)
        {
            LogAllThrottled(logger, route.Name);
        }
        else
        {
            LogNoBackend(logger, route.Name);
        }
        return GatewayErrors.WriteNoBackendAsync(context, route.Name, none, updater.Now, "could serve the request");
    }

    [LoggerMessage(1301, LogLevel.Warning, "Attempt on backend {Backend} failed ({Reason}); trying the next backend.")]
    private static partial void LogAttemptFailed(ILogger logger, string backend, string reason);

    [LoggerMessage(1302, LogLevel.Warning, "Backend {Backend} failed while its response was being streamed ({Reason}); the caller's connection was ended.")]
    private static partial void LogBodyFailed(ILogger logger, string backend, string reason);

    [LoggerMessage(1303, LogLevel.Warning, "Every backend of deployment {Deployment} is throttled; answering 429.")]
    private static partial void LogAllThrottled(ILogger logger, string deployment);

    [LoggerMessage(1304, LogLevel.Warning, "No backend of deployment {Deployment} is available; answering 503.")]
    private static partial void LogNoBackend(ILogger logger, string deployment);
}
