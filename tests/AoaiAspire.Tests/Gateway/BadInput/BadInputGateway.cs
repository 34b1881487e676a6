using System.Net;
using System.Text;
using System.Text.Json;
using AoaiAspire.Simulator;
using AoaiAspire.Tests.Common;
using Microsoft.Extensions.Logging;

namespace AoaiAspire.Tests.Gateway.BadInput;

/// <summary>
/// A running gateway for the bad-input suites: two simulated backends (instant, limits far above what the
/// suites send, so a 429 can only come from a bug), a caller key and a key limited to embeddings, the
/// default body limit (16 MiB), and every log entry captured with its category.
/// </summary>
public sealed class BadInputGateway : IAsyncLifetime
{
    public const string Key = "bad-input-key-0123456789";
    public const string LimitedKey = "bad-input-limited-0123456789";
    public const string ChatPath = "/openai/deployments/chat/chat/completions?api-version=2024-10-21";
    public const string GoodChat = """{"messages":[{"role":"user","content":"hi"}],"max_tokens":5}""";

    internal SimulatorHost Sims { get; private set; } = null!;
    internal GatewayTestHost Gateway { get; private set; } = null!;
    internal LogCapture Logs { get; } = new();

    public Uri Address => Gateway.Address;

    public async Task InitializeAsync()
    {
        Sims = await SimulatorHost.StartAsync([
            Simulators.Account("a", tokensPerMinute: 1_000_000_000, requestsPerMinute: 10_000_000),
            Simulators.Account("b", tokensPerMinute: 1_000_000_000, requestsPerMinute: 10_000_000)]);
        var settings = Simulators.GatewaySettings(Sims);
        settings.Remove("Gateway:AllowAnonymous");
        settings["Gateway:Consumers:app:Keys:0"] = Key;
        settings["Gateway:Consumers:limited:Keys:0"] = LimitedKey;
        settings["Gateway:Consumers:limited:Deployments:0"] = "embeddings";
        Gateway = await GatewayTestHost.StartAsync(settings, logs: Logs);
    }

    public async Task DisposeAsync()
    {
        await Gateway.DisposeAsync();
        await Sims.DisposeAsync();
    }

    /// <summary>A good chat request through <paramref name="client"/> (or the host's): null when it got a 200 from a backend, else what went wrong.</summary>
    public async Task<string?> TryGoodRequestAsync(HttpClient? client = null, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(Address, ChatPath))
        {
            Content = new StringContent(GoodChat, Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("api-key", Key);
        try
        {
            using var response = await (client ?? Gateway.Client).SendAsync(request, cancellationToken);
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            return response.StatusCode == HttpStatusCode.OK && response.Headers.Contains("x-aoai-backend")
                ? null
                : $"good request got {(int)response.StatusCode}: {Shorten(body)}";
        }
        catch (HttpRequestException ex)
        {
            return "good request failed: " + ex.Message;
        }
    }

    /// <summary>Error and Critical entries since <paramref name="mark"/>, described; empty when there are none.</summary>
    public string ErrorsSince(long mark) => string.Join(Environment.NewLine, Logs.Since(mark, LogLevel.Error)
        .Select(e => $"{e.Level} {e.Category}#{e.EventId.Id}: {Shorten(e.Message)}"));

    internal static string Shorten(string text) => text.Length <= 300 ? text : text[..300] + "…";
}

/// <summary>The charter's rule for one answer: a 4xx with the Azure OpenAI error JSON, or a backend's own answer; never a 5xx.</summary>
internal static class Charter
{
    /// <summary>Null when the answer keeps the rule, else why not.</summary>
    /// <param name="allowBackend2xx">The request may be valid after all: a 2xx is fine if a backend gave it.</param>
    /// <param name="allowGateway2xx">A 2xx from the gateway itself is right (the models list).</param>
    public static string? Check(int status, string? contentType, byte[] body, bool fromBackend, bool isHead, bool allowBackend2xx, bool allowGateway2xx = false)
    {
        if (status >= 500)
        {
            return $"{status} (never a 5xx for a caller's mistake){(fromBackend ? " from a backend" : "")}: {BadInputGateway.Shorten(Encoding.UTF8.GetString(body))}";
        }
        if (status is >= 200 and < 300)
        {
            return (fromBackend && allowBackend2xx) || (!fromBackend && allowGateway2xx) ? null : $"{status} {(fromBackend ? "from a backend" : "from the gateway")} for a request that should be refused";
        }
        if (status is < 400)
        {
            return $"unexpected {status}";
        }
        if (isHead)
        {
            return null;
        }
        return IsAoaiError(contentType, body, out var why) ? null : $"{status} without an Azure OpenAI error body ({why}): '{BadInputGateway.Shorten(Encoding.UTF8.GetString(body))}'";
    }

    public static bool IsAoaiError(string? contentType, byte[] body, out string why)
    {
        why = "";
        if (contentType is null || !contentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            why = $"content-type '{contentType}'";
            return false;
        }
        try
        {
            using var json = JsonDocument.Parse(body);
            if (json.RootElement.ValueKind == JsonValueKind.Object
                && json.RootElement.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object
                && error.TryGetProperty("code", out var code) && code.ValueKind == JsonValueKind.String && code.GetString()!.Length > 0
                && error.TryGetProperty("message", out var message) && message.ValueKind == JsonValueKind.String && message.GetString()!.Length > 0)
            {
                return true;
            }
            why = "no error.code / error.message";
            return false;
        }
        catch (JsonException)
        {
            why = "not JSON";
            return false;
        }
    }
}
