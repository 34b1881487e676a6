using System.Collections.Concurrent;
using System.Collections.Frozen;
using System.Globalization;
using AoaiAspire.Gateway.Configuration;
using AoaiAspire.Gateway.Availability;
using AoaiAspire.Gateway.LoadBalancing;
using Microsoft.Extensions.Options;

namespace AoaiAspire.Gateway.Admission;

/// <summary>
/// This replica's admission queue: a request that no backend can take right now, but one will within the caller's
/// patience, waits here instead of getting a 429, and is dispatched as capacity returns (README "Admission").
/// </summary>
/// <remarks>
/// The forwarder's use of it, per request:
/// 1. <see cref="Excluded"/>: the candidates the caller's class may never use (a mask; 0 without exclusions);
/// 2. <see cref="MustWaitBehind"/>: a request that may wait, arriving while requests of its class or a higher one wait
///    for the same deployment, joins them instead of overtaking them;
/// 3. when its attempts find no backend, <see cref="CreateWaiter"/> and <see cref="TryEnqueue"/>: it waits if the
///    soonest end of a throttle or break is within its patience and the queue has room, else it gets today's answer;
/// 4. once granted, <see cref="Selected"/> after its selection, <see cref="DeploymentQueue.Dispatched"/> after its
///    attempt, and <see cref="Leave"/> at the end.
/// A request that never waits reads two fields here (the queue's count, its class's exclusions) and allocates nothing.
/// </remarks>
internal sealed partial class AdmissionQueue : IDisposable
{
    /// <summary>The header a caller lowers its patience with, in milliseconds (it cannot raise it).</summary>
    public const string MaxWaitHeader = "x-aoai-max-wait-ms";

    private readonly ConcurrentDictionary<string, DeploymentQueue> _deployments = new(StringComparer.OrdinalIgnoreCase);
    private readonly FrozenDictionary<string, PriorityClass> _byName;
    private readonly PriorityClass _default;
    private readonly bool _anyExclusions;
    private readonly bool _reserving;
    private readonly BackendRegistry _registry;
    private readonly BackendStateUpdater _updater;
    private readonly Random _random;
    private readonly ILogger<AdmissionQueue> _logger;
    private readonly long _jitterTicks;
    private readonly int[] _queuedPerClass;
    private readonly ClassCounters[] _counters;
    private int _queued;
    private volatile bool _stopping;

    public AdmissionQueue(IOptions<AdmissionOptions> options, BackendRegistry registry, BackendStateUpdater updater,
        AdmissionMetrics metrics, TimeProvider time, ILogger<AdmissionQueue> logger, Random? random = null)
    {
        var admission = options.Value;
        Options = admission;
        Time = time;
        Metrics = metrics;
        _registry = registry;
        _updater = updater;
        _random = random ?? Random.Shared;
        _logger = logger;
        _jitterTicks = admission.WakeJitter.Ticks;
        Classes = [.. admission.EffectiveClasses.OrderBy(c => c.Value.Order).Select((c, i) => new PriorityClass(c.Key, c.Value.Order, i, [.. c.Value.ExcludedPriorityGroups.Distinct()], c.Value.ReserveFactor))];
        if (Classes.Count > 64)
        {
            throw new OptionsValidationException(AdmissionOptions.SectionName, typeof(AdmissionOptions), [$"{AdmissionOptions.SectionName}:Classes holds {Classes.Count} classes; at most 64."]);
        }
        _byName = Classes.ToFrozenDictionary(c => c.Name, StringComparer.OrdinalIgnoreCase);
        _default = _byName.GetValueOrDefault(admission.DefaultClass) ?? Classes[0];
        _anyExclusions = Classes.Any(c => c.ExcludedPriorityGroups.Length > 0);
        // Keeping capacity back needs a class that asks for it above one that must leave it.
        _reserving = Classes.Take(Classes.Count - 1).Any(c => c.ReserveFactor > 0);
        _queuedPerClass = new int[Classes.Count];
        _counters = [.. Classes.Select(_ => new ClassCounters())];
        updater.Changed += OnBackendStateChanged;
        metrics.Observe(this);
    }

    public AdmissionOptions Options { get; }
    public TimeProvider Time { get; }
    public AdmissionMetrics Metrics { get; }

    /// <summary>The classes in dispatch order.</summary>
    public IReadOnlyList<PriorityClass> Classes { get; }

    /// <summary>Requests waiting on this replica, all deployments.</summary>
    public int Queued => Volatile.Read(ref _queued);

    public long Now => _updater.Now;

    /// <summary>The class of a consumer's <c>Priority</c>; the default class for none (or one a reload removed).</summary>
    public PriorityClass ClassOf(string? name) => name is null ? _default : _byName.GetValueOrDefault(name) ?? _default;

    /// <summary>Step 1: the candidates of <paramref name="route"/> the class <paramref name="className"/> may not use (0 when none).</summary>
    public ulong Excluded(DeploymentRoute route, string? className) => _anyExclusions ? ClassOf(className).Excluded(route) : 0;

    /// <inheritdoc cref="Excluded(DeploymentRoute, string?)"/>
    public ulong Excluded(DeploymentRoute route, PriorityClass priorityClass) => _anyExclusions ? priorityClass.Excluded(route) : 0;

    /// <summary>
    /// Step 0, every request: its estimated tokens count toward its class's demand on the deployment, which sizes what
    /// lower classes leave of each backend's minute (<see cref="Reserved(DeploymentRoute, PriorityClass)"/>). Nothing happens without a reserving class
    /// above a lower one, or for the lowest class.
    /// </summary>
    public void RecordDemand(DeploymentRoute route, PriorityClass priorityClass, long estimatedTokens)
    {
        if (!_reserving || estimatedTokens <= 0)
        {
            return;
        }
        var index = priorityClass.Index;
        if (index == Classes.Count - 1)
        {
            return;
        }
        var demand = route.Demand ?? Interlocked.CompareExchange(ref route.Demand, new ClassDemand(Classes.Count), null) ?? route.Demand!;
        demand.Add(index, estimatedTokens, Now);
    }

    /// <summary>
    /// Step 1b, each round of attempts: the candidates the class <paramref name="priorityClass"/> must leave alone for now,
    /// because what they have left of their current token minute (<see cref="DeploymentCapacity.RemainingTokens"/>) is
    /// below what the classes above it will need until it ends: their demand per second (<see cref="ClassDemand"/>),
    /// each times its <c>ReserveFactor</c>, times the time left in that backend's minute, shared evenly by the backends.
    /// A backend whose minute or remaining tokens are unknown is never held back. None for the first class.
    /// </summary>
    /// <remarks>
    /// As the minute runs out, the share kept back shrinks with it, so by its end lower classes may have all that is
    /// left: nothing is wasted when the higher classes ask for less than was kept. <see cref="Reservation.Until"/> is
    /// when the first held-back backend's share will have shrunk to what it has left (or, with nothing left, its reset).
    /// </remarks>
    public Reservation Reserved(DeploymentRoute route, PriorityClass priorityClass)
        => _reserving && priorityClass.Index > 0 && route.Demand is not null ? Reserved(route, priorityClass, Now) : default;

    /// <summary>The same at <paramref name="now"/> (dispatch, which has read the clock already).</summary>
    internal Reservation Reserved(DeploymentRoute route, PriorityClass priorityClass, long now)
    {
        var index = priorityClass.Index;
        if (!_reserving || index == 0 || route.Demand is not { } demand)
        {
            return default;
        }
        double above = 0;
        for (var i = 0; i < index; i++)
        {
            var factor = Classes[i].ReserveFactor;
            if (factor > 0)
            {
                above += factor * demand.PerTick(i, now);
            }
        }
        if (above <= 0)
        {
            return default;
        }
        var candidates = route.Candidates;
        var share = above / candidates.Length;
        ulong mask = 0;
        var until = long.MaxValue;
        for (var i = 0; i < candidates.Length; i++)
        {
            var capacity = candidates[i].Capacity;
            var end = capacity.WindowEndsAt(now);
            var left = end == 0 ? -1 : capacity.RemainingTokens(now);
            if (left < 0 || left >= share * (end - now))
            {
                continue;
            }
            mask |= 1UL << i;
            var free = left <= 0 ? end : end - (long)(left / share);
            until = Math.Min(until, Math.Max(free, now + 1));
        }
        return mask == 0 ? default : new Reservation(mask, until);
    }

    /// <summary>Step 2: are requests of this class or a higher one waiting for this deployment? Lock-free; false at once when nothing waits.</summary>
    public bool MustWaitBehind(DeploymentRoute route, string? className)
        => Volatile.Read(ref _queued) != 0 && _deployments.TryGetValue(route.Name, out var queue) && queue.HasWaitersAtOrBefore(ClassOf(className).Index);

    /// <inheritdoc cref="MustWaitBehind(DeploymentRoute, string?)"/>
    public bool MustWaitBehind(DeploymentRoute route, PriorityClass priorityClass)
        => Volatile.Read(ref _queued) != 0 && _deployments.TryGetValue(route.Name, out var queue) && queue.HasWaitersAtOrBefore(priorityClass.Index);

    /// <summary>
    /// Step 3: a waiter for the request, or null when the caller's patience (its consumer's <c>MaxQueueWait</c>, lowered by
    /// <see cref="MaxWaitHeader"/>) is zero. Registers the caller's cancellation, which takes it out of the queue at once.
    /// </summary>
    public WaitingRequest? CreateWaiter(HttpContext context, DeploymentRoute route, string consumer, string? className, TimeSpan patience, long estimatedTokens)
    {
        if (context.Request.Headers.TryGetValue(MaxWaitHeader, out var header) && header.Count > 0)
        {
            // Only lower: a value that does not parse counts as 0, never as "no limit".
            var asked = long.TryParse(header[0], NumberStyles.None, CultureInfo.InvariantCulture, out var ms) ? TimeSpan.FromMilliseconds(Math.Min(ms, (long)patience.TotalMilliseconds)) : TimeSpan.Zero;
            patience = asked < patience ? asked : patience;
        }
        if (patience <= TimeSpan.Zero || Options.QueueLimit == 0)
        {
            return null;
        }
        var queue = _deployments.GetOrAdd(route.Name, static (name, owner) => new DeploymentQueue(name, owner), this);
        var waiter = new WaitingRequest(consumer, ClassOf(className), estimatedTokens, Now + patience.Ticks, queue);
        waiter.Aborted = context.RequestAborted.Register(static state => End((WaitingRequest)state!, WaitOutcome.CallerGone), waiter);
        return waiter;
    }

    /// <summary>
    /// Step 3, continued: queues <paramref name="waiter"/> when it may wait: the queue has room, its patience is not spent, and
    /// (when <paramref name="none"/> is given) the soonest known end of what keeps the backends out comes within it.
    /// False: the caller gets the answer it would have had without a queue.
    /// </summary>
    public bool TryEnqueue(WaitingRequest waiter, HttpContext context, NoBackend? none)
    {
        var now = Now;
        if (_stopping || waiter.RefusedFull || context.RequestAborted.IsCancellationRequested || waiter.Deadline <= now)
        {
            return false;
        }
        if (none is { } nothing && (nothing.RetryAt <= now || nothing.RetryAt > waiter.Deadline))
        {
            return false; // no known end, or none within the caller's patience: waiting would only delay the same answer
        }
        // Checked, not reserved: callers queueing at the same instant may pass it together (by as many as there are).
        if (Volatile.Read(ref _queued) >= Options.QueueLimit)
        {
            waiter.RefusedFull = true; // counted once: the request gets today's answer, not a second try at a full queue
            var full = _counters[waiter.Class.Index];
            lock (full)
            {
                full.QueueFull++;
            }
            Metrics.Refused(waiter.Class, "queue_full");
            Log.QueueFull(_logger, waiter.Queue.Deployment, Options.QueueLimit);
            return false;
        }
        if (waiter.FirstQueuedAt == 0)
        {
            waiter.FirstQueuedAt = Time.GetTimestamp();
            waiter.Timer = Time.CreateTimer(static state => End((WaitingRequest)state!, WaitOutcome.TimedOut), waiter, TimeSpan.FromTicks(waiter.Deadline - now), Timeout.InfiniteTimeSpan);
        }
        return waiter.Queue.Enqueue(waiter, front: waiter.WasGranted);
    }

    /// <summary>
    /// Step 4: a granted request has selected: with no backend (it will wait again) or no <c>DispatchHold</c>, the next
    /// waiting request may go now; else once this one is answered (<see cref="DeploymentQueue.Dispatched"/> after its
    /// attempt) or the hold has passed, whichever comes first.
    /// </summary>
    public void Selected(WaitingRequest waiter, bool picked)
    {
        var hold = Options.DispatchHold;
        if (!picked || hold <= TimeSpan.Zero)
        {
            waiter.Queue.Dispatched(waiter);
            return;
        }
        if (waiter.HoldTimer is { } timer)
        {
            timer.Change(hold, Timeout.InfiniteTimeSpan);
        }
        else
        {
            waiter.HoldTimer = Time.CreateTimer(static state => ((WaitingRequest)state!).Queue.Dispatched((WaitingRequest)state!), waiter, hold, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>Step 4, continued: the request is done with the queue (served, answered or gone): its timer and registration are released, its wait recorded.</summary>
    public void Leave(WaitingRequest waiter)
    {
        if (waiter.HoldsGrant)
        {
            waiter.Queue.Dispatched(waiter);
        }
        waiter.TryComplete(WaitOutcome.CallerGone);
        waiter.Queue.Remove(waiter);
        waiter.Timer?.Dispose();
        waiter.HoldTimer?.Dispose();
        waiter.Aborted.Dispose();
        if (waiter.FirstQueuedAt == 0)
        {
            return;
        }
        var waited = Time.GetElapsedTime(waiter.FirstQueuedAt);
        var outcome = waiter.LastOutcome;
        var counters = _counters[waiter.Class.Index];
        lock (counters)
        {
            switch (outcome)
            {
                case WaitOutcome.Granted:
                    counters.Served++;
                    counters.ServedWaitTicks += waited.Ticks;
                    break;
                case WaitOutcome.TimedOut:
                    counters.TimedOut++;
                    break;
                case WaitOutcome.ShuttingDown:
                    counters.ShutDown++;
                    break;
                default:
                    counters.CallerGone++;
                    break;
            }
        }
        Metrics.Waited(waiter.Class, outcome, waited);
    }

    /// <summary>A request completed on <paramref name="route"/>: capacity may have returned. Free when nothing waits.</summary>
    public void OnCompleted(DeploymentRoute route)
    {
        if (Volatile.Read(ref _queued) != 0 && _deployments.TryGetValue(route.Name, out var queue))
        {
            queue.Pump();
        }
    }

    /// <summary>Shutdown: every waiting caller is answered 503 with a Retry-After, and nothing more is queued.</summary>
    public void Stop()
    {
        _stopping = true;
        var stopped = 0;
        foreach (var queue in _deployments.Values)
        {
            stopped += queue.Count;
            queue.Stop();
        }
        if (stopped > 0)
        {
            Log.ShuttingDown(_logger, stopped);
        }
    }

    /// <summary>Per class: waiting now, the oldest wait, and what became of the waits so far (status page).</summary>
    public AdmissionReport Report()
    {
        var classes = new ClassReport[Classes.Count];
        for (var i = 0; i < classes.Length; i++)
        {
            var c = Classes[i];
            var waiting = 0;
            long oldest = 0;
            foreach (var queue in _deployments.Values)
            {
                var (count, at) = queue.Snapshot(i);
                waiting += count;
                if (at != 0 && (oldest == 0 || at < oldest))
                {
                    oldest = at;
                }
            }
            double demandPerTick = 0;
            foreach (var route in _registry.Catalog.Routes.Values)
            {
                demandPerTick += route.Demand?.PerTick(i, Now) ?? 0;
            }
            var counters = _counters[i];
            lock (counters)
            {
                classes[i] = new ClassReport(c.Name, c.Order, c.ExcludedPriorityGroups, c.ReserveFactor, Math.Round(demandPerTick * TimeSpan.TicksPerMinute), waiting,
                    oldest == 0 ? null : Math.Round(Time.GetElapsedTime(oldest).TotalMilliseconds, 1),
                    counters.Served, counters.Served == 0 ? null : Math.Round(TimeSpan.FromTicks(counters.ServedWaitTicks / counters.Served).TotalMilliseconds, 1),
                    counters.TimedOut, counters.CallerGone, counters.QueueFull, counters.ShutDown);
            }
        }
        return new AdmissionReport(Options.QueueLimit, Queued, Options.MaxQueueWait.TotalMilliseconds, _default.Name, classes);
    }

    /// <summary>Requests of <paramref name="priorityClass"/> waiting on this replica (metrics).</summary>
    public int QueuedIn(PriorityClass priorityClass) => Volatile.Read(ref _queuedPerClass[priorityClass.Index]);

    internal DeploymentRoute? RouteOf(string deployment) => _registry.Catalog.Routes.GetValueOrDefault(deployment);

    internal TimeSpan Jitter() => _jitterTicks <= 0 ? TimeSpan.Zero : TimeSpan.FromTicks(_random.NextInt64(_jitterTicks + 1));

    internal void Counted(PriorityClass priorityClass, int delta)
    {
        Interlocked.Add(ref _queued, delta);
        Interlocked.Add(ref _queuedPerClass[priorityClass.Index], delta);
    }

    /// <summary>
    /// Is a candidate of <paramref name="route"/> outside <paramref name="excluded"/> and <paramref name="reserved"/>
    /// available now? Else the soonest known end (of a throttle, a break, a reservation) goes to <paramref name="soonest"/>.
    /// </summary>
    internal static bool AnyAvailable(DeploymentRoute route, ulong excluded, long now, ref long soonest, Reservation reserved = default)
    {
        var candidates = route.Candidates;
        for (var i = 0; i < candidates.Length; i++)
        {
            if ((excluded & (1UL << i)) != 0)
            {
                continue;
            }
            var candidate = candidates[i];
            if (candidate.State.IsAvailable(now, candidate.Capacity))
            {
                if ((reserved.Mask & (1UL << i)) == 0)
                {
                    return true;
                }
                soonest = Math.Min(soonest, reserved.Until);
                continue;
            }
            var at = candidate.State.AvailableAt(now, candidate.Capacity);
            if (at > 0 && at < soonest)
            {
                soonest = at;
            }
        }
        return false;
    }

    /// <summary>The caller's patience ran out, or the caller left: out of the queue at once (not when its task next runs).</summary>
    private static void End(WaitingRequest waiter, WaitOutcome outcome)
    {
        if (waiter.TryComplete(outcome))
        {
            waiter.Queue.Remove(waiter);
        }
    }

    private void OnBackendStateChanged(BackendStateChange change)
    {
        // A circuit closed, a probe verdict changed, another replica's news: whatever it is, look again (cheap when nothing waits).
        if (Volatile.Read(ref _queued) == 0)
        {
            return;
        }
        foreach (var queue in _deployments.Values)
        {
            queue.Pump();
        }
    }

    public void Dispose()
    {
        _updater.Changed -= OnBackendStateChanged;
        foreach (var queue in _deployments.Values)
        {
            queue.Dispose();
        }
    }

    private sealed class ClassCounters
    {
        public long Served, ServedWaitTicks, TimedOut, CallerGone, QueueFull, ShutDown;
    }

    private static partial class Log
    {
        [LoggerMessage(1901, LogLevel.Warning, "Admission queue full ({Limit} requests, Gateway:Admission:QueueLimit): a request for {Deployment} is answered at once.")]
        public static partial void QueueFull(ILogger logger, string deployment, int limit);

        [LoggerMessage(1902, LogLevel.Information, "Shutting down: {Count} requests waiting in the admission queue are answered 503.")]
        public static partial void ShuttingDown(ILogger logger, int count);
    }
}

/// <summary>The admission queue in the status JSON (<c>admission</c> of <c>GET /admin/backends</c>).</summary>
internal sealed record AdmissionReport(int QueueLimit, int Queued, double DefaultMaxQueueWaitMs, string DefaultClass, ClassReport[] Classes);

/// <summary>One class: waiting now, its oldest wait, and the waits so far by how they ended.</summary>
/// <remarks><see cref="DemandTokensPerMinute"/> is this replica's measure of what the class asked for over the last minute (counted only for classes with one below them).</remarks>
internal sealed record ClassReport(string Name, int Order, int[] ExcludedPriorityGroups, double ReserveFactor, double DemandTokensPerMinute, int Queued, double? OldestWaitMs,
    long Served, double? AverageServedWaitMs, long TimedOut, long CallerGone, long QueueFull, long ShutDown);
