using AoaiAspire.Backends.Configuration;
using Azure.Core;
using Microsoft.Extensions.Logging;

namespace AoaiAspire.Backends.Upstream;

/// <summary>
/// Upstream authentication per backend (the gateway's calls and the health probe's): its <c>api-key</c>, or an Entra ID token for
/// <c>https://cognitiveservices.azure.com/.default</c> from the process's one <see cref="TokenCredential"/>.
/// The token is cached and refreshed in the background before it expires, so only the very first
/// request of the process waits for it.
/// </summary>
internal sealed partial class UpstreamCredentials(Lazy<TokenCredential> credential, TimeProvider time, ILogger<UpstreamCredentials> logger) : IDisposable
{
    public static readonly string[] Scopes = ["https://cognitiveservices.azure.com/.default"];
    private static readonly TimeSpan RefreshAhead = TimeSpan.FromMinutes(5);

    private readonly SemaphoreSlim _refreshGate = new(1, 1);
    private volatile CachedToken? _token;
    private int _backgroundRefresh;

    private sealed record CachedToken(string HeaderValue, DateTimeOffset ExpiresOn);

    public ValueTask ApplyAsync(HttpRequestMessage request, BackendDefinition backend, CancellationToken cancellationToken)
    {
        if (backend.ApiKey is { } key)
        {
            request.Headers.TryAddWithoutValidation("api-key", key);
            return ValueTask.CompletedTask;
        }
        var token = _token;
        var now = time.GetUtcNow();
        if (token is not null && token.ExpiresOn > now + TimeSpan.FromSeconds(30))
        {
            if (token.ExpiresOn - now < RefreshAhead && Interlocked.Exchange(ref _backgroundRefresh, 1) == 0)
            {
                _ = RefreshInBackgroundAsync();
            }
            request.Headers.TryAddWithoutValidation("Authorization", token.HeaderValue);
            return ValueTask.CompletedTask;
        }
        return ApplySlowAsync(request, cancellationToken);
    }

    private async ValueTask ApplySlowAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var token = await GetFreshAsync(force: false, cancellationToken).ConfigureAwait(false);
        request.Headers.TryAddWithoutValidation("Authorization", token.HeaderValue);
    }

    private async Task RefreshInBackgroundAsync()
    {
        try
        {
            await GetFreshAsync(force: true, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogRefreshFailed(logger, ex.GetType().Name);
        }
        finally
        {
            Volatile.Write(ref _backgroundRefresh, 0);
        }
    }

    private async Task<CachedToken> GetFreshAsync(bool force, CancellationToken cancellationToken)
    {
        await _refreshGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var current = _token;
            var now = time.GetUtcNow();
            if (current is not null && current.ExpiresOn > now + (force ? RefreshAhead : TimeSpan.FromSeconds(30)))
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
            _refreshGate.Release();
        }
    }

    [LoggerMessage(1201, LogLevel.Information, "Entra ID token for Azure OpenAI acquired; expires {ExpiresOn}.")]
    private static partial void LogTokenAcquired(ILogger logger, DateTimeOffset expiresOn);

    [LoggerMessage(1202, LogLevel.Warning, "Background refresh of the Entra ID token failed ({Error}); the current token is used until it expires.")]
    private static partial void LogRefreshFailed(ILogger logger, string error);

    public void Dispose() => _refreshGate.Dispose();
}
