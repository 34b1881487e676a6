using AoaiAspire.Gateway.Configuration;
using AoaiAspire.Gateway.Consumers;
using AoaiAspire.Gateway.Errors;
using Microsoft.Extensions.Options;

namespace AoaiAspire.Gateway.Status;

/// <summary>How <c>/admin/*</c> and the status page are reached.</summary>
internal enum AdminAccess
{
    /// <summary>No <c>Gateway:AdminKey</c> outside Development: the endpoints answer 404, as if absent.</summary>
    Disabled,

    /// <summary>No <c>Gateway:AdminKey</c> in Development: open to anyone who can reach the port.</summary>
    Open,

    /// <summary>The caller must present <c>Gateway:AdminKey</c>.</summary>
    Key,
}

/// <summary>
/// Checks the admin key, read from <c>api-key</c> or <c>Authorization: Bearer</c> like a consumer key.
/// Only SHA-256 hashes are compared (<see cref="KeyHash"/>), so no comparison walks the secret byte by byte;
/// the key follows configuration reloads.
/// </summary>
internal sealed class AdminAuthorization
{
    private readonly bool _development;
    private volatile Expected _expected;

    public AdminAuthorization(IOptionsMonitor<GatewayOptions> options, IHostEnvironment environment)
    {
        _development = environment.IsDevelopment();
        _expected = Build(options.CurrentValue.AdminKey);
        options.OnChange(o => _expected = Build(o.AdminKey));
    }

    public AdminAccess Access => _expected.Hash is not null ? AdminAccess.Key : _development ? AdminAccess.Open : AdminAccess.Disabled;

    /// <summary>Null when the request may proceed; otherwise the status to answer with (401 or 404).</summary>
    public int? Check(HttpRequest request)
    {
        var expected = _expected.Hash;
        if (expected is null)
        {
            return _development ? null : StatusCodes.Status404NotFound;
        }
        var presented = ConsumerDirectory.PresentedKey(request);
        return !presented.IsEmpty && presented.Length <= 1024 && KeyHash.Of(presented) == expected.Value
            ? null
            : StatusCodes.Status401Unauthorized;
    }

    /// <summary>Writes the refusal in the Azure OpenAI error shape.</summary>
    public static Task RefuseAsync(HttpContext context, int status) => status == StatusCodes.Status404NotFound
        ? GatewayErrors.WriteAsync(context, status, GatewayErrorCodes.NotFound, "Resource not found.")
        : GatewayErrors.WriteAsync(context, status, GatewayErrorCodes.Unauthorized,
            "Access denied due to a missing or invalid admin key. Send Gateway:AdminKey in the 'api-key' header or as 'Authorization: Bearer <key>'.");

    private static Expected Build(string? adminKey)
        => new(string.IsNullOrWhiteSpace(adminKey) ? null : KeyHash.Of(adminKey.AsSpan().Trim()));

    private sealed record Expected(KeyHash? Hash);
}

/// <summary>Endpoint filter for the admin group: lets the request through or answers 401/404 in the AOAI shape.</summary>
internal sealed class AdminKeyFilter(AdminAuthorization authorization) : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        if (authorization.Check(context.HttpContext.Request) is { } status)
        {
            await AdminAuthorization.RefuseAsync(context.HttpContext, status).ConfigureAwait(false);
            return Results.Empty;
        }
        return await next(context).ConfigureAwait(false);
    }
}
