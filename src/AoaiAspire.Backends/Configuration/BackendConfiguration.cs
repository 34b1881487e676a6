using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;

namespace AoaiAspire.Backends.Configuration;

/// <summary>Binds and validates <c>Gateway:Backends</c>; shared by the gateway and the health probe.</summary>
internal static class BackendConfiguration
{
    public const string BackendsSection = "Gateway:Backends";

    /// <summary>True when at least one backend is configured.</summary>
    public static bool HasBackends(IConfiguration configuration)
        => configuration.GetSection(BackendsSection).GetChildren().Any();

    /// <summary>
    /// Reads every backend, resolving <c>Connection</c> references. Returns the backends, or the list of
    /// problems, each naming the configuration key to fix.
    /// </summary>
    public static (IReadOnlyList<BackendDefinition> Backends, IReadOnlyList<string> Errors) Read(IConfiguration configuration)
    {
        var backends = new List<BackendDefinition>();
        var errors = new List<string>();
        foreach (var section in configuration.GetSection(BackendsSection).GetChildren())
        {
            var key = $"{BackendsSection}:{section.Key}";
            var options = new BackendOptions();
            try
            {
                section.Bind(options);
            }
            catch (InvalidOperationException ex)
            {
                errors.Add($"{key}: {ex.Message}");
                continue;
            }

            var results = new List<ValidationResult>();
            if (!Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true))
            {
                errors.AddRange(results.Select(r => $"{key}:{string.Join(",", r.MemberNames)}: {r.ErrorMessage}"));
                continue;
            }

            var endpoint = options.Endpoint;
            var apiKey = string.IsNullOrWhiteSpace(options.ApiKey) ? null : options.ApiKey;
            if (!string.IsNullOrWhiteSpace(options.Connection))
            {
                var cs = configuration.GetConnectionString(options.Connection);
                if (string.IsNullOrWhiteSpace(cs))
                {
                    errors.Add($"{key}:Connection names 'ConnectionStrings:{options.Connection}', which is not set.");
                    continue;
                }
                var values = ConnectionStringParser.Parse(cs);
                if (!values.TryGetValue("Endpoint", out var ep) || !Uri.TryCreate(ep, UriKind.Absolute, out endpoint))
                {
                    errors.Add($"ConnectionStrings:{options.Connection} has no valid Endpoint=… (referenced by {key}:Connection).");
                    continue;
                }
                if (apiKey is null && values.TryGetValue("Key", out var k) && !string.IsNullOrWhiteSpace(k))
                {
                    apiKey = k;
                }
            }

            if (endpoint is null)
            {
                errors.Add($"{key}:Endpoint is required (or {key}:Connection naming a connection string).");
                continue;
            }
            if (endpoint.Scheme is not ("http" or "https"))
            {
                errors.Add($"{key}:Endpoint must be an http or https URL, not '{endpoint.Scheme}'.");
                continue;
            }
            if (options.Deployments.Count == 0)
            {
                errors.Add($"{key}:Deployments must map at least one logical deployment to an upstream deployment name (e.g. {key}:Deployments:chat=gpt-4o-mini).");
                continue;
            }
            var emptyDeployment = options.Deployments.FirstOrDefault(d => string.IsNullOrWhiteSpace(d.Value));
            if (emptyDeployment.Key is not null)
            {
                errors.Add($"{key}:Deployments:{emptyDeployment.Key} has no upstream deployment name.");
                continue;
            }

            var baseUri = endpoint.AbsoluteUri.EndsWith('/') ? endpoint : new Uri(endpoint.AbsoluteUri + "/");
            backends.Add(new BackendDefinition(
                section.Key,
                baseUri,
                string.IsNullOrWhiteSpace(options.Region) ? section.Key : options.Region!,
                options.Priority,
                options.Weight,
                apiKey,
                new Dictionary<string, string>(options.Deployments, StringComparer.OrdinalIgnoreCase)));
        }
        return (backends, errors);
    }
}
