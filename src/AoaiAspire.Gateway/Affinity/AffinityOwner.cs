namespace AoaiAspire.Gateway.Affinity;

/// <summary>
/// Where a stateful object (a stored response, a conversation) lives: the backend that holds it, the logical
/// deployment it was made for, the consumer that made it, and when the gateway stops remembering it.
/// </summary>
internal sealed record AffinityOwner(string Backend, string Deployment, string Consumer, long ExpiresAtUnixMs);

/// <summary>A change to the directory as replicas tell each other: an owner recorded, or (owner null) an object deleted.</summary>
internal readonly record struct AffinityChange(string Id, AffinityOwner? Owner);
