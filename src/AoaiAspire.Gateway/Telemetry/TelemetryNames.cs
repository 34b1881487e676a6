namespace AoaiAspire.Gateway.Telemetry;

/// <summary>
/// Every metric, span and attribute name the gateway emits, declared once (README "Telemetry" lists them).
/// OpenTelemetry's GenAI semantic conventions where they fit; <c>aoai.*</c> for the gateway's own.
/// </summary>
internal static class TelemetryNames
{
    public const string Meter = "AoaiAspire.Gateway";
    public const string ActivitySource = "AoaiAspire.Gateway";

    // Metrics (GenAI conventions).
    public const string TokenUsage = "gen_ai.client.token.usage";
    public const string OperationDuration = "gen_ai.client.operation.duration";

    // Metrics (the gateway's own).
    public const string Attempts = "aoai.gateway.attempts";
    public const string Retries = "aoai.gateway.retries";
    public const string UpstreamThrottles = "aoai.gateway.upstream.throttles";
    public const string CircuitOpenings = "aoai.gateway.circuit.openings";
    public const string Rejected = "aoai.gateway.rejected";
    public const string TimeToFirstChunk = "aoai.gateway.time_to_first_chunk";
    public const string AddedLatency = "aoai.gateway.added_latency";
    public const string BackendStateChanges = "aoai.gateway.backend.state_changes";
    public const string AdmissionQueueLength = "aoai.gateway.admission.queue_length";
    public const string AdmissionWait = "aoai.gateway.admission.wait";
    public const string AdmissionRefused = "aoai.gateway.admission.refused";
    public const string Hedges = "aoai.gateway.hedges";
    public const string HedgeExtraTokens = "aoai.gateway.hedge.extra_tokens";

    // Span names.
    public const string AttemptSpan = "aoai.attempt";

    // Attributes.
    public const string OperationName = "gen_ai.operation.name";
    public const string RequestModel = "gen_ai.request.model";
    public const string System = "gen_ai.system";
    public const string TokenType = "gen_ai.token.type";
    public const string InputTokens = "gen_ai.usage.input_tokens";
    public const string OutputTokens = "gen_ai.usage.output_tokens";
    public const string Backend = "aoai.backend";
    public const string Region = "aoai.region";
    public const string Consumer = "aoai.consumer";
    public const string Outcome = "aoai.outcome";
    public const string RetryReason = "aoai.retry.reason";
    public const string RejectReason = "aoai.reject.reason";
    public const string Attempt = "aoai.attempt";
    public const string StateChange = "aoai.state_change";
    /// <summary>Who saw a backend state change: <c>local</c>, <c>peer</c> (another replica) or <c>probe</c>.</summary>
    public const string StateSource = "aoai.state_source";
    /// <summary>A consumer's priority class in the admission queue (<c>Gateway:Admission:Classes</c>).</summary>
    public const string PriorityClass = "aoai.priority_class";
    /// <summary>How a due hedge ended: <c>hedge_won</c>, <c>first_won</c>, <c>both_failed</c>, <c>no_budget</c>, <c>no_backend</c>.</summary>
    public const string HedgeOutcome = "aoai.hedge.outcome";
    public const string ResponseStatus = "http.response.status_code";
    public const string ServerAddress = "server.address";
    public const string ErrorType = "error.type";

    /// <summary><c>gen_ai.system</c> value.</summary>
    public const string SystemValue = "az.ai.openai";
}

/// <summary>How an upstream attempt ended (values of <see cref="TelemetryNames.Outcome"/>).</summary>
internal static class AttemptOutcomes
{
    public const string Success = "success";
    public const string CallerError = "caller_error";
    public const string Throttled = "throttled";
    public const string ServerError = "server_error";
    public const string BackendMisconfigured = "backend_misconfigured";
    public const string Timeout = "timeout";
    /// <summary>A streaming attempt whose first byte did not come within its adaptive deadline (Gateway:Upstream:StreamFirstByte); the next backend was tried.</summary>
    public const string FirstByteDeadline = "first_byte_deadline";
    public const string ConnectionFailure = "connection_failure";
    public const string AuthUnavailable = "auth_unavailable";
    public const string CallerGone = "caller_gone";
    /// <summary>A hedged attempt cancelled because the other attempt of the pair produced the first byte.</summary>
    public const string HedgeLost = "hedge_lost";
    public const string BodyFailed = "body_failed";
}
