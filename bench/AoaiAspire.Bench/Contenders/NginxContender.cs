using System.Globalization;
using System.Text;
using AoaiAspire.Bench.LoadGeneration;
using AoaiAspire.Bench.Processes;
using AoaiAspire.Bench.Simulators;

namespace AoaiAspire.Bench.Contenders;

/// <summary>
/// Debian's nginx as a plain round-robin reverse proxy over the same regions: a generated nginx.conf in a
/// scratch directory, <c>nginx -p dir -c nginx.conf -g 'daemon off;'</c> as a child process, killed after.
/// Plain means nginx's defaults for failover (<c>proxy_next_upstream error timeout</c>: a refused or reset
/// connection moves to the next server, a 429 or 500 goes back to the caller) plus what any production
/// config has: upstream keep-alive and no response buffering (so SSE streams flow).
/// </summary>
internal sealed class NginxContender : IContender
{
    private readonly ChildProcess _process;
    private readonly HttpSender _sender;
    private readonly Uri _address;

    private NginxContender(ChildProcess process, Uri address, HttpSender sender)
    {
        _process = process;
        _address = address;
        _sender = sender;
        Proxy = new ProcessMeter(process.Id);
    }

    public string Name => ContenderCatalog.NginxRoundRobin;
    public ProcessMeter? Proxy { get; }

    public static string? FindNginx() => BenchPaths.FindExecutable("nginx");

    public static async Task<NginxContender> StartAsync(SimulatorFleet fleet, TimeSpan requestTimeout)
    {
        var nginx = FindNginx() ?? throw new InvalidOperationException(ContenderCatalog.Unavailable(ContenderCatalog.NginxRoundRobin));
        var port = FreePort.Next();
        var address = new Uri(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}/"));
        var prefix = BenchPaths.Scratch("nginx");
        Directory.CreateDirectory(Path.Combine(prefix, "temp"));
        await File.WriteAllTextAsync(Path.Combine(prefix, "nginx.conf"), Config(fleet, port, requestTimeout));
        var process = ChildProcess.Start("nginx", nginx, ["-p", prefix + "/", "-c", "nginx.conf", "-e", "error.log", "-g", "daemon off;"], prefix);
        try
        {
            await process.WaitUntilReadyAsync(new Uri(address, "nginx-health"), TimeSpan.FromSeconds(20));
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }
        return new NginxContender(process, address, new HttpSender(LoadClient.Shared, fleet.RegionNames, requestTimeout));
    }

    private static string Config(SimulatorFleet fleet, int port, TimeSpan requestTimeout)
    {
        var servers = new StringBuilder();
        foreach (var region in fleet.Regions)
        {
            servers.Append(CultureInfo.InvariantCulture, $"    server 127.0.0.1:{region.Port};\n");
        }
        var timeout = (int)Math.Ceiling(requestTimeout.TotalSeconds);
        return $$"""
            worker_processes auto;
            pid nginx.pid;
            error_log error.log warn;
            events { worker_connections 8192; }
            http {
              access_log off;
              client_body_temp_path temp/body;
              proxy_temp_path temp/proxy;
              fastcgi_temp_path temp/fastcgi;
              uwsgi_temp_path temp/uwsgi;
              scgi_temp_path temp/scgi;
              upstream regions {
            {{servers}}    keepalive 512;
              }
              server {
                listen 127.0.0.1:{{port}};
                location = /nginx-health { return 200 "ok"; }
                location / {
                  proxy_pass http://regions;
                  proxy_http_version 1.1;
                  proxy_set_header Connection "";
                  proxy_buffering off;
                  proxy_read_timeout {{timeout}}s;
                }
              }
            }
            """;
    }

    public Task<Sample> SendAsync(ChatRequest request, long dueTimestamp, CancellationToken cancellationToken)
        => _sender.SendAsync(_address, request, dueTimestamp, cancellationToken);

    public ValueTask DisposeAsync() => _process.DisposeAsync();
}
