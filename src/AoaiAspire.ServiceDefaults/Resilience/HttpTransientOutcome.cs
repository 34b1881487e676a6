using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using Polly;
using Polly.Timeout;

namespace AoaiAspire.ServiceDefaults.Resilience;

/// <summary>What the standard handler treats as transient, and what it may send twice.</summary>
internal static class HttpTransientOutcome
{
    /// <summary>5xx, 408, 429, a connection failure or an attempt that timed out.</summary>
    public static bool IsTransient(Outcome<HttpResponseMessage> outcome) => outcome switch
    {
        { Result: { } response } => IsTransient(response.StatusCode),
        { Exception: HttpRequestException or TimeoutRejectedException } => true,
        _ => false,
    };

    public static bool IsTransient(HttpStatusCode status) =>
        (int)status >= 500 || status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests;

    /// <summary>
    /// The delay the server asked for: Azure OpenAI's <c>retry-after-ms</c>, else <c>Retry-After</c>
    /// as seconds or as a date; null when the response names none.
    /// </summary>
    public static TimeSpan? GetRetryAfter(HttpResponseMessage response, TimeProvider timeProvider)
    {
        if (response.Headers.TryGetValues("retry-after-ms", out var values)
            && double.TryParse(values.FirstOrDefault(), NumberStyles.Float, CultureInfo.InvariantCulture, out var ms)
            && ms >= 0)
        {
            return TimeSpan.FromMilliseconds(ms);
        }

        var retryAfter = response.Headers.RetryAfter;
        if (retryAfter?.Delta is { } delta)
        {
            return delta < TimeSpan.Zero ? TimeSpan.Zero : delta;
        }

        if (retryAfter?.Date is { } date)
        {
            var wait = date - timeProvider.GetUtcNow();
            return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
        }

        return null;
    }

    /// <summary>
    /// Whether a request body can be sent again. The handler retries the same
    /// <see cref="HttpRequestMessage"/> (as Microsoft.Extensions.Http.Resilience does), so the body must
    /// serialize again: byte-array based content (string, form, byte array), memory content and
    /// <see cref="JsonContent"/> do; a <see cref="StreamContent"/> may be read only once, so a request
    /// carrying one is sent a single time. A caller that needs retries buffers the body first
    /// (for example into a <see cref="ByteArrayContent"/>).
    /// </summary>
    public static bool IsReplayable(HttpContent? content) => content switch
    {
        null => true,
        ByteArrayContent or ReadOnlyMemoryContent or JsonContent => true,
        MultipartContent multipart => multipart.All(IsReplayable),
        _ => false,
    };
}
