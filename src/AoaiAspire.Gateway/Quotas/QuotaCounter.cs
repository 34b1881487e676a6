namespace AoaiAspire.Gateway.Quotas;

/// <summary>
/// What one consumer spent in the current clock minute on one deployment, or on all of them
/// (<see cref="Deployment"/> = <c>*</c>), as this replica knows it.
/// </summary>
/// <remarks>
/// Used = <c>Baseline</c> (the shared total at the last synchronisation, this replica's pushed charges included)
/// + <c>Pending</c> (this replica's charges and corrections not pushed yet). Without Redis the baseline stays 0 and
/// the pending count is the whole (per-replica) count. Every field is guarded by <see cref="Gate"/>, held only for a
/// few arithmetic operations, never across I/O.
/// </remarks>
internal sealed class QuotaCounter(string consumer, string deployment)
{
    /// <summary>No limit on this measure.</summary>
    public const long NoLimit = long.MaxValue;

    public readonly Lock Gate = new();

    public string Consumer { get; } = consumer;

    /// <summary>The deployment name as configured, or <c>*</c> for the consumer-wide counter.</summary>
    public string Deployment { get; } = deployment;

    // Limits and the derived unsynchronised caps; replaced together under Gate on reload.
    public long TokenLimit = NoLimit;
    public long RequestLimit = NoLimit;
    public long UnsyncedTokenCap = NoLimit;
    public long UnsyncedRequestCap = NoLimit;

    /// <summary>Unix minute (unix seconds / 60) of the window the counts belong to.</summary>
    public long Window;
    public long BaselineTokens;
    public long BaselineRequests;
    public long PendingTokens;
    public long PendingRequests;

    /// <summary>What this replica has pushed into the current window (to push again if Redis loses its data).</summary>
    public long ContributedTokens;
    public long ContributedRequests;

    // Key names of the current window; used by the synchronisation loop only (one thread at a time).
    internal long KeysWindow = -1;
    internal string TokensKey = string.Empty;
    internal string RequestsKey = string.Empty;

    public long UsedTokens => BaselineTokens + PendingTokens;

    public long UsedRequests => BaselineRequests + PendingRequests;

    /// <summary>Moves to <paramref name="window"/> when it is later, starting from zero; a clock going back changes nothing.</summary>
    public void Roll(long window)
    {
        if (window <= Window)
        {
            return;
        }
        Window = window;
        BaselineTokens = BaselineRequests = PendingTokens = PendingRequests = ContributedTokens = ContributedRequests = 0;
    }

    public void SetLimits(long? tokensPerMinute, long? requestsPerMinute, double maxUnsyncedShare)
    {
        TokenLimit = tokensPerMinute ?? NoLimit;
        RequestLimit = requestsPerMinute ?? NoLimit;
        UnsyncedTokenCap = Cap(tokensPerMinute, maxUnsyncedShare);
        UnsyncedRequestCap = Cap(requestsPerMinute, maxUnsyncedShare);
    }

    private static long Cap(long? limit, double share)
        => limit is { } l && share < 1 ? Math.Max(1, (long)(l * share)) : NoLimit;
}
