using System.Diagnostics;
using System.Net;
using Yarp.ReverseProxy.Forwarder;

// The bench's YARP contender: direct forwarding with IHttpForwarder as YARP's "Direct Forwarding" article
// and its ReverseProxy.Direct.Sample set it up (one HttpMessageInvoker over a SocketsHttpHandler with the
// settings below, HttpTransformer.Default, a 100 s activity timeout), plus plain round robin over the
// destinations given on the command line: --Yarp:Destinations:0=http://127.0.0.1:port/ ...
// No retries, no health checks, no body inspection: the cheapest correct .NET proxy, as a yardstick.
var builder = WebApplication.CreateSlimBuilder(args);
builder.Services.AddHttpForwarder();
var destinations = builder.Configuration.GetSection("Yarp:Destinations").GetChildren().Select(c => c.Value!).Where(v => !string.IsNullOrWhiteSpace(v)).ToArray();
if (destinations.Length == 0)
{
    Console.Error.WriteLine("Yarp:Destinations: give at least one destination, e.g. --Yarp:Destinations:0=http://127.0.0.1:5101/");
    return 2;
}

var app = builder.Build();
var invoker = new HttpMessageInvoker(new SocketsHttpHandler
{
    UseProxy = false,
    AllowAutoRedirect = false,
    AutomaticDecompression = DecompressionMethods.None,
    UseCookies = false,
    EnableMultipleHttp2Connections = true,
    ActivityHeadersPropagator = new ReverseProxyPropagator(DistributedContextPropagator.Current),
    ConnectTimeout = TimeSpan.FromSeconds(15),
});
var requestConfig = new ForwarderRequestConfig { ActivityTimeout = TimeSpan.FromSeconds(100) };
var next = -1;

app.MapGet("/yarp-health", () => "ok");
app.Map("/{**catch-all}", async (HttpContext context, IHttpForwarder forwarder) =>
{
    var destination = destinations[(int)((uint)Interlocked.Increment(ref next) % (uint)destinations.Length)];
    await forwarder.SendAsync(context, destination, invoker, requestConfig, HttpTransformer.Default);
});

await app.RunAsync();
return 0;
