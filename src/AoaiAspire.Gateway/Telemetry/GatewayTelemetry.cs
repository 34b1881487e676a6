using System.Diagnostics;
using System.Diagnostics.Metrics;
using AoaiAspire.Gateway.Availability;

namespace AoaiAspire.Gateway.Telemetry;

/// <summary>
/// The gateway's metrics and spans. Instruments cost nothing measurable when nobody listens; tags go in
/// <see cref="TagList"/> (no allocation up to eight). Keys, tokens and prompt text never appear here.
/// </summary>
internal sealed class GatewayTelemetry : IDisposable
{
    public static readonly ActivitySource Source = new(TelemetryNames.ActivitySource);

    private readonly Meter _meter;
    private readonly Histogram<long> _tokenUsage;
    private readonly Histogram<double> _duration;
    private readonly Counter<long> _attempts;
    private readonly Counter<long> _retries;
    private readonly Counter<long> _throttles;
    private readonly Counter<long> _circuitOpenings;
    private readonly Counter<long> _rejected;
    private readonly Histogram<double> _timeToFirstChunk;
    private readonly Histogram<double> _addedLatency;
    private readonly Counter<long> _stateChanges;

    public GatewayTelemetry(IMeterFactory meterFactory, BackendStateUpdater updater)
    {
        _meter = meterFactory.Create(TelemetryNames.Meter);
        _tokenUsage = _meter.CreateHistogram<long>(TelemetryNames.TokenUsage, "{token}", "Tokens used per request, by input and output.",
            advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576] });
        _duration = _meter.CreateHistogram<double>(TelemetryNames.OperationDuration, "s", "Duration of a caller's request, through every attempt.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92] });
        _attempts = _meter.CreateCounter<long>(TelemetryNames.Attempts, "{attempt}", "Upstream attempts by backend and outcome.");
        _retries = _meter.CreateCounter<long>(TelemetryNames.Retries, "{retry}", "Attempts that were followed by another, by reason.");
        _throttles = _meter.CreateCounter<long>(TelemetryNames.UpstreamThrottles, "{response}", "429 responses from backends.");
        _circuitOpenings = _meter.CreateCounter<long>(TelemetryNames.CircuitOpenings, "{opening}", "Circuit openings by backend.");
        _rejected = _meter.CreateCounter<long>(TelemetryNames.Rejected, "{request}", "Requests the gateway answered itself with an error, by reason.");
        _timeToFirstChunk = _meter.CreateHistogram<double>(TelemetryNames.TimeToFirstChunk, "s", "From a streaming request's arrival to its first byte to the caller.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12] });
        _addedLatency = _meter.CreateHistogram<double>(TelemetryNames.AddedLatency, "s", "Time a request spent in the gateway outside upstream calls.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1] });
        _stateChanges = _meter.CreateCounter<long>(TelemetryNames.BackendStateChanges, "{change}", "Backend state changes (throttled, circuit, probe verdict).");
        _updater = updater;
        updater.Changed += OnStateChange;
    }

    private void OnStateChange(BackendStateChange change)
    {
        var kind = change.Kind switch
        {
            BackendStateChangeKind.Throttled => "throttled",
            BackendStateChangeKind.CircuitOpened => "circuit_opened",
            BackendStateChangeKind.CircuitClosed => "circuit_closed",
            _ => "probe_verdict",
        };
        _stateChanges.Add(1, new TagList { { TelemetryNames.Backend, change.Backend }, { TelemetryNames.StateChange, kind }, { TelemetryNames.StateSource, SourceName(change.Source) } });
        if (change.Kind == BackendStateChangeKind.CircuitOpened && change.Source == BackendStateChangeSource.Local)
        {
            _circuitOpenings.Add(1, new TagList { { TelemetryNames.Backend, change.Backend } });
        }
    }

    /// <summary>The value of <see cref="TelemetryNames.StateSource"/> (and of the status page's <c>source</c>).</summary>
    public static string SourceName(BackendStateChangeSource source) => source switch
    {
        BackendStateChangeSource.Local => "local",
        BackendStateChangeSource.Peer => "peer",
        _ => "probe",
    };

    public static string OperationName(string operation) => operation switch
    {
        "chat/completions" => "chat",
        "completions" => "text_completion",
        "embeddings" => "embeddings",
        _ => operation,
    };

    public Activity? StartAttempt(string operation, string deployment, string backend, string region, string host, int attempt)
    {
        if (!Source.HasListeners())
        {
            return null;
        }
        var activity = Source.StartActivity(TelemetryNames.AttemptSpan, ActivityKind.Client);
        if (activity is not null)
        {
            activity.DisplayName = $"{OperationName(operation)} {deployment} {backend}";
            activity.SetTag(TelemetryNames.OperationName, OperationName(operation));
            activity.SetTag(TelemetryNames.System, TelemetryNames.SystemValue);
            activity.SetTag(TelemetryNames.RequestModel, deployment);
            activity.SetTag(TelemetryNames.Backend, backend);
            activity.SetTag(TelemetryNames.Region, region);
            activity.SetTag(TelemetryNames.ServerAddress, host);
            activity.SetTag(TelemetryNames.Attempt, attempt);
        }
        return activity;
    }

    public void AttemptEnded(Activity? activity, string backend, string outcome, int status, bool retried)
    {
        _attempts.Add(1, new TagList { { TelemetryNames.Backend, backend }, { TelemetryNames.Outcome, outcome } });
        if (outcome == AttemptOutcomes.Throttled)
        {
            _throttles.Add(1, new TagList { { TelemetryNames.Backend, backend } });
        }
        if (retried)
        {
            _retries.Add(1, new TagList { { TelemetryNames.Backend, backend }, { TelemetryNames.RetryReason, outcome } });
        }
        if (activity is not null)
        {
            activity.SetTag(TelemetryNames.Outcome, outcome);
            if (status > 0)
            {
                activity.SetTag(TelemetryNames.ResponseStatus, status);
            }
            if (retried)
            {
                activity.SetTag(TelemetryNames.RetryReason, outcome);
            }
            if (outcome is not (AttemptOutcomes.Success or AttemptOutcomes.CallerError))
            {
                activity.SetStatus(ActivityStatusCode.Error);
                activity.SetTag(TelemetryNames.ErrorType, outcome);
            }
        }
    }

    public void Rejected(string reason, string? deployment = null)
        => _rejected.Add(1, new TagList { { TelemetryNames.RejectReason, reason }, { TelemetryNames.RequestModel, deployment } });

    /// <summary>A caller's request has ended: its duration, tokens and the gateway's own share of the time.</summary>
    public void RequestEnded(Activity? server, string operation, string deployment, string? backend, string consumer, int status, long inputTokens, long outputTokens, TimeSpan duration, TimeSpan upstream)
    {
        var op = OperationName(operation);
        var tags = new TagList
        {
            { TelemetryNames.OperationName, op },
            { TelemetryNames.RequestModel, deployment },
            { TelemetryNames.Backend, backend },
            { TelemetryNames.Consumer, consumer },
            { TelemetryNames.ResponseStatus, status },
        };
        _duration.Record(duration.TotalSeconds, tags);
        if (inputTokens > 0 || outputTokens > 0)
        {
            var tokenTags = new TagList
            {
                { TelemetryNames.OperationName, op },
                { TelemetryNames.RequestModel, deployment },
                { TelemetryNames.Backend, backend },
                { TelemetryNames.Consumer, consumer },
                { TelemetryNames.TokenType, "input" },
            };
            _tokenUsage.Record(inputTokens, tokenTags);
            if (outputTokens > 0)
            {
                tokenTags[4] = new KeyValuePair<string, object?>(TelemetryNames.TokenType, "output");
                _tokenUsage.Record(outputTokens, tokenTags);
            }
        }
        var added = duration - upstream;
        if (added >= TimeSpan.Zero)
        {
            _addedLatency.Record(added.TotalSeconds, new TagList { { TelemetryNames.OperationName, op }, { TelemetryNames.RequestModel, deployment } });
        }
        // Only an activity a listener asked for keeps tags: ASP.NET Core also starts one for its own logging, which
        // no one records (its source is the unnamed default one), and tagging it costs a node and a box per tag.
        if (server is { IsAllDataRequested: true } && server.Source.Name.Length > 0)
        {
            server.SetTag(TelemetryNames.OperationName, op);
            server.SetTag(TelemetryNames.RequestModel, deployment);
            server.SetTag(TelemetryNames.Consumer, consumer);
            if (backend is not null)
            {
                server.SetTag(TelemetryNames.Backend, backend);
            }
            if (inputTokens > 0 || outputTokens > 0)
            {
                server.SetTag(TelemetryNames.InputTokens, inputTokens);
                server.SetTag(TelemetryNames.OutputTokens, outputTokens);
            }
        }
    }

    public void FirstChunk(string deployment, string backend, TimeSpan sinceArrival)
        => _timeToFirstChunk.Record(sinceArrival.TotalSeconds, new TagList { { TelemetryNames.RequestModel, deployment }, { TelemetryNames.Backend, backend } });

    private readonly BackendStateUpdater _updater;

    // The meter belongs to the IMeterFactory, which disposes it.
    public void Dispose() => _updater.Changed -= OnStateChange;
}
