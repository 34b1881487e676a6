using System.Collections.Concurrent;

namespace AoaiAspire.Gateway.Affinity;

/// <summary>
/// The owners this replica knows, bounded: two generations of a concurrent dictionary. New and used entries go
/// to the current generation; when it holds half the capacity it becomes the previous one and the old previous
/// is dropped, so what was not used for a whole generation is forgotten first (an approximate LRU with lock-free
/// reads). Look-ups take the id as characters, so a request path that has it as bytes allocates nothing.
/// </summary>
internal sealed class AffinityCache(int capacity)
{
    private sealed class Generation
    {
        public readonly ConcurrentDictionary<string, AffinityOwner> Map = new(StringComparer.Ordinal);
        public readonly ConcurrentDictionary<string, AffinityOwner>.AlternateLookup<ReadOnlySpan<char>> Lookup;
        public int Count;

        public Generation() => Lookup = Map.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    private readonly int _generationSize = Math.Max(1, capacity / 2);
    private readonly Lock _rotate = new();
    private Generation _current = new();
    private Generation _previous = new();

    /// <summary>Entries held (both generations; an id in both counts twice).</summary>
    public int Count => Volatile.Read(ref _current.Count) + Volatile.Read(ref _previous.Count);

    public bool TryGet(ReadOnlySpan<char> id, long nowUnixMs, out AffinityOwner owner)
    {
        var current = Volatile.Read(ref _current);
        if (current.Lookup.TryGetValue(id, out owner!))
        {
            return owner.ExpiresAtUnixMs > nowUnixMs || Expired(id, out owner);
        }
        var previous = Volatile.Read(ref _previous);
        if (previous.Lookup.TryGetValue(id, out var key, out owner!))
        {
            if (owner.ExpiresAtUnixMs <= nowUnixMs)
            {
                return Expired(id, out owner);
            }
            Set(key, owner); // used: keep it through the next rotation
            return true;
        }
        return false;
    }

    public void Set(string id, AffinityOwner owner)
    {
        var current = Volatile.Read(ref _current);
        if (current.Map.TryAdd(id, owner))
        {
            if (Interlocked.Increment(ref current.Count) >= _generationSize)
            {
                Rotate(current);
            }
        }
        else
        {
            current.Map[id] = owner;
        }
    }

    public void Remove(ReadOnlySpan<char> id)
    {
        if (Volatile.Read(ref _current).Lookup.TryRemove(id, out _))
        {
            Interlocked.Decrement(ref _current.Count);
        }
        if (Volatile.Read(ref _previous).Lookup.TryRemove(id, out _))
        {
            Interlocked.Decrement(ref _previous.Count);
        }
    }

    private bool Expired(ReadOnlySpan<char> id, out AffinityOwner owner)
    {
        Remove(id);
        owner = null!;
        return false;
    }

    private void Rotate(Generation full)
    {
        lock (_rotate)
        {
            if (!ReferenceEquals(_current, full))
            {
                return; // another writer rotated first
            }
            Volatile.Write(ref _previous, full);
            Volatile.Write(ref _current, new Generation());
        }
    }
}
