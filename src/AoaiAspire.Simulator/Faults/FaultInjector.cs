using AoaiAspire.Simulator.Latency;

namespace AoaiAspire.Simulator.Faults;

internal enum FaultKind
{
    None,
    Drop,
    ServerError,
    ServiceUnavailable,
    Timeout,
}

/// <summary>Picks the fault, if any, a request suffers under the account's current <see cref="FaultOptions"/>.</summary>
/// <remarks>
/// One draw decides among the shares, laid end to end in the order drop, 500, 503, timeout, so the shares
/// add up (0.2 drops + 0.3 errors fails half of the requests) instead of shadowing each other.
/// </remarks>
internal static class FaultInjector
{
    public static FaultKind Pick(FaultOptions faults, RandomSource random)
    {
        var total = faults.DropRate + faults.ServerErrorRate + faults.ServiceUnavailableRate + faults.TimeoutRate;
        if (total <= 0)
        {
            return FaultKind.None;
        }

        var draw = random.NextDouble();
        if ((draw -= faults.DropRate) < 0)
        {
            return FaultKind.Drop;
        }

        if ((draw -= faults.ServerErrorRate) < 0)
        {
            return FaultKind.ServerError;
        }

        if ((draw -= faults.ServiceUnavailableRate) < 0)
        {
            return FaultKind.ServiceUnavailable;
        }

        return draw - faults.TimeoutRate < 0 ? FaultKind.Timeout : FaultKind.None;
    }
}
