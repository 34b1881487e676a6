namespace AoaiAspire.ServiceDefaults.ServiceDiscovery;

/// <summary>
/// Sends a request for <c>http://name/…</c>, <c>https://name/…</c> or <c>https+http://name/…</c> to
/// the address configured for <c>name</c>; other requests pass through unchanged. The logical URI is
/// put back on the request once the response arrives, so retries (outside this handler) resolve again.
/// </summary>
internal sealed class ServiceDiscoveryHandler(ServiceEndpointResolver resolver) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var logical = request.RequestUri;
        var resolved = Resolve(logical);
        if (resolved is null)
        {
            return await base.SendAsync(request, cancellationToken);
        }

        request.RequestUri = resolved;
        try
        {
            return await base.SendAsync(request, cancellationToken);
        }
        finally
        {
            request.RequestUri = logical;
        }
    }

    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var logical = request.RequestUri;
        var resolved = Resolve(logical);
        if (resolved is null)
        {
            return base.Send(request, cancellationToken);
        }

        request.RequestUri = resolved;
        try
        {
            return base.Send(request, cancellationToken);
        }
        finally
        {
            request.RequestUri = logical;
        }
    }

    private Uri? Resolve(Uri? logical)
    {
        if (logical is null || !logical.IsAbsoluteUri)
        {
            return null;
        }

        var resolved = resolver.Resolve(logical);
        if (resolved is null && logical.Scheme.Contains('+', StringComparison.Ordinal))
        {
            // No socket handler speaks "https+http": fail with the key to set, not "scheme not supported".
            // InvalidOperationException rather than HttpRequestException, so it is not retried as transient.
            throw new InvalidOperationException(
                $"No endpoint is configured for service '{logical.Host}' ('{logical}'): set {ServiceEndpointResolver.SectionName}:{logical.Host}:https:0 or :http:0.");
        }

        return resolved;
    }
}
