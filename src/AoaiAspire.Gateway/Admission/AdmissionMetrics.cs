using System.Diagnostics;
using System.Diagnostics.Metrics;
using AoaiAspire.Gateway.Telemetry;

namespace AoaiAspire.Gateway.Admission;

/// <summary>
/// The admission queue's metrics, on the gateway's meter: how many requests wait per class (a gauge read when
/// collected), how long they waited and how it ended, and refusals of a full queue. Recorded only by requests that waited.
/// </summary>
internal sealed class AdmissionMetrics
{
    private readonly Histogram<double> _wait;
    private readonly Counter<long> _refused;
    private AdmissionQueue? _queue;

    public AdmissionMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(TelemetryNames.Meter);
        _wait = meter.CreateHistogram<double>(TelemetryNames.AdmissionWait, "s", "Time a request waited in the admission queue, by priority class and how the wait ended.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120] });
        _refused = meter.CreateCounter<long>(TelemetryNames.AdmissionRefused, "{request}", "Requests that could have waited but were answered at once (queue full).");
        meter.CreateObservableGauge(TelemetryNames.AdmissionQueueLength, Observe, "{request}", "Requests waiting in the admission queue, by priority class.");
    }

    public void Observe(AdmissionQueue queue) => _queue = queue;

    public void Waited(PriorityClass priorityClass, WaitOutcome outcome, TimeSpan waited)
        => _wait.Record(waited.TotalSeconds, new TagList { { TelemetryNames.PriorityClass, priorityClass.Name }, { TelemetryNames.Outcome, OutcomeName(outcome) } });

    public void Refused(PriorityClass priorityClass, string reason)
        => _refused.Add(1, new TagList { { TelemetryNames.PriorityClass, priorityClass.Name }, { TelemetryNames.RejectReason, reason } });

    public static string OutcomeName(WaitOutcome outcome) => outcome switch
    {
        WaitOutcome.Granted => "served",
        WaitOutcome.TimedOut => "timed_out",
        WaitOutcome.ShuttingDown => "shutdown",
        _ => "caller_gone",
    };

    private IEnumerable<Measurement<int>> Observe()
    {
        if (_queue is not { } queue)
        {
            yield break;
        }
        foreach (var priorityClass in queue.Classes)
        {
            yield return new Measurement<int>(queue.QueuedIn(priorityClass), new KeyValuePair<string, object?>(TelemetryNames.PriorityClass, priorityClass.Name));
        }
    }
}
