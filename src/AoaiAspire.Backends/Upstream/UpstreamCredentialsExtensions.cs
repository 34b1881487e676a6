using Azure.Core;
using Azure.Identity;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace AoaiAspire.Backends.Upstream;

/// <summary>The upstream credential wiring of every process that calls backends (the gateway and the health probe).</summary>
internal static class UpstreamCredentialsExtensions
{
    /// <summary>
    /// One Entra ID credential for the process, created on first use: a user-assigned managed identity when
    /// <paramref name="configuredClientId"/> gives a client id (else <c>AZURE_CLIENT_ID</c>), otherwise the default
    /// chain; and <see cref="UpstreamCredentials"/>, which applies it or a backend's api-key.
    /// </summary>
    public static IServiceCollection AddUpstreamCredentials(this IServiceCollection services, Func<IServiceProvider, string?> configuredClientId)
    {
        services.AddSingleton(sp => new Lazy<TokenCredential>(() =>
        {
            var clientId = configuredClientId(sp) ?? sp.GetRequiredService<IConfiguration>()["AZURE_CLIENT_ID"];
            return new DefaultAzureCredential(new DefaultAzureCredentialOptions { ManagedIdentityClientId = clientId });
        }));
        services.AddSingleton<UpstreamCredentials>();
        return services;
    }
}
