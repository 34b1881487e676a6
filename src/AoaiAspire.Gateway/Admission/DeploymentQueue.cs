using AoaiAspire.Gateway.Configuration;

namespace AoaiAspire.Gateway.Admission;

/// <summary>
/// The requests waiting for one logical deployment on this replica, and their dispatch. A waiting request is sent
/// when a backend it may use is available again, as the backend state says (throttles, circuits and probe verdicts,
/// this replica's own and those other replicas published): nothing here asks Redis.
/// </summary>
/// <remarks>
/// Dispatch, on each wake-up (a throttle's or break's end plus a random jitter of up to <c>WakeJitter</c>, a change of
/// backend state, a request queued or completed):
/// 1. under the lock, the first class in order that has a waiting request and an available backend gives its next
///    request by fair share (<see cref="FairScheduler"/>), which is granted;
/// 2. one at a time: the next is granted only once that one has selected its backend (or, with <c>DispatchHold</c>,
///    been answered or out that long); each selection re-checks availability and charges the backend's capacity,
///    so a backend that ran out again is seen by the next;
/// 3. when nothing can go, a timer is set for the soonest end among the waiting classes' backends.
/// The lock covers in-memory queue operations only, never I/O; a granted request's continuation runs on the thread
/// pool, not under it.
/// </remarks>
internal sealed class DeploymentQueue : IDisposable
{
    private readonly Lock _lock = new();
    private readonly FairScheduler _scheduler;
    private readonly AdmissionQueue _owner;
    private readonly ITimer _timer;
    private WaitingRequest? _granted;
    private long _timerDue = long.MaxValue;
    private bool _stopped;

    public DeploymentQueue(string deployment, AdmissionQueue owner)
    {
        Deployment = deployment;
        _owner = owner;
        _scheduler = new FairScheduler(owner.Classes);
        _timer = owner.Time.CreateTimer(static state => ((DeploymentQueue)state!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    public string Deployment { get; }

    /// <summary>Requests waiting here.</summary>
    public int Count => Volatile.Read(ref _count);
    private int _count;

    private readonly int[] _perClass = new int[64];

    /// <summary>Is a request of the class at <paramref name="index"/>, or of a class before it, waiting here? Lock-free.</summary>
    public bool HasWaitersAtOrBefore(int index)
    {
        for (var i = 0; i <= index; i++)
        {
            if (Volatile.Read(ref _perClass[i]) > 0)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Queues a request (at the front of its consumer's line when it comes back from a dispatch) and dispatches what can go.</summary>
    public bool Enqueue(WaitingRequest request, bool front)
    {
        lock (_lock)
        {
            if (_stopped)
            {
                return false;
            }
            request.Arm();
            _scheduler.Enqueue(request, front);
            Counted(request, +1);
        }
        Pump();
        return true;
    }

    /// <summary>Takes a request out that stopped waiting (patience, caller gone); true when it was still queued.</summary>
    public bool Remove(WaitingRequest request)
    {
        bool removed;
        lock (_lock)
        {
            removed = _scheduler.Remove(request);
            if (removed)
            {
                Counted(request, -1);
            }
        }
        return removed;
    }

    /// <summary>A granted request has selected (a backend, or none after all): the next may go.</summary>
    public void Dispatched(WaitingRequest request)
    {
        lock (_lock)
        {
            request.HoldsGrant = false;
            if (ReferenceEquals(_granted, request))
            {
                _granted = null;
            }
        }
        Pump();
    }

    /// <summary>Dispatches the next request if one can go now; else sets the timer for the soonest end.</summary>
    public void Pump()
    {
        if (Volatile.Read(ref _count) == 0)
        {
            return;
        }
        var route = _owner.RouteOf(Deployment);
        lock (_lock)
        {
            if (_granted is not null || _stopped)
            {
                return;
            }
            var now = _owner.Now;
            var soonest = long.MaxValue;
            ulong servable = 0;
            if (route is not null)
            {
                var classes = _owner.Classes;
                for (var i = 0; i < classes.Count; i++)
                {
                    if (_scheduler.CountOf(i) > 0 && AdmissionQueue.AnyAvailable(route, classes[i].Excluded(route), now, ref soonest, _owner.Reserved(route, classes[i], now)))
                    {
                        servable |= 1UL << i;
                    }
                }
            }
            while (servable != 0 && _scheduler.TakeNext(servable) is { } next)
            {
                Counted(next, -1);
                next.HoldsGrant = true;
                if (next.TryComplete(WaitOutcome.Granted))
                {
                    next.WasGranted = true;
                    _granted = next;
                    return;
                }
                next.HoldsGrant = false; // it stopped waiting a moment ago: the next one
            }
            if (_scheduler.Count > 0 && soonest != long.MaxValue && soonest < _timerDue)
            {
                _timerDue = soonest;
                var due = TimeSpan.FromTicks(soonest - now) + _owner.Jitter();
                _timer.Change(due > TimeSpan.Zero ? due : TimeSpan.FromMilliseconds(1), Timeout.InfiniteTimeSpan);
            }
        }
    }

    /// <summary>Answers every waiting request with <see cref="WaitOutcome.ShuttingDown"/> and takes no more.</summary>
    public void Stop()
    {
        List<WaitingRequest> all;
        lock (_lock)
        {
            _stopped = true;
            all = _scheduler.TakeAll();
            foreach (var request in all)
            {
                Counted(request, -1);
            }
        }
        foreach (var request in all)
        {
            request.TryComplete(WaitOutcome.ShuttingDown);
        }
    }

    /// <summary>Waiting requests and the first-queued timestamp of the oldest, per class index (status page).</summary>
    public (int Count, long OldestQueuedAt) Snapshot(int index)
    {
        lock (_lock)
        {
            return (_scheduler.CountOf(index), _scheduler.OldestQueuedAt(index));
        }
    }

    private void OnTimer()
    {
        lock (_lock)
        {
            _timerDue = long.MaxValue;
        }
        Pump();
    }

    private void Counted(WaitingRequest request, int delta)
    {
        Interlocked.Add(ref _count, delta);
        Interlocked.Add(ref _perClass[request.Class.Index], delta);
        _owner.Counted(request.Class, delta);
    }

    public void Dispose() => _timer.Dispose();
}
