namespace AoaiAspire.Gateway.Admission;

/// <summary>How a wait in the admission queue ended.</summary>
internal enum WaitOutcome
{
    /// <summary>A backend may take the request now: it goes (and re-checks availability as it selects).</summary>
    Granted,
    /// <summary>The caller's patience ran out: it gets the answer it would have had without waiting.</summary>
    TimedOut,
    /// <summary>The caller went away.</summary>
    CallerGone,
    /// <summary>The gateway is stopping: the caller gets a 503 with a Retry-After.</summary>
    ShuttingDown,
}

/// <summary>
/// One request held in the admission queue. Made only for a request that waits (the path of one that does not allocates
/// nothing for it) and kept while it waits again after a dispatch that found no backend after all.
/// </summary>
/// <remarks>
/// One wait ends exactly once, whoever comes first (a grant, the caller's patience, the caller leaving, shutdown):
/// <see cref="TryComplete"/> swaps the state, and only the winner completes the task.
/// </remarks>
internal sealed class WaitingRequest
{
    private const int Waiting = 0, Done = 1;

    private int _state = Done;
    private TaskCompletionSource<WaitOutcome> _outcome = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public WaitingRequest(string consumer, PriorityClass priorityClass, long cost, long deadline, DeploymentQueue queue)
    {
        Consumer = consumer;
        Class = priorityClass;
        Cost = Math.Max(1, cost);
        Deadline = deadline;
        Queue = queue;
        Node = new LinkedListNode<WaitingRequest>(this);
    }

    public string Consumer { get; }
    public PriorityClass Class { get; }

    /// <summary>The request's estimated tokens: what it costs its consumer's credit in the fair share.</summary>
    public long Cost { get; }

    /// <summary>UTC ticks past which the caller's patience is spent.</summary>
    public long Deadline { get; }

    /// <summary>The deployment's queue this request waits in.</summary>
    public DeploymentQueue Queue { get; }

    /// <summary>When it was first queued (a <see cref="TimeProvider"/> timestamp); 0 before.</summary>
    public long FirstQueuedAt { get; set; }

    /// <summary>Has it been granted at least once (served from the queue)?</summary>
    public bool WasGranted { get; set; }

    /// <summary>Granted, and not yet reported back as having selected (its deployment dispatches one request at a time).</summary>
    public bool HoldsGrant { get; set; }

    /// <summary>The queue was full when it tried to wait: it is not offered again.</summary>
    public bool RefusedFull { get; set; }

    /// <summary>How its last wait ended.</summary>
    public WaitOutcome LastOutcome { get; private set; }

    internal LinkedListNode<WaitingRequest> Node { get; }
    internal FairScheduler.Lane? Lane { get; set; }

    /// <summary>The timer of its patience and the caller's cancellation, set up once and released when it leaves.</summary>
    internal ITimer? Timer { get; set; }
    internal CancellationTokenRegistration Aborted { get; set; }

    /// <summary>Releases its dispatch slot after <c>DispatchHold</c> (made on its first dispatch with a hold).</summary>
    internal ITimer? HoldTimer { get; set; }

    public Task<WaitOutcome> Outcome => _outcome.Task;

    public bool IsWaiting => Volatile.Read(ref _state) == Waiting;

    /// <summary>Starts a new wait (called, under its queue's lock, as it is queued).</summary>
    internal void Arm()
    {
        if (_outcome.Task.IsCompleted)
        {
            _outcome = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        Volatile.Write(ref _state, Waiting);
    }

    /// <summary>Ends the current wait with <paramref name="outcome"/> unless it has ended already.</summary>
    internal bool TryComplete(WaitOutcome outcome)
    {
        if (Interlocked.CompareExchange(ref _state, Done, Waiting) != Waiting)
        {
            return false;
        }
        LastOutcome = outcome;
        _outcome.TrySetResult(outcome);
        return true;
    }
}
