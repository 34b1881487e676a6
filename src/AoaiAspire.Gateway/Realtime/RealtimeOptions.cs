using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace AoaiAspire.Gateway.Realtime;

/// <summary>
/// <c>Gateway:Realtime</c>: the realtime WebSocket relay (README "Realtime"). Read at start-up for Kestrel's
/// upgraded-connection limit as well, so a change of <see cref="MaxConcurrentSessions"/> needs a restart.
/// </summary>
internal sealed class RealtimeOptions
{
    public const string SectionName = "Gateway:Realtime";

    /// <summary>
    /// Realtime sessions open at once in this replica; one more gets a 429 before the upgrade. 0 turns realtime off
    /// (its paths answer 404). Kestrel's <c>MaxConcurrentUpgradedConnections</c> is set from it (a little above). Default 100.
    /// </summary>
    [Range(0, 100_000)]
    public int MaxConcurrentSessions { get; set; } = 100;

    /// <summary>
    /// Largest message relayed either way, in bytes; a larger one closes the session with 1009 (message too big).
    /// Messages are relayed frame by frame, so this bounds a message, not memory. Default 16 MiB (audio appends are large).
    /// </summary>
    [Range(1024, 256 * 1024 * 1024)]
    public int MaxMessageSize { get; set; } = 16 * 1024 * 1024;

    /// <summary>Time for a backend to complete its WebSocket handshake before the next backend is tried. Default 10 s.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>WebSocket ping interval on both legs; 0 sends none. Default 30 s.</summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long the second side has to answer a close before its connection is ended. Default 5 s.</summary>
    public TimeSpan CloseTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Accept the caller's key in the <c>api-key</c> query parameter (Azure OpenAI accepts it on realtime paths, for
    /// clients that cannot set headers). Off by default: URLs end up in access logs and traces. The
    /// <c>openai-insecure-api-key.{key}</c> subprotocol, which browsers can send, is always accepted. Default false.
    /// </summary>
    public bool AllowKeyInQuery { get; set; }
}

/// <summary>Checks what attributes cannot; every message names the key to fix.</summary>
internal sealed class RealtimeOptionsValidator : IValidateOptions<RealtimeOptions>
{
    public ValidateOptionsResult Validate(string? name, RealtimeOptions options)
    {
        var errors = new List<string>();
        if (options.ConnectTimeout <= TimeSpan.Zero)
        {
            errors.Add("Gateway:Realtime:ConnectTimeout must be a positive duration such as 00:00:10.");
        }
        if (options.CloseTimeout <= TimeSpan.Zero)
        {
            errors.Add("Gateway:Realtime:CloseTimeout must be a positive duration such as 00:00:05.");
        }
        if (options.KeepAliveInterval < TimeSpan.Zero)
        {
            errors.Add("Gateway:Realtime:KeepAliveInterval must be 00:00:00 (no pings) or a positive duration.");
        }
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
