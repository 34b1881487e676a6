using Microsoft.Extensions.Configuration;

namespace AoaiAspire.ServiceDefaults.ServiceDiscovery;

/// <summary>
/// Resolves logical service URIs from configuration, the part of Microsoft.Extensions.ServiceDiscovery
/// that Aspire relies on (that package is not in the feed). The AppHost injects
/// <c>services__{name}__{endpoint}__{index}=http://host:port</c>, read here as
/// <c>services:{name}:{endpoint}:{index}</c>.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item><c>http://gateway</c>, <c>https://gateway</c>: the <c>http</c> (or <c>https</c>) endpoint of <c>gateway</c>.</item>
/// <item><c>https+http://gateway</c>: the <c>https</c> endpoint if configured, else <c>http</c>.</item>
/// <item><c>https+http://_admin.gateway</c>: the endpoint named <c>admin</c>, preferring an https URI over an http one.</item>
/// <item>With no endpoint named after a scheme, the <c>default</c> endpoint is tried.</item>
/// <item>Of several indexes, the lowest is used (Aspire gives replicas one proxied address).</item>
/// </list>
/// Path, query and fragment are kept. Configuration is read on each call, so reloads apply.
/// </remarks>
public sealed class ServiceEndpointResolver(IConfiguration configuration)
{
    /// <summary>The configuration section that holds the services.</summary>
    public const string SectionName = "services";

    private const string DefaultEndpointName = "default";

    /// <summary>The address <paramref name="uri"/> names, or null when it names no configured service.</summary>
    public Uri? Resolve(string uri) =>
        Uri.TryCreate(uri, UriKind.Absolute, out var parsed) ? Resolve(parsed) : null;

    /// <summary>The address <paramref name="uri"/> names, or null when it names no configured service.</summary>
    public Uri? Resolve(Uri uri)
    {
        if (!uri.IsAbsoluteUri || string.IsNullOrEmpty(uri.Host))
        {
            return null;
        }

        var schemes = uri.Scheme.Split('+', StringSplitOptions.RemoveEmptyEntries);
        var (serviceName, endpointName) = ParseHost(uri.Host);
        var service = configuration.GetSection(SectionName).GetSection(serviceName);
        if (!service.Exists())
        {
            return null;
        }

        var endpoint = endpointName is not null
            ? FindByScheme(service.GetSection(endpointName), schemes)
            : FindBySchemeName(service, schemes) ?? FindByScheme(service.GetSection(DefaultEndpointName), schemes);

        return endpoint is null ? null : Combine(endpoint, uri);
    }

    private static (string Service, string? Endpoint) ParseHost(string host)
    {
        // "_endpoint.service": the endpoint named explicitly, as Microsoft.Extensions.ServiceDiscovery reads it.
        if (host.StartsWith('_'))
        {
            var dot = host.IndexOf('.', StringComparison.Ordinal);
            if (dot > 1 && dot < host.Length - 1)
            {
                return (host[(dot + 1)..], host[1..dot]);
            }
        }

        return (host, null);
    }

    private static Uri? FindBySchemeName(IConfigurationSection service, string[] schemes)
    {
        foreach (var scheme in schemes)
        {
            if (Addresses(service.GetSection(scheme), scheme).FirstOrDefault() is { } address)
            {
                return address;
            }
        }

        return null;
    }

    private static Uri? FindByScheme(IConfigurationSection endpoint, string[] schemes)
    {
        foreach (var scheme in schemes)
        {
            if (Addresses(endpoint, scheme).FirstOrDefault(a => a.Scheme.Equals(scheme, StringComparison.OrdinalIgnoreCase)) is { } address)
            {
                return address;
            }
        }

        return null;
    }

    /// <summary>The endpoint's addresses in index order; one given as <c>host:port</c> takes <paramref name="scheme"/>.</summary>
    private static IEnumerable<Uri> Addresses(IConfigurationSection endpoint, string scheme)
    {
        IEnumerable<IConfigurationSection> entries = endpoint.Value is not null
            ? [endpoint]
            : endpoint.GetChildren().OrderBy(c => int.TryParse(c.Key, out var i) ? i : int.MaxValue);

        foreach (var entry in entries)
        {
            var value = entry.Value?.Trim();
            if (string.IsNullOrEmpty(value))
            {
                continue;
            }

            if (!value.Contains("://", StringComparison.Ordinal))
            {
                value = $"{scheme}://{value}";
            }

            if (Uri.TryCreate(value, UriKind.Absolute, out var address))
            {
                yield return address;
            }
        }
    }

    private static Uri Combine(Uri endpoint, Uri logical)
    {
        var builder = new UriBuilder(logical)
        {
            Scheme = endpoint.Scheme,
            Host = endpoint.Host,
            Port = endpoint.Port,
        };

        var basePath = endpoint.AbsolutePath.TrimEnd('/');
        if (basePath.Length > 0)
        {
            builder.Path = basePath + logical.AbsolutePath;
        }

        return builder.Uri;
    }
}
