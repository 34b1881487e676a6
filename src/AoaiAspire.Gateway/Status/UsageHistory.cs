using AoaiAspire.Gateway.Configuration;
using AoaiAspire.Gateway.Tokens;

namespace AoaiAspire.Gateway.Status;

/// <summary>Requests, tokens and throttles in one interval, per backend or per consumer.</summary>
internal readonly record struct UsageDelta(long Requests, long Tokens, long Throttles);

/// <summary>One interval of <see cref="UsageHistory"/>: what happened between the previous sample and <see cref="At"/> (UTC ticks).</summary>
internal sealed record UsageSample(long At, IReadOnlyDictionary<string, UsageDelta> Backends, IReadOnlyDictionary<string, UsageDelta> Consumers);

/// <summary>
/// The last <see cref="Length"/> intervals of <see cref="Interval"/> each (10 minutes), for the status page's charts.
/// A timer diffs the <see cref="UsageLedger"/> totals and the backends' throttle counters: nothing is added to
/// the request path, and the cost is one walk of the ledger every few seconds.
/// </summary>
internal sealed partial class UsageHistory : IDisposable
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);
    public const int Length = 120;

    private readonly UsageLedger _ledger;
    private readonly BackendRegistry _registry;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly UsageSample?[] _ring = new UsageSample?[Length];
    private long _count;
    private Dictionary<string, UsageDelta> _lastBackends = new(StringComparer.OrdinalIgnoreCase);
    private Dictionary<string, UsageDelta> _lastConsumers = new(StringComparer.OrdinalIgnoreCase);
    private readonly ILogger<UsageHistory> _logger;
    private ITimer? _timer;

    public UsageHistory(UsageLedger ledger, BackendRegistry registry, TimeProvider time, ILogger<UsageHistory> logger)
    {
        _ledger = ledger;
        _registry = registry;
        _time = time;
        _logger = logger;
    }

    /// <summary>Takes the baseline and samples every <see cref="Interval"/> from now on.</summary>
    public void Start()
    {
        TakeBaseline();
        _timer = _time.CreateTimer(static s => ((UsageHistory)s!).OnTimer(), this, Interval, Interval);
    }

    /// <summary>What happened before now is not in the first interval.</summary>
    internal void TakeBaseline()
    {
        lock (_lock)
        {
            (_lastBackends, _lastConsumers) = Totals();
        }
    }

    private void OnTimer()
    {
        try
        {
            Sample();
        }
        catch (Exception ex)
        {
            // A chart missing a column is better than a process brought down by a timer callback.
            LogSampleFailed(_logger, ex);
        }
    }

    /// <summary>Records the interval that ends now. Called by the timer; tests call it directly.</summary>
    internal void Sample()
    {
        lock (_lock)
        {
            var (backends, consumers) = Totals();
            var sample = new UsageSample(_time.GetUtcNow().UtcTicks, Diff(backends, _lastBackends), Diff(consumers, _lastConsumers));
            _lastBackends = backends;
            _lastConsumers = consumers;
            _ring[_count % Length] = sample;
            _count++;
        }
    }

    /// <summary>The retained samples, oldest first.</summary>
    public UsageSample[] Snapshot()
    {
        lock (_lock)
        {
            var n = (int)Math.Min(_count, Length);
            var result = new UsageSample[n];
            for (var i = 0; i < n; i++)
            {
                result[i] = _ring[(_count - n + i) % Length]!;
            }
            return result;
        }
    }

    /// <summary>The retained samples as columns, one series per backend and per consumer (names sorted).</summary>
    public UsageHistoryReport Report(DateTimeOffset now)
    {
        var samples = Snapshot();
        return new UsageHistoryReport(
            now,
            (int)Interval.TotalSeconds,
            [.. samples.Select(s => new DateTimeOffset(s.At, TimeSpan.Zero))],
            Series(samples, s => s.Backends),
            Series(samples, s => s.Consumers));
    }

    private static SeriesReport[] Series(UsageSample[] samples, Func<UsageSample, IReadOnlyDictionary<string, UsageDelta>> select)
    {
        var names = samples.SelectMany(s => select(s).Keys).Distinct(StringComparer.OrdinalIgnoreCase).Order(StringComparer.Ordinal);
        return [.. names.Select(name =>
        {
            var deltas = samples.Select(s => select(s).GetValueOrDefault(name)).ToArray();
            return new SeriesReport(name, [.. deltas.Select(d => d.Requests)], [.. deltas.Select(d => d.Tokens)], [.. deltas.Select(d => d.Throttles)]);
        })];
    }

    /// <summary>Totals since start: answered requests and tokens from the ledger, throttles from the backends' state.</summary>
    private (Dictionary<string, UsageDelta> Backends, Dictionary<string, UsageDelta> Consumers) Totals()
    {
        var backends = new Dictionary<string, UsageDelta>(StringComparer.OrdinalIgnoreCase);
        var consumers = new Dictionary<string, UsageDelta>(StringComparer.OrdinalIgnoreCase);
        foreach (var state in _registry.Catalog.Backends)
        {
            backends[state.Name] = new UsageDelta(0, 0, state.Throttles);
        }
        foreach (var (key, counters) in _ledger.Snapshot())
        {
            var requests = counters.Requests;
            var tokens = counters.PromptTokens + counters.CompletionTokens;
            var b = backends.GetValueOrDefault(key.Backend);
            backends[key.Backend] = b with { Requests = b.Requests + requests, Tokens = b.Tokens + tokens };
            var c = consumers.GetValueOrDefault(key.Consumer);
            consumers[key.Consumer] = c with { Requests = c.Requests + requests, Tokens = c.Tokens + tokens };
        }
        return (backends, consumers);
    }

    private static Dictionary<string, UsageDelta> Diff(Dictionary<string, UsageDelta> now, Dictionary<string, UsageDelta> before)
    {
        var result = new Dictionary<string, UsageDelta>(now.Count, StringComparer.OrdinalIgnoreCase);
        foreach (var (name, total) in now)
        {
            var last = before.GetValueOrDefault(name);
            // Max(0, …): a counter that starts again (a backend the configuration dropped and brought back) never shows as negative.
            result[name] = new UsageDelta(
                Math.Max(0, total.Requests - last.Requests), Math.Max(0, total.Tokens - last.Tokens), Math.Max(0, total.Throttles - last.Throttles));
        }
        return result;
    }

    public void Dispose() => _timer?.Dispose();

    [LoggerMessage(1803, LogLevel.Warning, "Usage sample for the status page failed; the interval is skipped.")]
    private static partial void LogSampleFailed(ILogger logger, Exception exception);
}
