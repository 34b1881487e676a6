using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AoaiAspire.Tests.Common;

/// <summary>How a <see cref="MisbehavingBackend"/> fails.</summary>
public enum Misbehaviour
{
    /// <summary>Sends headers and part of a JSON body (Content-Length promised), then drops the connection.</summary>
    CutJsonBody,
    /// <summary>Sends part of a chunked JSON body, then drops the connection.</summary>
    CutChunkedBody,
    /// <summary>Starts an SSE stream, sends a few events, then drops the connection before [DONE].</summary>
    CutStream,
}

/// <summary>A backend that fails after it has started answering: what no retry can repair.</summary>
internal sealed class MisbehavingBackend : IAsyncDisposable
{
    private readonly WebApplication _app;

    private MisbehavingBackend(WebApplication app, Uri endpoint)
    {
        _app = app;
        Endpoint = endpoint;
    }

    public Uri Endpoint { get; }

    public static async Task<MisbehavingBackend> StartAsync(Misbehaviour misbehaviour)
    {
        var builder = LoopbackApp.CreateBuilder(slim: true);
        var app = builder.Build();
        app.Run(async context =>
        {
            var response = context.Response;
            switch (misbehaviour)
            {
                case Misbehaviour.CutJsonBody:
                    response.ContentType = "application/json";
                    response.ContentLength = 1000;
                    await response.Body.WriteAsync(Encoding.UTF8.GetBytes("""{"id":"chatcmpl-cut","choices":[{"message":{"content":"half an ans"""));
                    await response.Body.FlushAsync();
                    break;
                case Misbehaviour.CutChunkedBody:
                    response.ContentType = "application/json";
                    await response.WriteAsync("""{"id":"chatcmpl-cut","choices":[{"message":{"content":"half an ans""");
                    await response.Body.FlushAsync();
                    break;
                default:
                    response.ContentType = "text/event-stream";
                    for (var i = 0; i < 3; i++)
                    {
                        await response.WriteAsync($"data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"w{i} \"}}}}]}}\n\n");
                        await response.Body.FlushAsync();
                    }
                    break;
            }
            // Die 200 ms into the answer: a reset at once could reach the gateway before the bytes already sent
            // (a TCP reset discards unread data), which would test a refused request instead of a cut one.
            await Task.Delay(TimeSpan.FromMilliseconds(200));
            context.Abort();
        });
        var address = await LoopbackApp.ListenAsync(app);
        return new MisbehavingBackend(app, address);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
