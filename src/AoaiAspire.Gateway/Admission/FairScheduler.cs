using AoaiAspire.Gateway.Configuration;

namespace AoaiAspire.Gateway.Admission;

/// <summary>A priority class as resolved at start-up: its place in the dispatch order and the priority groups it never uses.</summary>
internal sealed class PriorityClass(string name, int order, int index, int[] excludedPriorityGroups, double reserveFactor = 0)
{
    public string Name { get; } = name;

    /// <summary>The configured order (lower first).</summary>
    public int Order { get; } = order;

    /// <summary>Position in dispatch order, 0 first: the index of this class's queue.</summary>
    public int Index { get; } = index;

    public int[] ExcludedPriorityGroups { get; } = excludedPriorityGroups;

    /// <summary><c>ReserveFactor</c>: how much of its measured demand lower classes leave to it (0: nothing).</summary>
    public double ReserveFactor { get; } = reserveFactor;

    /// <summary>The candidates of <paramref name="route"/> this class may not use, as a mask of candidate indices (0 when none).</summary>
    public ulong Excluded(DeploymentRoute route)
    {
        if (ExcludedPriorityGroups.Length == 0)
        {
            return 0;
        }
        ulong mask = 0;
        var candidates = route.Candidates;
        for (var i = 0; i < candidates.Length; i++)
        {
            if (Array.IndexOf(ExcludedPriorityGroups, candidates[i].Backend.Priority) >= 0)
            {
                mask |= 1UL << i;
            }
        }
        return mask;
    }
}

/// <summary>
/// The requests waiting for one deployment, in classes: a class is served only when no class before it has a request
/// that can go, and inside a class consumers share by deficit round robin on the requests' estimated tokens (each
/// consumer's turn adds a quantum of tokens to its credit, and it sends while its next request's estimate fits), so a
/// consumer with big or many requests gets the same tokens per round as one with few, not more. Not thread-safe: its
/// owner (<see cref="DeploymentQueue"/>) holds a lock around every call; nothing here waits or allocates beyond a lane
/// per consumer, made once.
/// </summary>
internal sealed class FairScheduler
{
    /// <summary>Tokens of credit per turn. Any positive value is fair over time; it only sets how coarse a turn is.</summary>
    public const long Quantum = 1024;

    private readonly ClassQueue[] _classes;

    public FairScheduler(IReadOnlyList<PriorityClass> classes)
    {
        _classes = new ClassQueue[classes.Count];
        for (var i = 0; i < _classes.Length; i++)
        {
            _classes[i] = new ClassQueue();
        }
    }

    /// <summary>Requests waiting, all classes.</summary>
    public int Count { get; private set; }

    /// <summary>Requests waiting in the class at <paramref name="index"/>.</summary>
    public int CountOf(int index) => _classes[index].Count;

    /// <summary>
    /// Adds a request at the end of its consumer's line, or at its front (<paramref name="front"/>) for a request that
    /// was dispatched and found no backend after all: it keeps its place, and the credit it spent is given back.
    /// </summary>
    public void Enqueue(WaitingRequest request, bool front)
    {
        _classes[request.Class.Index].Enqueue(request, front);
        Count++;
    }

    /// <summary>The next request to dispatch among the classes whose bit is set in <paramref name="servableClasses"/>, removed; null when none.</summary>
    public WaitingRequest? TakeNext(ulong servableClasses = ulong.MaxValue)
    {
        for (var i = 0; i < _classes.Length; i++)
        {
            if ((servableClasses & (1UL << i)) != 0 && _classes[i].Count > 0)
            {
                Count--;
                return _classes[i].TakeNext();
            }
        }
        return null;
    }

    /// <summary>Removes a waiting request (its caller left, its patience ran out); false when it was not waiting.</summary>
    public bool Remove(WaitingRequest request)
    {
        if (!_classes[request.Class.Index].Remove(request))
        {
            return false;
        }
        Count--;
        return true;
    }

    /// <summary>Removes and returns every waiting request (shutdown).</summary>
    public List<WaitingRequest> TakeAll()
    {
        var all = new List<WaitingRequest>(Count);
        foreach (var queue in _classes)
        {
            while (queue.Count > 0)
            {
                all.Add(queue.TakeNext());
            }
        }
        Count = 0;
        return all;
    }

    /// <summary>When the longest-waiting request of a class was first queued (a timestamp), or 0 when none waits. Cold path.</summary>
    public long OldestQueuedAt(int index) => _classes[index].OldestQueuedAt();

    /// <summary>One consumer's line in a class, and its credit.</summary>
    internal sealed class Lane
    {
        public Lane(string consumer)
        {
            Consumer = consumer;
            Node = new LinkedListNode<Lane>(this);
        }

        public string Consumer { get; }
        public LinkedList<WaitingRequest> Waiting { get; } = new();

        /// <summary>This lane's place in the class's round (in it while something waits).</summary>
        public LinkedListNode<Lane> Node { get; }

        /// <summary>Tokens of credit left (DRR's deficit counter).</summary>
        public long Deficit;

        /// <summary>Whether the lane's current turn has had its quantum.</summary>
        public bool HasTurn;
    }

    /// <summary>Deficit round robin over the consumers of one class.</summary>
    private sealed class ClassQueue
    {
        private readonly Dictionary<string, Lane> _lanes = new(StringComparer.Ordinal);
        private readonly LinkedList<Lane> _active = new();

        public int Count { get; private set; }

        public void Enqueue(WaitingRequest request, bool front)
        {
            if (!_lanes.TryGetValue(request.Consumer, out var lane))
            {
                lane = new Lane(request.Consumer);
                _lanes.Add(request.Consumer, lane);
            }
            if (front)
            {
                lane.Waiting.AddFirst(request.Node);
                lane.Deficit += request.Cost;
            }
            else
            {
                lane.Waiting.AddLast(request.Node);
            }
            request.Lane = lane;
            if (lane.Node.List is null)
            {
                _active.AddLast(lane.Node);
            }
            Count++;
        }

        public WaitingRequest TakeNext()
        {
            var idleTurns = 0;
            while (true)
            {
                var lane = _active.First!.Value;
                if (!lane.HasTurn)
                {
                    lane.HasTurn = true;
                    lane.Deficit += Quantum;
                }
                var head = lane.Waiting.First!.Value;
                if (head.Cost <= lane.Deficit)
                {
                    lane.Deficit -= head.Cost;
                    lane.Waiting.RemoveFirst();
                    head.Lane = null;
                    Count--;
                    if (lane.Waiting.Count == 0)
                    {
                        Deactivate(lane);
                    }
                    return head;
                }
                // The lane's turn is over: its credit carries to its next turn.
                lane.HasTurn = false;
                _active.RemoveFirst();
                _active.AddLast(lane.Node);
                if (++idleTurns == _active.Count)
                {
                    // A whole round without a request that fits (estimates far above the quantum): give every lane the
                    // rounds the closest one still needs at once, which is what that many idle rounds would have done.
                    var rounds = long.MaxValue;
                    foreach (var l in _active)
                    {
                        var need = l.Waiting.First!.Value.Cost - l.Deficit;
                        rounds = Math.Min(rounds, (need + Quantum - 1) / Quantum);
                    }
                    foreach (var l in _active)
                    {
                        l.Deficit += (rounds - 1) * Quantum;
                    }
                    idleTurns = 0;
                }
            }
        }

        public bool Remove(WaitingRequest request)
        {
            var lane = request.Lane;
            if (lane is null || request.Node.List != lane.Waiting)
            {
                return false;
            }
            lane.Waiting.Remove(request.Node);
            request.Lane = null;
            Count--;
            if (lane.Waiting.Count == 0)
            {
                Deactivate(lane);
            }
            return true;
        }

        public long OldestQueuedAt()
        {
            long oldest = 0;
            foreach (var lane in _active)
            {
                foreach (var request in lane.Waiting)
                {
                    if (oldest == 0 || request.FirstQueuedAt < oldest)
                    {
                        oldest = request.FirstQueuedAt;
                    }
                }
            }
            return oldest;
        }

        private void Deactivate(Lane lane)
        {
            // A consumer that has nothing waiting keeps no credit (as in DRR): it cannot save up turns while idle.
            lane.Deficit = 0;
            lane.HasTurn = false;
            if (lane.Node.List is not null)
            {
                _active.Remove(lane.Node);
            }
        }
    }
}
