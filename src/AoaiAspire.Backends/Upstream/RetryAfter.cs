using System.Globalization;
using System.Net.Http.Headers;

namespace AoaiAspire.Backends.Upstream;

/// <summary>How long a throttled backend wants to be left alone: read from a backend's answer, written on a 429 or 503.</summary>
internal static class RetryAfter
{
    /// <summary>
    /// Sets Azure OpenAI's pair: <c>retry-after</c> in whole seconds and <c>retry-after-ms</c>, each rounded up and at
    /// least 1 (a caller that retries at once would only meet the same answer).
    /// </summary>
    public static void Write(Microsoft.AspNetCore.Http.IHeaderDictionary headers, TimeSpan wait)
    {
        headers["retry-after"] = WholeSeconds(wait).ToString(CultureInfo.InvariantCulture);
        headers["retry-after-ms"] = Math.Max(1, (long)Math.Ceiling(wait.TotalMilliseconds)).ToString(CultureInfo.InvariantCulture);
    }

    /// <summary><paramref name="value"/> in whole seconds, rounded up, at least 1.</summary>
    public static long WholeSeconds(TimeSpan value) => Math.Max(1, (long)Math.Ceiling(value.TotalSeconds));

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
