using System.Globalization;

namespace AoaiAspire.Gateway.Quotas;

/// <summary>The consumer's remaining quota as Azure OpenAI names it, on a refusal and on a forwarded answer alike.</summary>
internal static class QuotaHeaders
{
    public const string RemainingTokens = "x-ratelimit-remaining-tokens";
    public const string RemainingRequests = "x-ratelimit-remaining-requests";

    public static void SetRemaining(IHeaderDictionary headers, long? tokens, long? requests)
    {
        if (tokens is { } t)
        {
            headers[RemainingTokens] = t.ToString(CultureInfo.InvariantCulture);
        }
        if (requests is { } r)
        {
            headers[RemainingRequests] = r.ToString(CultureInfo.InvariantCulture);
        }
    }
}
