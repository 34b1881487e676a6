namespace AoaiAspire.Gateway.Quotas;

/// <summary>The answer to "may this consumer send this request now?".</summary>
/// <param name="Admitted">False: answer 429 with <see cref="RetryAfter"/>.</param>
/// <param name="RemainingTokens">Tokens left in the consumer's current window after this request (null when it has no token limit).</param>
/// <param name="RemainingRequests">Requests left likewise (null when it has no request limit).</param>
/// <param name="RetryAfter">When refused: until the window has room again.</param>
/// <param name="Reservation">Handle to correct the charge with the real usage; default when nothing was reserved.</param>
internal readonly record struct QuotaDecision(bool Admitted, long? RemainingTokens, long? RemainingRequests, TimeSpan RetryAfter, QuotaReservation Reservation)
{
    public static readonly QuotaDecision Unlimited = new(true, null, null, TimeSpan.Zero, default);

    /// <summary>
    /// Refused because the counts cannot be shared now (Redis unreachable) and the consumer fails closed: answer 503
    /// with <see cref="RetryAfter"/>, not 429 (the consumer has not exceeded anything).
    /// </summary>
    public bool Uncountable { get; init; }
}

/// <summary>What was charged for one request, so the real usage can replace the estimate.</summary>
internal readonly record struct QuotaReservation(object? Counter, long WindowStart, long EstimatedTokens);

/// <summary>
/// Per-consumer token and request quotas (<c>Gateway:Consumers:{name}:TokensPerMinute</c> etc.). Admission
/// is decided from local memory only; with Redis the counts are shared across replicas in the background.
/// </summary>
internal interface IConsumerQuotas
{
    /// <summary>Charges <paramref name="estimatedTokens"/> and one request, or refuses. Never waits on I/O.</summary>
    QuotaDecision TryAdmit(string consumer, string deployment, long estimatedTokens);

    /// <summary>Replaces the estimate by the real usage once the response is known (may be less or more).</summary>
    void Correct(in QuotaReservation reservation, long actualTokens);
}
