using System.Buffers;
using AoaiAspire.Gateway.Affinity;
using AoaiAspire.Gateway.Configuration;
using AoaiAspire.Gateway.Errors;
using AoaiAspire.Gateway.Forwarding;
using AoaiAspire.Gateway.LoadBalancing;

namespace AoaiAspire.Gateway.Responses;

/// <summary>What a Responses API call does to stored state.</summary>
internal enum ResponsesCallKind
{
    /// <summary><c>POST /responses</c>: runs the model; may continue a stored response or a conversation.</summary>
    Create,
    /// <summary><c>GET</c>, <c>DELETE /responses/{id}</c>, <c>POST …/cancel</c>, <c>GET …/input_items</c>: names a stored response, runs no model.</summary>
    Object,
}

/// <summary>Error codes of the stateful answers (README "Stateful APIs"); the generic ones are in <see cref="GatewayErrorCodes"/>.</summary>
internal static class StatefulErrorCodes
{
    /// <summary>What Azure OpenAI's v1 API says for a response it does not hold.</summary>
    public const string NotFound = "not_found";
    public const string PreviousResponseNotFound = "previous_response_not_found";
    /// <summary>503: the backend that holds the object is down, failing or circuit-open; no other backend has the object.</summary>
    public const string OwnerUnavailable = "OwnerUnavailable";
    /// <summary>400: the object lives on a backend that does not serve the deployment the request names.</summary>
    public const string OwnerDoesNotServeDeployment = "OwnerDoesNotServeDeployment";
    /// <summary>400: a per-resource API (files, batches, …) the gateway does not route.</summary>
    public const string NotRouted = "OperationNotSupported";
    public const string InvalidId = "InvalidObjectId";
}

/// <summary>
/// One Responses API call as the forwarder needs it: which backend must serve it (the owner of the object it names),
/// whether a "not found" means "ask the next backend", the model to rewrite per backend, and what to record once a
/// backend has answered: the id of a new stored response (read from the first bytes of the JSON body or of the
/// <c>response.created</c> event, before the caller has them) and the owner found for an object it named.
/// One small object per Responses call; chat and the other operations never create one.
/// </summary>
internal sealed class ResponsesCall
{
    private const int HeadLimit = 4096;

    private readonly AffinityDirectory _directory;
    private readonly string _consumer;
    private byte[]? _head;
    private int _headLength;
    private bool _idSeen;
    private List<string>? _notFoundOn;
    private IReadOnlyDictionary<string, string>? _deploymentOf;

    private ResponsesCall(AffinityDirectory directory, ResponsesCallKind kind, string consumer, string accountPath)
    {
        _directory = directory;
        Kind = kind;
        _consumer = consumer;
        AccountPath = accountPath;
    }

    public ResponsesCallKind Kind { get; }

    /// <summary>The path after <c>{endpoint}openai/</c> sent upstream, e.g. <c>v1/responses</c>.</summary>
    public string AccountPath { get; }

    /// <summary>Index in the route's candidates of the backend that must serve this call, or -1 (any).</summary>
    public int OwnerIndex { get; private set; } = -1;

    /// <summary>When the owner is not known: a "not found" from one backend sends the call to the next.</summary>
    public bool SearchOnNotFound { get; private set; }

    /// <summary>The id of the object the call names (a stored response, a conversation), for messages and recording.</summary>
    public string? NamedObject { get; private set; }

    /// <summary>The body's model as sent, and where its token is (rewritten per backend when the upstream name differs).</summary>
    public string? Model { get; private set; }
    public int ModelTokenStart { get; private set; }
    public int ModelTokenLength { get; private set; }

    /// <summary>Whether the created response is stored (and so gets an owner): <c>store</c> is not false.</summary>
    public bool Stores { get; private set; }

    /// <summary>The deployment recorded with the owner.</summary>
    public string Deployment { get; private set; } = "";

    /// <summary>The backend answering now (set by the forwarder before the body is copied).</summary>
    public string? AnsweringBackend { get; set; }

    /// <summary>The refusal to answer instead of forwarding, if the call cannot be routed.</summary>
    public (int Status, string Code, string Message)? Refusal { get; private set; }

    /// <summary>A create: the owner of <c>previous_response_id</c> or <c>conversation</c>, when known, must serve it.</summary>
    public static ResponsesCall ForCreate(AffinityDirectory directory, in RequestInfo info, ReadOnlySpan<byte> body, DeploymentRoute route, string consumer, string accountPath)
    {
        var call = new ResponsesCall(directory, ResponsesCallKind.Create, consumer, accountPath)
        {
            Model = info.Model,
            ModelTokenStart = info.ModelTokenStart,
            ModelTokenLength = info.ModelTokenLength,
            Stores = info.Store != false,
            Deployment = route.Name,
        };
        var (start, length, isConversation) = info.PreviousResponseIdLength > 0
            ? (info.PreviousResponseIdStart, info.PreviousResponseIdLength, false)
            : (info.ConversationStart, info.ConversationLength, true);
        if (length == 0)
        {
            return call; // nothing named: balanced like chat
        }
        var id = body.Slice(start, length);
        if (!directory.TryGetOwner(id, out var owner) || owner.Consumer != consumer)
        {
            // Never seen here (it may predate the gateway), or another consumer's: ask the backends in turn; the
            // one that holds it answers, the others say "not found".
            call.SearchOnNotFound = true;
            call.NamedObject = System.Text.Encoding.UTF8.GetString(id);
            return call;
        }
        call.NamedObject = System.Text.Encoding.UTF8.GetString(id);
        call.OwnerIndex = IndexOf(route, owner.Backend);
        if (call.OwnerIndex < 0)
        {
            call.Refusal = (StatusCodes.Status400BadRequest, StatefulErrorCodes.OwnerDoesNotServeDeployment,
                $"The {(isConversation ? "conversation" : "previous response")} '{call.NamedObject}' is stored on backend '{owner.Backend}', which does not serve deployment '{route.Name}'. Continue it with a deployment that backend serves (it was made with '{owner.Deployment}').");
        }
        return call;
    }

    /// <summary>A call on a stored response by id: its owner when known, else every backend in turn.</summary>
    public static ResponsesCall ForObject(AffinityDirectory directory, ResponsesRouting routing, BackendCatalog catalog, string id, string consumer, string accountPath, out DeploymentRoute route)
    {
        var call = new ResponsesCall(directory, ResponsesCallKind.Object, consumer, accountPath) { NamedObject = id };
        if (directory.TryGetOwner(id.AsSpan(), out var owner) && catalog.Routes.TryGetValue(owner.Deployment, out var owned) && IndexOf(owned, owner.Backend) is >= 0 and var index)
        {
            if (owner.Consumer != consumer)
            {
                // Another consumer's response: answered as Azure OpenAI answers for one that does not exist.
                call.Refusal = (StatusCodes.Status404NotFound, StatefulErrorCodes.NotFound, $"Response with id '{id}' not found.");
            }
            route = owned;
            call.OwnerIndex = index;
            call.Deployment = owner.Deployment;
            return call;
        }
        route = routing.AllBackends(catalog, out call._deploymentOf);
        call.SearchOnNotFound = true;
        return call;
    }

    private static int IndexOf(DeploymentRoute route, string backend)
    {
        var candidates = route.Candidates;
        for (var i = 0; i < candidates.Length; i++)
        {
            if (string.Equals(candidates[i].Backend.Name, backend, StringComparison.Ordinal))
            {
                return i;
            }
        }
        return -1;
    }

    /// <summary>The forwarder saw a "not found" from <paramref name="backend"/> while searching.</summary>
    public void OnNotFound(string backend) => (_notFoundOn ??= []).Add(backend);

    /// <summary>
    /// The first bytes of a successful answer: a create's JSON body or its event stream. The new response's id is the
    /// first <c>"id"</c> in both; it is recorded as soon as it is read, before the caller has the bytes, so the
    /// caller's next turn finds it known (on this replica at once, on the others as soon as Redis has told them).
    /// </summary>
    public void OnBody(ReadOnlySpan<byte> bytes)
    {
        if (Kind != ResponsesCallKind.Create || !Stores || _idSeen || AnsweringBackend is null)
        {
            return;
        }
        ReadOnlySpan<byte> head;
        if (_headLength == 0 && TryReadId(bytes, out var id))
        {
            Record(id);
            return;
        }
        _head ??= ArrayPool<byte>.Shared.Rent(HeadLimit);
        var take = Math.Min(bytes.Length, HeadLimit - _headLength);
        bytes[..take].CopyTo(_head.AsSpan(_headLength));
        _headLength += take;
        head = _head.AsSpan(0, _headLength);
        if (TryReadId(head, out id))
        {
            Record(id);
        }
        else if (_headLength == HeadLimit)
        {
            _idSeen = true; // no id in the first 4 KiB: not a response body we know
        }
    }

    private void Record(ReadOnlySpan<byte> id)
    {
        _idSeen = true;
        _directory.Record(System.Text.Encoding.UTF8.GetString(id), AnsweringBackend!, Deployment, _consumer);
    }

    /// <summary>A backend answered with <paramref name="status"/>: record the owner found by a search, forget a deleted response.</summary>
    public void OnAnswered(string backend, int status, string method)
    {
        if (status is < 200 or >= 300 || NamedObject is null)
        {
            return;
        }
        if (Kind == ResponsesCallKind.Object && HttpMethods.IsDelete(method))
        {
            _directory.Forget(NamedObject);
            return;
        }
        if (SearchOnNotFound)
        {
            _directory.Record(NamedObject, backend, Deployment.Length > 0 ? Deployment : _deploymentOf?.GetValueOrDefault(backend) ?? "", _consumer);
        }
    }

    /// <summary>
    /// The owner cannot serve: 429 with its Retry-After when it is only throttled, else 503 naming why (returned as the
    /// reason no backend served). Never another backend: none holds the object, so it would answer "not found" or run
    /// a turn without its context.
    /// </summary>
    public async Task<NoBackend> WriteOwnerUnavailableAsync(HttpContext context, BackendCandidate owner, long now)
    {
        var what = Kind == ResponsesCallKind.Create ? $"'{NamedObject}' (named by this request)" : $"Response '{NamedObject}'";
        var state = owner.State;
        var at = state.AvailableAt(now, owner.Capacity);
        TimeSpan? retryAfter = at > now ? TimeSpan.FromTicks(at - now) : null;
        if (Kind == ResponsesCallKind.Create && state.IsThrottledOnly(now, owner.Capacity))
        {
            var wait = retryAfter ?? TimeSpan.FromSeconds(1);
            await GatewayErrors.WriteAsync(context, StatusCodes.Status429TooManyRequests, GatewayErrorCodes.Throttled,
                $"{what} is stored on backend '{owner.Backend.Name}', whose deployment '{Deployment}' is at its rate limit; no other backend holds it, so the request cannot run elsewhere. Please retry after {Math.Max(1, Math.Ceiling(wait.TotalSeconds))} seconds.",
                wait).ConfigureAwait(false);
            return new NoBackend(AllThrottled: true, at);
        }
        var reason = state.Circuit != Availability.CircuitState.Closed ? "its circuit is open after repeated failures"
            : state.ProbeVerdict is not HealthStatus.Healthy and not HealthStatus.Unknown ? $"the health probe reports it {state.ProbeVerdict}"
            : "it failed or did not answer";
        await GatewayErrors.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, StatefulErrorCodes.OwnerUnavailable,
            $"{what} is stored on backend '{owner.Backend.Name}', which cannot serve now ({reason}); no other backend holds it. Please retry later.",
            retryAfter).ConfigureAwait(false);
        return new NoBackend(AllThrottled: false, at);
    }

    /// <summary>A search found the object nowhere it could ask, and some backends could not be asked: say so rather than "not found".</summary>
    public Task WriteNotFoundElsewhereAsync(HttpContext context, DeploymentRoute route, NoBackend none, long now)
    {
        TimeSpan? retryAfter = none.RetryAt > now ? TimeSpan.FromTicks(none.RetryAt - now) : null;
        var asked = _notFoundOn is { Count: > 0 } ? string.Join(", ", _notFoundOn) : "none";
        var message = $"'{NamedObject}' was not found on the backends asked ({asked}); the others of '{route.Name}' cannot be asked now ({(none.AllThrottled ? "throttled" : "unavailable")}) and may hold it. Please retry later.";
        return none.AllThrottled
            ? GatewayErrors.WriteAsync(context, StatusCodes.Status429TooManyRequests, GatewayErrorCodes.Throttled, message, retryAfter ?? TimeSpan.FromSeconds(1))
            : GatewayErrors.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, StatefulErrorCodes.OwnerUnavailable, message, retryAfter);
    }

    /// <summary>Whether a "not found" was seen during a search.</summary>
    public bool SawNotFound => _notFoundOn is { Count: > 0 };

    /// <summary>Returns the pooled head buffer.</summary>
    public void Release()
    {
        if (_head is { } head)
        {
            _head = null;
            ArrayPool<byte>.Shared.Return(head);
        }
    }

    /// <summary>The value of the first <c>"id":"…"</c> member in <paramref name="json"/>, when complete.</summary>
    internal static bool TryReadId(ReadOnlySpan<byte> json, out ReadOnlySpan<byte> id)
    {
        id = default;
        var at = json.IndexOf("\"id\""u8);
        if (at < 0)
        {
            return false;
        }
        var rest = json[(at + 4)..].TrimStart(" \t\r\n"u8);
        if (rest.IsEmpty || rest[0] != (byte)':')
        {
            return false;
        }
        rest = rest[1..].TrimStart(" \t\r\n"u8);
        if (rest.IsEmpty || rest[0] != (byte)'"')
        {
            return false;
        }
        rest = rest[1..];
        var end = rest.IndexOfAny((byte)'"', (byte)'\\');
        if (end <= 0 || rest[end] != (byte)'"' || end > 256)
        {
            return false;
        }
        id = rest[..end];
        return true;
    }
}
