using System.Diagnostics;
using System.Net;
using System.Net.WebSockets;
using System.Text;
using AoaiAspire.Backends.Upstream;
using AoaiAspire.Gateway.Configuration;
using AoaiAspire.Gateway.Consumers;
using AoaiAspire.Gateway.Errors;
using AoaiAspire.Gateway.Forwarding;
using AoaiAspire.Gateway.Availability;
using AoaiAspire.Gateway.LoadBalancing;
using AoaiAspire.Gateway.Quotas;
using AoaiAspire.Gateway.Telemetry;
using AoaiAspire.Gateway.Tokens;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace AoaiAspire.Gateway.Realtime;

/// <summary>
/// The realtime WebSocket: <c>GET /openai/v1/realtime?model={deployment}</c> (and <c>/v1/realtime</c>), and the
/// preview path <c>GET /openai/realtime?api-version=…&amp;deployment={deployment}</c>, relayed to a backend.
/// </summary>
/// <remarks>
/// Steps:
/// 1. everything a caller can get wrong is answered before any backend is touched, with an Azure OpenAI-shaped
///    error: the path (api-version), the method, the key (header, Bearer, the <c>openai-insecure-api-key.</c>
///    subprotocol, or the <c>api-key</c> query parameter when allowed), the upgrade itself, the deployment, the
///    consumer's concurrency and quota, the replica's session limit;
/// 2. connect to a backend first, chosen like any request (priority groups, throttled and open-circuit backends
///    skipped): a 429 benches it until its Retry-After, a failure counts toward its circuit, and the next is tried;
/// 3. only then accept the caller's upgrade, so failover is invisible to it; after the upgrade there is none;
/// 4. relay (<see cref="RealtimeRelay"/>), recording the usage of each <c>response.done</c> per backend, deployment
///    and consumer, and charging it to the consumer's quota.
/// </remarks>
internal static partial class RealtimeEndpoints
{
    private const string KeySubprotocolPrefix = "openai-insecure-api-key.";
    private const string Operation = "realtime";

    public static IEndpointRouteBuilder MapGatewayRealtime(this IEndpointRouteBuilder endpoints)
    {
        endpoints.Map("/openai/v1/realtime", (HttpContext context) => HandleAsync(context, preview: false));
        endpoints.Map("/v1/realtime", (HttpContext context) => HandleAsync(context, preview: false));
        endpoints.Map("/openai/realtime", (HttpContext context) => HandleAsync(context, preview: true));
        return endpoints;
    }

    private static async Task HandleAsync(HttpContext context, bool preview)
    {
        var services = context.RequestServices;
        var options = services.GetRequiredService<IOptionsMonitor<RealtimeOptions>>().CurrentValue;
        var telemetry = services.GetRequiredService<GatewayTelemetry>();
        var request = context.Request;
        var query = request.Query;

        // 1. The caller's side.
        if (options.MaxConcurrentSessions == 0)
        {
            telemetry.Rejected("realtime_disabled");
            await GatewayErrors.WriteAsync(context, StatusCodes.Status404NotFound, GatewayErrorCodes.NotFound,
                "Resource not found. Realtime is turned off on this gateway (Gateway:Realtime:MaxConcurrentSessions is 0).").ConfigureAwait(false);
            return;
        }
        if (preview && !query.ContainsKey("api-version"))
        {
            telemetry.Rejected("missing_api_version");
            await GatewayErrors.WriteAsync(context, StatusCodes.Status404NotFound, GatewayErrorCodes.NotFound,
                "Resource not found. /openai/realtime needs an 'api-version' query parameter (or use /openai/v1/realtime?model=..., which takes none).").ConfigureAwait(false);
            return;
        }
        // HTTP/1.1 opens a WebSocket with a GET, HTTP/2 (RFC 8441) with an extended CONNECT.
        if (!HttpMethods.IsGet(request.Method) && !(HttpMethods.IsConnect(request.Method) && context.WebSockets.IsWebSocketRequest))
        {
            context.Response.Headers.Allow = "GET";
            telemetry.Rejected("method_not_allowed");
            await GatewayErrors.WriteAsync(context, StatusCodes.Status405MethodNotAllowed, GatewayErrorCodes.MethodNotAllowed,
                $"Method {request.Method} is not allowed here; realtime sessions open with a GET WebSocket upgrade.").ConfigureAwait(false);
            return;
        }

        var consumers = services.GetRequiredService<ConsumerDirectory>();
        var (consumer, keyInQueryRefused) = Authenticate(context, consumers, options);
        if (consumer is null)
        {
            var presented = !ConsumerDirectory.PresentedKey(request).IsEmpty || keyInQueryRefused || OfferedKey(context).Length > 0;
            RealtimeLog.AuthenticationFailed(services.GetRequiredService<ILoggerFactory>().CreateLogger(RealtimeLog.AuthenticationCategory),
                keyInQueryRefused ? "key in query refused" : presented ? "unknown key" : "no key", context.Connection.RemoteIpAddress?.ToString() ?? "?");
            telemetry.Rejected("unauthorized");
            await GatewayErrors.WriteAsync(context, StatusCodes.Status401Unauthorized, GatewayErrorCodes.Unauthorized, keyInQueryRefused
                ? "Access denied: this gateway does not accept keys in the query string (Gateway:Realtime:AllowKeyInQuery is false). Send the key in the 'api-key' header, as 'Authorization: Bearer <key>', or as the WebSocket subprotocol 'openai-insecure-api-key.<key>'."
                : "Access denied due to a missing or invalid key. Send a gateway key in the 'api-key' header, as 'Authorization: Bearer <key>', or as the WebSocket subprotocol 'openai-insecure-api-key.<key>'.").ConfigureAwait(false);
            return;
        }
        if (!context.WebSockets.IsWebSocketRequest)
        {
            telemetry.Rejected("not_websocket");
            await GatewayErrors.WriteAsync(context, StatusCodes.Status400BadRequest, GatewayErrorCodes.BadRequest,
                "The realtime API is a WebSocket: open it with a GET carrying 'Upgrade: websocket'.").ConfigureAwait(false);
            return;
        }
        var deployment = (preview ? query["deployment"] : query["model"]).ToString();
        if (deployment.Length == 0)
        {
            telemetry.Rejected("bad_request");
            await GatewayErrors.WriteAsync(context, StatusCodes.Status400BadRequest, GatewayErrorCodes.BadRequest, preview
                ? "The 'deployment' query parameter is required: name the deployment."
                : "The 'model' query parameter is required: set it to the deployment name.").ConfigureAwait(false);
            return;
        }
        var catalog = services.GetRequiredService<BackendRegistry>().Catalog;
        if (!catalog.Routes.TryGetValue(deployment, out var route))
        {
            telemetry.Rejected("unknown_deployment");
            await GatewayErrors.WriteAsync(context, StatusCodes.Status404NotFound, GatewayErrorCodes.DeploymentNotFound,
                $"The API deployment '{deployment}' does not exist on this gateway.").ConfigureAwait(false);
            return;
        }
        if (!consumer.MayCall(route.Name))
        {
            telemetry.Rejected("forbidden");
            await GatewayErrors.WriteAsync(context, StatusCodes.Status403Forbidden, GatewayErrorCodes.Forbidden,
                $"This key may not call deployment '{route.Name}'.").ConfigureAwait(false);
            return;
        }
        if (!consumer.TryEnter())
        {
            telemetry.Rejected("consumer_concurrency");
            await GatewayErrors.WriteAsync(context, StatusCodes.Status429TooManyRequests, GatewayErrorCodes.Throttled,
                $"Consumer '{consumer.Name}' already has {consumer.MaxConcurrentRequests} requests or sessions open, its limit. Please retry after 1 second.",
                TimeSpan.FromSeconds(1)).ConfigureAwait(false);
            return;
        }
        var limit = services.GetRequiredService<RealtimeSessionLimit>();
        try
        {
            if (!limit.TryEnter(options.MaxConcurrentSessions))
            {
                telemetry.Rejected("realtime_sessions", route.Name);
                RealtimeLog.SessionLimit(services.GetRequiredService<ILogger<RealtimeSessionLimit>>(), options.MaxConcurrentSessions);
                await GatewayErrors.WriteAsync(context, StatusCodes.Status429TooManyRequests, GatewayErrorCodes.Throttled,
                    $"The gateway already has {options.MaxConcurrentSessions} realtime sessions open, its limit (Gateway:Realtime:MaxConcurrentSessions). Please retry after 1 second.",
                    TimeSpan.FromSeconds(1)).ConfigureAwait(false);
                return;
            }
            try
            {
                await RunSessionAsync(context, route, consumer, preview, options, telemetry).ConfigureAwait(false);
            }
            finally
            {
                limit.Exit();
            }
        }
        finally
        {
            consumer.Exit();
        }
    }

    private static async Task RunSessionAsync(HttpContext context, DeploymentRoute route, Consumer consumer, bool preview, RealtimeOptions options, GatewayTelemetry telemetry)
    {
        var services = context.RequestServices;
        var time = services.GetRequiredService<TimeProvider>();
        var arrivedAt = time.GetTimestamp();
        var quotas = services.GetRequiredService<IConsumerQuotas>();
        var decision = quotas.TryAdmit(consumer.Name, route.Name, 0);
        if (!decision.Admitted)
        {
            telemetry.Rejected("consumer_quota", route.Name);
            await GatewayErrors.WriteAsync(context, StatusCodes.Status429TooManyRequests, GatewayErrorCodes.Throttled,
                $"Consumer '{consumer.Name}' has exceeded its rate limit for deployment '{route.Name}'. Please retry after {Math.Max(1, Math.Ceiling(decision.RetryAfter.TotalSeconds))} seconds.",
                decision.RetryAfter).ConfigureAwait(false);
            return;
        }

        // 2. Connect upstream.
        var connector = services.GetRequiredService<RealtimeConnector>();
        // A session is not queued, but its consumer's class keeps it off the priority groups that class never uses.
        var excluded = services.GetRequiredService<Admission.AdmissionQueue>().Excluded(route, consumer.Priority);
        var connected = await connector.ConnectAsync(context, route, preview, options, excluded).ConfigureAwait(false);
        if (connected.Socket is not { } upstream)
        {
            telemetry.Rejected((connected.Unserved ?? default).RejectReason, route.Name);
            return;
        }

        using (upstream)
        {
            // 3. Accept the caller.
            var backend = connected.Candidate!.Backend;
            context.Response.Headers[GatewayHeaders.Backend] = backend.Name;
            context.Response.Headers[GatewayHeaders.Attempts] = connected.Attempts.ToString(System.Globalization.CultureInfo.InvariantCulture);
            WebSocket caller;
            try
            {
                caller = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
                {
                    SubProtocol = context.WebSockets.WebSocketRequestedProtocols.Contains("realtime") ? "realtime" : null,
                    KeepAliveInterval = options.KeepAliveInterval,
                }).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or InvalidOperationException)
            {
                upstream.Abort();
                return;
            }

            using (caller)
            {
                // 4. Relay.
                var upgradedAt = time.GetTimestamp();
                var ledger = services.GetRequiredService<UsageLedger>();
                long input = 0, output = 0;
                var relay = new RealtimeRelay(caller, upstream, options, usage =>
                {
                    input += usage.PromptTokens;
                    output += usage.CompletionTokens;
                    ledger.Record(backend.Name, route.Name, consumer.Name, usage, estimated: false);
                    // Each turn charges its tokens (and counts as a request) in the consumer's window of the moment.
                    quotas.TryAdmit(consumer.Name, route.Name, usage.TotalTokens);
                });
                var stopping = services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
                var reason = await relay.RunAsync(stopping).ConfigureAwait(false);
                var duration = time.GetElapsedTime(upgradedAt);
                var server = context.Features.Get<IHttpActivityFeature>()?.Activity;
                services.GetRequiredService<RealtimeTelemetry>().SessionEnded(server, route.Name, backend.Name, consumer.Name, reason, duration,
                    relay.MessagesToBackend, relay.MessagesToCaller);
                // The gateway's own share is the set-up outside the backend's handshake; the rest of the session is the backend's.
                var total = time.GetElapsedTime(arrivedAt);
                var added = time.GetElapsedTime(arrivedAt, upgradedAt) - connected.Upstream;
                telemetry.RequestEnded(server, Operation, route.Name, backend.Name, consumer.Name, StatusCodes.Status101SwitchingProtocols, input, output,
                    total, total - added);
                RealtimeLog.SessionEnded(services.GetRequiredService<ILogger<RealtimeConnector>>(), route.Name, backend.Name, reason, duration,
                    relay.MessagesToBackend, relay.MessagesToCaller, input, output);
            }
        }
    }

    /// <summary>The caller's consumer from its key, wherever it is; and whether a key in the query was refused.</summary>
    private static (Consumer? Consumer, bool KeyInQueryRefused) Authenticate(HttpContext context, ConsumerDirectory consumers, RealtimeOptions options)
    {
        var request = context.Request;
        if (!ConsumerDirectory.PresentedKey(request).IsEmpty)
        {
            return (consumers.Authenticate(request), false);
        }
        var offered = OfferedKey(context);
        if (offered.Length > 0)
        {
            return (consumers.Authenticate(offered), false);
        }
        var queryKey = request.Query["api-key"].ToString();
        if (queryKey.Length > 0)
        {
            return options.AllowKeyInQuery ? (consumers.Authenticate(queryKey.AsSpan().Trim()), false) : (null, true);
        }
        return (consumers.Authenticate(request), false);
    }

    /// <summary>The key a browser sends as the subprotocol <c>openai-insecure-api-key.{key}</c>, if any.</summary>
    private static string OfferedKey(HttpContext context)
    {
        foreach (var protocol in context.WebSockets.WebSocketRequestedProtocols)
        {
            if (protocol.StartsWith(KeySubprotocolPrefix, StringComparison.Ordinal))
            {
                return protocol[KeySubprotocolPrefix.Length..];
            }
        }
        return "";
    }

    private static partial class RealtimeLog
    {
        public const string AuthenticationCategory = "AoaiAspire.Gateway.Authentication";

        [LoggerMessage(1904, LogLevel.Warning, "Realtime caller authentication failed ({Reason}) from {RemoteAddress}.")]
        public static partial void AuthenticationFailed(ILogger logger, string reason, string remoteAddress);

        [LoggerMessage(1905, LogLevel.Warning, "Realtime session refused: {Max} sessions are open, the limit (Gateway:Realtime:MaxConcurrentSessions).")]
        public static partial void SessionLimit(ILogger logger, int max);

        [LoggerMessage(1906, LogLevel.Debug, "Realtime session on {Deployment} via {Backend} ended ({Reason}) after {Duration}: {ToBackend} messages to the backend, {ToCaller} to the caller, {Input} input and {Output} output tokens.")]
        public static partial void SessionEnded(ILogger logger, string deployment, string backend, string reason, TimeSpan duration, long toBackend, long toCaller, long input, long output);
    }
}

/// <summary>What connecting upstream came to: the backend's socket, or none (the caller has been answered).</summary>
internal readonly record struct RealtimeConnection(ClientWebSocket? Socket, BackendCandidate? Candidate, int Attempts, TimeSpan Upstream)
{
    /// <summary>Why no backend connected, when the caller was answered with a 429 or 503 for that.</summary>
    public NoBackend? Unserved { get; init; }
}

/// <summary>
/// Opens the backend's WebSocket, trying the deployment's backends in the order any request would (BackendSelector),
/// with the gateway's upstream credentials and the one upstream client; answers the caller itself when none connects.
/// </summary>
internal sealed partial class RealtimeConnector(
    UpstreamInvoker upstream,
    UpstreamCredentials credentials,
    BackendSelector selector,
    BackendStateUpdater updater,
    IOptionsMonitor<GatewayOptions> gatewayOptions,
    GatewayTelemetry telemetry,
    TimeProvider time,
    ILogger<RealtimeConnector> logger)
{
    /// <summary>Caller headers worth passing on to the backend's handshake (the rest are the gateway's or the handshake's).</summary>
    private static readonly string[] PassedHeaders = ["OpenAI-Beta", "x-ms-client-request-id", "User-Agent"];

    /// <param name="excluded">Candidates the consumer's priority class may not use (Gateway:Admission:Classes:{name}:ExcludedPriorityGroups).</param>
    public async Task<RealtimeConnection> ConnectAsync(HttpContext context, DeploymentRoute route, bool preview, RealtimeOptions options, ulong excluded = 0)
    {
        var gateway = gatewayOptions.CurrentValue;
        var maxAttempts = gateway.Routing.MaxAttempts == 0 ? route.Candidates.Length : Math.Min(gateway.Routing.MaxAttempts, route.Candidates.Length);
        var tried = excluded;
        NoBackend none = default;
        var upstreamTicks = 0L;
        for (var attempt = 1; attempt <= maxAttempts; attempt++)
        {
            var index = selector.Select(route, tried, updater.Now, out none, excluded: excluded);
            if (index < 0)
            {
                break;
            }
            tried |= 1UL << index;
            var candidate = route.Candidates[index];
            var started = time.GetTimestamp();
            var (socket, answered) = await AttemptAsync(context, route, candidate, attempt, preview, options).ConfigureAwait(false);
            upstreamTicks += time.GetElapsedTime(started).Ticks;
            if (socket is not null)
            {
                return new RealtimeConnection(socket, candidate, attempt, TimeSpan.FromTicks(upstreamTicks));
            }
            if (answered || context.RequestAborted.IsCancellationRequested)
            {
                return default;
            }
            if (attempt == maxAttempts)
            {
                selector.Select(route, ulong.MaxValue, updater.Now, out none, excluded: excluded);
            }
        }
        await WriteNoBackendAsync(context, route, none).ConfigureAwait(false);
        return new RealtimeConnection { Unserved = none };
    }

    /// <summary>One backend: the socket when it connected; else whether the caller has been answered (no retry).</summary>
    private async Task<(ClientWebSocket? Socket, bool Answered)> AttemptAsync(HttpContext context, DeploymentRoute route, BackendCandidate candidate, int attempt, bool preview, RealtimeOptions options)
    {
        var backend = candidate.Backend;
        var state = candidate.State;
        using var activity = telemetry.StartAttempt("realtime", route.Name, backend.Name, backend.Region, backend.Endpoint.Host, attempt);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        timeout.CancelAfter(options.ConnectTimeout);
        var started = time.GetTimestamp();
        var socket = new ClientWebSocket();
        var socketOptions = socket.Options;
        socketOptions.CollectHttpResponseDetails = true;
        socketOptions.KeepAliveInterval = options.KeepAliveInterval;
        socketOptions.HttpVersion = HttpVersion.Version11;
        socketOptions.HttpVersionPolicy = HttpVersionPolicy.RequestVersionOrLower;
        foreach (var name in PassedHeaders)
        {
            if (context.Request.Headers.TryGetValue(name, out var value) && value.Count > 0 && !string.IsNullOrEmpty(value[0]))
            {
                socketOptions.SetRequestHeader(name, value[0]);
            }
        }
        try
        {
            // The gateway's credentials for this backend (api-key or Entra ID token), applied as on every other call.
            using (var auth = new HttpRequestMessage())
            {
                await credentials.ApplyAsync(auth, backend, timeout.Token).ConfigureAwait(false);
                foreach (var header in auth.Headers)
                {
                    socketOptions.SetRequestHeader(header.Key, string.Join(",", header.Value));
                }
            }
            await socket.ConnectAsync(UpstreamUri(context, candidate, preview), upstream.Invoker, timeout.Token).ConfigureAwait(false);
            updater.OnSuccess(state, time.GetElapsedTime(started));
            telemetry.AttemptEnded(activity, backend.Name, AttemptOutcomes.Success, StatusCodes.Status101SwitchingProtocols, retried: false);
            return (socket, false);
        }
        catch (Exception ex) when (ex is WebSocketException or HttpRequestException or OperationCanceledException or IOException or Azure.Identity.AuthenticationFailedException)
        {
            var status = (int)socket.HttpStatusCode;
            var headers = socket.HttpResponseHeaders;
            socket.Dispose();
            if (context.RequestAborted.IsCancellationRequested)
            {
                updater.OnAbandoned(state);
                telemetry.AttemptEnded(activity, backend.Name, AttemptOutcomes.CallerGone, 0, retried: false);
                return (null, true);
            }
            if (status == StatusCodes.Status429TooManyRequests)
            {
                updater.OnThrottled(state, route.Name, RetryAfterOf(headers));
                telemetry.AttemptEnded(activity, backend.Name, AttemptOutcomes.Throttled, status, retried: true);
                return (null, false);
            }
            // A 4xx other than auth, a missing deployment or a timeout is the caller's (a model without realtime, a bad
            // api-version): every backend would say the same, so it is answered now.
            if (status is >= 400 and < 500 and not (StatusCodes.Status401Unauthorized or StatusCodes.Status403Forbidden or StatusCodes.Status404NotFound or StatusCodes.Status408RequestTimeout))
            {
                updater.OnSuccess(state, time.GetElapsedTime(started));
                telemetry.AttemptEnded(activity, backend.Name, AttemptOutcomes.CallerError, status, retried: false);
                await GatewayErrors.WriteAsync(context, status, GatewayErrorCodes.ForStatus(status),
                    $"Backend '{backend.Name}' refused the realtime session for deployment '{route.Name}' with status {status}: check that the deployment's model supports realtime and the query parameters.").ConfigureAwait(false);
                return (null, true);
            }
            var outcome = ex switch
            {
                Azure.Identity.AuthenticationFailedException => AttemptOutcomes.AuthUnavailable,
                OperationCanceledException => AttemptOutcomes.Timeout,
                _ when status >= 500 || status == StatusCodes.Status408RequestTimeout => AttemptOutcomes.ServerError,
                _ when status > 0 => AttemptOutcomes.BackendMisconfigured,
                _ => AttemptOutcomes.ConnectionFailure,
            };
            LogAttemptFailed(logger, backend.Name, status > 0 ? status.ToString(System.Globalization.CultureInfo.InvariantCulture) : outcome);
            updater.OnFailure(state);
            telemetry.AttemptEnded(activity, backend.Name, outcome, status, retried: true);
            return (null, false);
        }
    }

    /// <summary>The backend's realtime URL, in the caller's style, with the backend's deployment name and the caller's other query parameters.</summary>
    private static Uri UpstreamUri(HttpContext context, BackendCandidate candidate, bool preview)
    {
        var endpoint = candidate.Backend.Endpoint;
        var builder = new StringBuilder(256);
        builder.Append(endpoint.Scheme == Uri.UriSchemeHttps ? "wss://" : "ws://").Append(endpoint.Authority).Append(endpoint.AbsolutePath.TrimEnd('/'));
        builder.Append(preview ? "/openai/realtime?deployment=" : "/openai/v1/realtime?model=").Append(Uri.EscapeDataString(candidate.UpstreamDeployment));
        foreach (var (key, values) in context.Request.Query)
        {
            if (key is "model" or "deployment" or "api-key")
            {
                continue;
            }
            foreach (var value in values)
            {
                builder.Append('&').Append(Uri.EscapeDataString(key)).Append('=').Append(Uri.EscapeDataString(value ?? ""));
            }
        }
        return new Uri(builder.ToString());
    }

    private TimeSpan? RetryAfterOf(IReadOnlyDictionary<string, IEnumerable<string>>? headers)
    {
        if (headers is null)
        {
            return null;
        }
        using var response = new HttpResponseMessage();
        foreach (var (name, values) in headers)
        {
            response.Headers.TryAddWithoutValidation(name, values);
        }
        return RetryAfter.Parse(response.Headers, time.GetUtcNow());
    }

    private Task WriteNoBackendAsync(HttpContext context, DeploymentRoute route, NoBackend none)
    {
        if (!none.AllThrottled)
        {
            LogNoBackend(logger, route.Name);
        }
        return GatewayErrors.WriteNoBackendAsync(context, route.Name, none, updater.Now, "could open a realtime session");
    }

    [LoggerMessage(1901, LogLevel.Warning, "Realtime connect to backend {Backend} failed ({Reason}); trying the next backend.")]
    private static partial void LogAttemptFailed(ILogger logger, string backend, string reason);

    [LoggerMessage(1902, LogLevel.Warning, "No backend of deployment {Deployment} could open a realtime session; answering 503.")]
    private static partial void LogNoBackend(ILogger logger, string deployment);
}
