using System.Collections.Concurrent;
using System.Text.Json;

namespace AoaiAspire.Simulator.Responses;

/// <summary>A stored response, as one Azure OpenAI resource keeps it (30 days, in that resource only).</summary>
internal sealed class StoredResponse
{
    public required string Id { get; init; }
    public required string Deployment { get; init; }
    public required string Model { get; init; }
    public required long CreatedAt { get; init; }
    public required string Text { get; init; }
    public required int InputTokens { get; init; }
    public required int CachedTokens { get; init; }
    public required int OutputTokens { get; init; }
    public required int ReasoningTokens { get; init; }
    public string? Instructions { get; init; }
    public int? MaxOutputTokens { get; init; }
    public string? PreviousResponseId { get; init; }
    public string? Conversation { get; init; }
    public bool Background { get; init; }
    public bool Store { get; init; } = true;

    /// <summary>The input items (text only), in order; ids are assigned here.</summary>
    public required IReadOnlyList<(string Id, string Role, string Text)> Input { get; init; }

    /// <summary>For a background response: when it completes (Unix ms); 0 when it completed at once.</summary>
    public long CompletesAtUnixMs { get; init; }

    /// <summary>Set by a cancel before completion.</summary>
    public bool Cancelled { get; set; }

    public string Status(long nowUnixMs)
        => Cancelled ? "cancelled" : CompletesAtUnixMs > nowUnixMs ? "in_progress" : "completed";
}

/// <summary>
/// The responses one simulated account stores, and counters tests read (through <see cref="SimulatedAccount.Responses"/>
/// or <c>GET /admin/stats</c>): a follow-up or a retrieval that reaches the wrong account finds nothing here and is a 404.
/// </summary>
public sealed class ResponseStore
{
    private readonly ConcurrentDictionary<string, StoredResponse> _responses = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _conversations = new(StringComparer.Ordinal);
    private long _created, _followUps, _notFound, _retrieved, _deleted, _cancelled, _inputItemLists;

    /// <summary>Responses created (stored or not).</summary>
    public long Created => Interlocked.Read(ref _created);

    /// <summary>Creates that continued a stored response (<c>previous_response_id</c>) found here.</summary>
    public long FollowUps => Interlocked.Read(ref _followUps);

    /// <summary>Requests that named a response this account does not hold (answered 404).</summary>
    public long NotFound => Interlocked.Read(ref _notFound);

    public long Retrieved => Interlocked.Read(ref _retrieved);
    public long Deleted => Interlocked.Read(ref _deleted);
    public long Cancelled => Interlocked.Read(ref _cancelled);
    public long InputItemLists => Interlocked.Read(ref _inputItemLists);

    /// <summary>Responses stored now.</summary>
    public int Count => _responses.Count;

    /// <summary>Whether this account holds the response.</summary>
    public bool Contains(string id) => _responses.ContainsKey(id);

    internal bool TryGet(string id, out StoredResponse response)
    {
        if (_responses.TryGetValue(id, out response!))
        {
            return true;
        }
        Interlocked.Increment(ref _notFound);
        return false;
    }

    internal void Add(StoredResponse response, bool followUp)
    {
        Interlocked.Increment(ref _created);
        if (followUp)
        {
            Interlocked.Increment(ref _followUps);
        }
        if (response.Store)
        {
            _responses[response.Id] = response;
        }
    }

    internal bool Remove(string id)
    {
        if (_responses.TryRemove(id, out _))
        {
            Interlocked.Increment(ref _deleted);
            return true;
        }
        Interlocked.Increment(ref _notFound);
        return false;
    }

    internal void AddConversation(string id) => _conversations[id] = 0;

    internal bool HasConversation(string id)
    {
        if (_conversations.ContainsKey(id))
        {
            return true;
        }
        Interlocked.Increment(ref _notFound);
        return false;
    }

    internal void OnRetrieved() => Interlocked.Increment(ref _retrieved);
    internal void OnCancelled() => Interlocked.Increment(ref _cancelled);
    internal void OnInputItems() => Interlocked.Increment(ref _inputItemLists);

    /// <summary>Clears the counters; stored responses stay (as <c>POST /admin/reset</c> leaves state alone).</summary>
    internal void ResetCounters()
    {
        Interlocked.Exchange(ref _created, 0);
        Interlocked.Exchange(ref _followUps, 0);
        Interlocked.Exchange(ref _notFound, 0);
        Interlocked.Exchange(ref _retrieved, 0);
        Interlocked.Exchange(ref _deleted, 0);
        Interlocked.Exchange(ref _cancelled, 0);
        Interlocked.Exchange(ref _inputItemLists, 0);
    }

    internal void WriteStats(Utf8JsonWriter writer)
    {
        writer.WriteStartObject("responses");
        writer.WriteNumber("stored", Count);
        writer.WriteNumber("created", Created);
        writer.WriteNumber("followUps", FollowUps);
        writer.WriteNumber("notFound", NotFound);
        writer.WriteNumber("retrieved", Retrieved);
        writer.WriteNumber("deleted", Deleted);
        writer.WriteNumber("cancelled", Cancelled);
        writer.WriteNumber("inputItemLists", InputItemLists);
        writer.WriteEndObject();
    }
}
