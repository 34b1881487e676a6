using System.Diagnostics;
using System.Diagnostics.Metrics;
using AoaiAspire.Gateway.Telemetry;

namespace AoaiAspire.Gateway.Realtime;

/// <summary>How a realtime session ended (values of <see cref="RealtimeTelemetry.EndReason"/>).</summary>
internal static class RealtimeEndReasons
{
    public const string ClosedByCaller = "closed_by_caller";
    public const string ClosedByBackend = "closed_by_backend";
    public const string CallerGone = "caller_gone";
    public const string BackendGone = "backend_gone";
    public const string MessageTooBig = "message_too_big";
    public const string Shutdown = "shutdown";
}

/// <summary>
/// Realtime metrics on the gateway's meter: sessions, their duration and the messages relayed. Tokens go to
/// <c>gen_ai.client.token.usage</c> with operation <c>realtime</c> through <see cref="GatewayTelemetry.RequestEnded"/>.
/// </summary>
internal sealed class RealtimeTelemetry
{
    public const string Sessions = "aoai.gateway.realtime.sessions";
    public const string SessionDuration = "aoai.gateway.realtime.session.duration";
    public const string Messages = "aoai.gateway.realtime.messages";
    public const string ActiveSessions = "aoai.gateway.realtime.active_sessions";
    public const string EndReason = "aoai.realtime.end_reason";
    public const string Direction = "aoai.realtime.direction";
    public const string MessagesToBackend = "aoai.realtime.messages_to_backend";
    public const string MessagesToCaller = "aoai.realtime.messages_to_caller";

    private readonly Counter<long> _sessions;
    private readonly Histogram<double> _duration;
    private readonly Counter<long> _messages;

    public RealtimeTelemetry(IMeterFactory meterFactory, RealtimeSessionLimit limit)
    {
        var meter = meterFactory.Create(TelemetryNames.Meter);
        _sessions = meter.CreateCounter<long>(Sessions, "{session}", "Realtime sessions relayed, by how they ended.");
        _duration = meter.CreateHistogram<double>(SessionDuration, "s", "Duration of a realtime session, from the upgrade to the close.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600] });
        _messages = meter.CreateCounter<long>(Messages, "{message}", "Realtime messages relayed, by direction.");
        meter.CreateObservableGauge(ActiveSessions, () => limit.Open, "{session}", "Realtime sessions open now in this replica.");
    }

    public void SessionEnded(Activity? server, string deployment, string backend, string consumer, string reason, TimeSpan duration, long toBackend, long toCaller)
    {
        var tags = new TagList
        {
            { TelemetryNames.RequestModel, deployment },
            { TelemetryNames.Backend, backend },
            { TelemetryNames.Consumer, consumer },
            { EndReason, reason },
        };
        _sessions.Add(1, tags);
        _duration.Record(duration.TotalSeconds, tags);
        var messageTags = new TagList { { TelemetryNames.RequestModel, deployment }, { TelemetryNames.Backend, backend }, { Direction, "to_backend" } };
        _messages.Add(toBackend, messageTags);
        messageTags[2] = new KeyValuePair<string, object?>(Direction, "to_caller");
        _messages.Add(toCaller, messageTags);
        if (server is not null)
        {
            server.SetTag(EndReason, reason);
            server.SetTag(MessagesToBackend, toBackend);
            server.SetTag(MessagesToCaller, toCaller);
        }
    }
}

/// <summary>The replica's count of open realtime sessions against <see cref="RealtimeOptions.MaxConcurrentSessions"/>.</summary>
internal sealed class RealtimeSessionLimit
{
    private int _open;

    public int Open => Volatile.Read(ref _open);

    public bool TryEnter(int max)
    {
        if (Interlocked.Increment(ref _open) > max)
        {
            Interlocked.Decrement(ref _open);
            return false;
        }
        return true;
    }

    public void Exit() => Interlocked.Decrement(ref _open);
}
