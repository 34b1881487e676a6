using System.Globalization;
using System.Net.Http.Headers;

namespace AoaiAspire.Backends.Upstream;

/// <summary>Reads how long a throttled backend wants to be left alone.</summary>
internal static class RetryAfter
{
    /// <summary>
    /// In order of precision: <c>retry-after-ms</c>, <c>retry-after</c> (seconds or an HTTP date),
    /// <c>x-ratelimit-reset-requests</c> / <c>x-ratelimit-reset-tokens</c> (seconds). Null when none parse.
    /// </summary>
    public static TimeSpan? Parse(HttpResponseHeaders headers, DateTimeOffset now)
    {
        if (TryGetSingle(headers, "retry-after-ms", out var ms) && double.TryParse(ms, NumberStyles.Float, CultureInfo.InvariantCulture, out var msValue) && msValue >= 0)
        {
            return TimeSpan.FromMilliseconds(Math.Min(msValue, TimeSpan.MaxValue.TotalMilliseconds / 2));
        }
        if (headers.RetryAfter is { } retryAfter)
        {
            if (retryAfter.Delta is { } delta)
            {
                return delta;
            }
            if (retryAfter.Date is { } date)
            {
                var wait = date - now;
                return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
            }
        }
        TimeSpan? reset = null;
        foreach (var name in ResetHeaders)
        {
            if (TryGetSingle(headers, name, out var s) && double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds >= 0)
            {
                var value = TimeSpan.FromSeconds(Math.Min(seconds, 86_400 * 365));
                reset = reset is null || value > reset ? value : reset;
            }
        }
        return reset;
    }

    private static readonly string[] ResetHeaders = ["x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"];

    private static bool TryGetSingle(HttpResponseHeaders headers, string name, out string? value)
    {
        value = null;
        if (headers.NonValidated.TryGetValues(name, out var values))
        {
            foreach (var v in values)
            {
                value = v;
                return true;
            }
        }
        return false;
    }
}
