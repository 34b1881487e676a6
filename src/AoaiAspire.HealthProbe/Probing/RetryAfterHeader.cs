using System.Globalization;
using System.Net.Http.Headers;

namespace AoaiAspire.HealthProbe.Probing;

/// <summary>
/// Reads how long a throttled backend wants to be left alone, in order of precision: <c>retry-after-ms</c>,
/// <c>retry-after</c> (seconds or an HTTP date), then the later of <c>x-ratelimit-reset-requests</c> and
/// <c>x-ratelimit-reset-tokens</c> (seconds). The same reading as the gateway's, which is internal to it.
/// </summary>
internal static class RetryAfterHeader
{
    private static readonly string[] ResetHeaders = ["x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"];

    /// <summary>Capped at a year so that adding it to a date cannot overflow.</summary>
    private static readonly TimeSpan Cap = TimeSpan.FromDays(365);

    public static TimeSpan? Parse(HttpResponseHeaders headers, DateTimeOffset now)
    {
        if (TryGetNumber(headers, "retry-after-ms", out var ms))
        {
            return Capped(TimeSpan.FromMilliseconds(Math.Min(ms, Cap.TotalMilliseconds)));
        }
        if (headers.RetryAfter is { } retryAfter)
        {
            if (retryAfter.Delta is { } delta)
            {
                return Capped(delta);
            }
            if (retryAfter.Date is { } date)
            {
                return Capped(date > now ? date - now : TimeSpan.Zero);
            }
        }
        TimeSpan? reset = null;
        foreach (var name in ResetHeaders)
        {
            if (TryGetNumber(headers, name, out var seconds))
            {
                var value = TimeSpan.FromSeconds(Math.Min(seconds, Cap.TotalSeconds));
                reset = reset is null || value > reset ? value : reset;
            }
        }
        return reset;
    }

    private static TimeSpan Capped(TimeSpan value) => value > Cap ? Cap : value < TimeSpan.Zero ? TimeSpan.Zero : value;

    private static bool TryGetNumber(HttpResponseHeaders headers, string name, out double value)
    {
        value = 0;
        if (headers.NonValidated.TryGetValues(name, out var values))
        {
            foreach (var text in values)
            {
                return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && value >= 0 && double.IsFinite(value);
            }
        }
        return false;
    }
}
