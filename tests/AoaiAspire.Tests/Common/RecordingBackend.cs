using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AoaiAspire.Tests.Common;

/// <summary>
/// A stand-in backend that records what reached it (headers, path) and answers a fixed chat completion with
/// headers a real upstream might send (server banner, cookies, auth challenges): for header-hygiene tests.
/// </summary>
internal sealed class RecordingBackend : IAsyncDisposable
{
    private readonly WebApplication _app;

    private RecordingBackend(WebApplication app, Uri endpoint)
    {
        _app = app;
        Endpoint = endpoint;
    }

    public Uri Endpoint { get; }

    public List<(string Path, Dictionary<string, string[]> Headers)> Requests { get; } = [];

    /// <param name="status">What it answers: 200 with the completion, or this status with an AOAI-shaped error.</param>
    public static async Task<RecordingBackend> StartAsync(int status = 200)
    {
        var builder = LoopbackApp.CreateBuilder(slim: true);
        var app = builder.Build();
        RecordingBackend? self = null;
        app.Run(async context =>
        {
            lock (self!.Requests)
            {
                self.Requests.Add((context.Request.Path + context.Request.QueryString, context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.Select(v => v ?? "").ToArray(), StringComparer.OrdinalIgnoreCase)));
            }
            context.Response.Headers["Server"] = "upstream-banner/1.0";
            context.Response.Headers["X-Powered-By"] = "upstream";
            context.Response.Headers["Set-Cookie"] = "session=secret";
            context.Response.Headers["api-key"] = "leaked-upstream-key";
            context.Response.Headers["x-ms-region"] = "recording";
            context.Response.ContentType = "application/json";
            if (status != 200)
            {
                context.Response.StatusCode = status;
                await context.Response.WriteAsync("""{"error":{"code":"ServiceUnavailable","message":"recording backend failure"}}""");
                return;
            }
            await context.Response.WriteAsync("""{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}""");
        });
        var address = await LoopbackApp.ListenAsync(app);
        self = new RecordingBackend(app, address);
        return self;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
