namespace AoaiAspire.Backends.Redis;

/// <summary>
/// Passed to <see cref="RedisClient.OnConnectionStateChanged"/>: the client became usable
/// (<see cref="IsConnected"/> true: commands flow and every subscription is active again), or
/// it lost Redis (false; <see cref="Reason"/> says why, without secrets).
/// </summary>
internal readonly record struct RedisConnectionStateChangedArguments(bool IsConnected, string? Reason);
