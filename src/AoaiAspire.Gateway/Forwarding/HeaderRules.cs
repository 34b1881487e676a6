using System.Collections.Frozen;

namespace AoaiAspire.Gateway.Forwarding;

/// <summary>Which headers cross the gateway. Hop-by-hop headers never do; auth never does in either direction.</summary>
internal static class HeaderRules
{
    /// <summary>Never sent upstream: hop-by-hop, the caller's credentials, and what the client library sets itself.</summary>
    public static readonly FrozenSet<string> NotForwardedUpstream = FrozenSet.Create(StringComparer.OrdinalIgnoreCase,
        "Host", "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "Proxy-Authenticate", "TE", "Trailer",
        "Transfer-Encoding", "Upgrade", "Expect", "Content-Length", "Content-Type",
        // The gateway reads usage from response bodies: it asks for them uncompressed.
        "Accept-Encoding",
        "api-key", "Authorization", "Cookie", "ocp-apim-subscription-key",
        "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded",
        GatewayHeaders.Backend, GatewayHeaders.Attempts, Admission.AdmissionQueue.MaxWaitHeader);

    /// <summary>W3C trace context headers, replaced by the gateway's own when it traces.</summary>
    public static bool IsTraceContext(string name)
        => name.Equals("traceparent", StringComparison.OrdinalIgnoreCase) || name.Equals("tracestate", StringComparison.OrdinalIgnoreCase);

    /// <summary>Never returned to the caller: hop-by-hop, server banners, anything about upstream auth.</summary>
    public static readonly FrozenSet<string> NotReturned = FrozenSet.Create(StringComparer.OrdinalIgnoreCase,
        "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
        "Server", "X-Powered-By", "Set-Cookie", "WWW-Authenticate", "api-key", "Authorization", "Strict-Transport-Security");
}

/// <summary>Headers the gateway adds.</summary>
internal static class GatewayHeaders
{
    /// <summary>The backend that answered.</summary>
    public const string Backend = "x-aoai-backend";

    /// <summary>How many upstream attempts the request took.</summary>
    public const string Attempts = "x-aoai-attempts";
}
