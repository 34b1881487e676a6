using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace AoaiAspire.Bench.Processes;

/// <summary>
/// Debian's <c>redis-server</c> as a child process on a free loopback port, no persistence, for gateway
/// replicas that share state; killed on dispose.
/// </summary>
internal sealed class RedisServer : IAsyncDisposable
{
    private readonly ChildProcess _process;

    private RedisServer(ChildProcess process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    /// <summary>The gateway's <c>ConnectionStrings:redis</c> value.</summary>
    public string ConnectionString => string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{Port}");

    public static string? Find() => BenchPaths.FindExecutable("redis-server");

    public static async Task<RedisServer> StartAsync()
    {
        var path = Find() ?? throw new InvalidOperationException("redis-server is not installed; install it, e.g. 'apt-get install redis-server'.");
        var port = FreePort.Next();
        var dir = BenchPaths.Scratch("redis");
        var process = ChildProcess.Start("redis-server", path,
            ["--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir], dir);
        var server = new RedisServer(process, port);
        var deadline = Stopwatch.GetTimestamp() + (15 * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < deadline)
        {
            if (process.HasExited)
            {
                break;
            }
            if (await PingAsync(port))
            {
                return server;
            }
            await Task.Delay(100);
        }
        var output = process.RecentOutput;
        await server.DisposeAsync();
        throw new InvalidOperationException($"redis-server did not answer PING on port {port}:{Environment.NewLine}{output}");
    }

    private static async Task<bool> PingAsync(int port)
    {
        try
        {
            using var client = new TcpClient();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            await client.ConnectAsync(IPAddress.Loopback, port, timeout.Token);
            var stream = client.GetStream();
            await stream.WriteAsync("PING\r\n"u8.ToArray(), timeout.Token);
            var buffer = new byte[16];
            var read = await stream.ReadAsync(buffer, timeout.Token);
            return Encoding.ASCII.GetString(buffer, 0, read).StartsWith("+PONG", StringComparison.Ordinal);
        }
        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException)
        {
            return false;
        }
    }

    public ValueTask DisposeAsync() => _process.DisposeAsync();
}
