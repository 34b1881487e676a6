using AoaiAspire.Backends.Configuration;
using Azure.Core;

namespace AoaiAspire.HealthProbe.Probing;

/// <summary>
/// Authenticates a probe as the gateway authenticates a request: the backend's <c>api-key</c>, or an Entra ID
/// token for <c>https://cognitiveservices.azure.com/.default</c> from the process's one
/// <see cref="TokenCredential"/>, cached until five minutes before it expires.
/// </summary>
internal sealed partial class ProbeCredentials(Lazy<TokenCredential> credential, TimeProvider time, ILogger<ProbeCredentials> logger) : IDisposable
{
    public static readonly string[] Scopes = ["https://cognitiveservices.azure.com/.default"];
    private static readonly TimeSpan RefreshAhead = TimeSpan.FromMinutes(5);

    private readonly SemaphoreSlim _gate = new(1, 1);
    private volatile CachedToken? _token;

    private sealed record CachedToken(string HeaderValue, DateTimeOffset ExpiresOn);

    /// <summary>Adds the backend's credentials to <paramref name="request"/>.</summary>
    /// <exception cref="Azure.Identity.AuthenticationFailedException">No Entra ID token could be had.</exception>
    public async ValueTask ApplyAsync(HttpRequestMessage request, BackendDefinition backend, CancellationToken cancellationToken)
    {
        if (backend.ApiKey is { } key)
        {
            request.Headers.TryAddWithoutValidation("api-key", key);
            return;
        }
        var token = await GetTokenAsync(cancellationToken).ConfigureAwait(false);
        request.Headers.TryAddWithoutValidation("Authorization", token.HeaderValue);
    }

    private async ValueTask<CachedToken> GetTokenAsync(CancellationToken cancellationToken)
    {
        if (_token is { } cached && cached.ExpiresOn - time.GetUtcNow() > RefreshAhead)
        {
            return cached;
        }
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_token is { } current && current.ExpiresOn - time.GetUtcNow() > RefreshAhead)
            {
                return current;
            }
            var access = await credential.Value.GetTokenAsync(new TokenRequestContext(Scopes), cancellationToken).ConfigureAwait(false);
            var fresh = new CachedToken("Bearer " + access.Token, access.ExpiresOn);
            _token = fresh;
            LogTokenAcquired(logger, access.ExpiresOn);
            return fresh;
        }
        finally
        {
            _gate.Release();
        }
    }

    public void Dispose() => _gate.Dispose();

    [LoggerMessage(3201, LogLevel.Information, "Entra ID token for Azure OpenAI acquired; expires {ExpiresOn}.")]
    private static partial void LogTokenAcquired(ILogger logger, DateTimeOffset expiresOn);
}
