using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace AoaiAspire.Tests.Common;

/// <summary>
/// A real <c>redis-server</c> on a free loopback port, for one test class (<c>IClassFixture</c>) or
/// one test (<c>await using</c>). No persistence. <see cref="StopAsync"/> kills it,
/// <see cref="RestartAsync"/> brings it back on the same port with an empty dataset.
/// </summary>
/// <remarks>
/// <c>redis-server</c> is looked up on PATH (or the <c>REDIS_SERVER</c> environment variable).
/// When it is missing the tests fail, on purpose, saying so: CI installs it.
/// </remarks>
public class RedisServerFixture : IAsyncLifetime, IAsyncDisposable
{
    private static readonly TimeSpan StartDeadline = TimeSpan.FromSeconds(15);

    private readonly StringBuilder _output = new();
    private Process? _process;

    /// <summary>The <c>requirepass</c> of the server, or null (set before the first start).</summary>
    public string? Password { get; init; }

    /// <summary>Chosen on the first start and kept across restarts.</summary>
    public int Port { get; private set; }

    public bool IsRunning => _process is { HasExited: false };

    /// <summary><c>127.0.0.1:port[,password=…]</c>, short timeouts suited to tests.</summary>
    public string ConnectionString =>
        $"127.0.0.1:{Port},abortConnect=false,connectTimeout=2000,syncTimeout=5000" + (Password is null ? string.Empty : $",password={Password}");

    /// <summary>A TCP port nobody listens on right now (the OS picks it).</summary>
    public static int GetFreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    /// <summary>Starts the server (on a new free port the first time) and waits until it answers PING.</summary>
    public async Task StartAsync()
    {
        if (IsRunning)
        {
            return;
        }

        var firstStart = Port == 0;
        for (var attempt = 1; ; attempt++)
        {
            if (firstStart)
            {
                Port = GetFreePort();
            }

            try
            {
                await StartOnceAsync();
                return;
            }
            catch (InvalidOperationException) when (firstStart && attempt < 3)
            {
                // Someone took the port between GetFreePort and the bind: pick another.
            }
        }
    }

    /// <summary>Kills the server (no shutdown handshake, like a crash) and waits for it to exit.</summary>
    public async Task StopAsync()
    {
        var process = _process;
        _process = null;
        if (process is null)
        {
            return;
        }

        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            await process.WaitForExitAsync();
        }
        finally
        {
            process.Dispose();
        }
    }

    /// <summary>Kills the server and starts it again on the same port.</summary>
    public async Task RestartAsync()
    {
        await StopAsync();
        await StartAsync();
    }

    Task IAsyncLifetime.InitializeAsync() => StartAsync();

    Task IAsyncLifetime.DisposeAsync() => StopAsync();

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        GC.SuppressFinalize(this);
    }

    private static string FindRedisServer()
    {
        var configured = Environment.GetEnvironmentVariable("REDIS_SERVER");
        if (!string.IsNullOrEmpty(configured))
        {
            return File.Exists(configured)
                ? configured
                : throw new InvalidOperationException($"REDIS_SERVER points to '{configured}', which does not exist.");
        }

        foreach (var directory in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            foreach (var name in new[] { "redis-server", "redis-server.exe" })
            {
                var candidate = Path.Combine(directory, name);
                if (File.Exists(candidate))
                {
                    return candidate;
                }
            }
        }

        throw new FileNotFoundException(
            "redis-server was not found on PATH. The Redis tests need a real server: install Redis 6 or later " +
            "(e.g. 'apt-get install redis-server') or set REDIS_SERVER to the executable.");
    }

    private async Task StartOnceAsync()
    {
        var info = new ProcessStartInfo(FindRedisServer())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "--port", Port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no" })
        {
            info.ArgumentList.Add(arg);
        }

        if (Password is not null)
        {
            info.ArgumentList.Add("--requirepass");
            info.ArgumentList.Add(Password);
        }

        lock (_output)
        {
            _output.Clear();
        }

        var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => Capture(e.Data);
        process.ErrorDataReceived += (_, e) => Capture(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;

        var deadline = DateTime.UtcNow + StartDeadline;
        while (true)
        {
            if (process.HasExited)
            {
                _process = null;
                process.Dispose();
                throw new InvalidOperationException($"redis-server exited during start on port {Port}:\n{CapturedOutput()}");
            }

            if (await AnswersPingAsync())
            {
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                await StopAsync();
                throw new TimeoutException($"redis-server did not answer PING on port {Port} within {StartDeadline.TotalSeconds} s:\n{CapturedOutput()}");
            }

            await Task.Delay(20);
        }
    }

    // Raw RESP so the fixture does not depend on the client under test.
    private async Task<bool> AnswersPingAsync()
    {
        try
        {
            using var client = new TcpClient();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            await client.ConnectAsync(IPAddress.Loopback, Port, timeout.Token);
            var stream = client.GetStream();
            await stream.WriteAsync("PING\r\n"u8.ToArray(), timeout.Token);
            var buffer = new byte[64];
            var read = await stream.ReadAsync(buffer, timeout.Token);
            var reply = Encoding.ASCII.GetString(buffer, 0, read);
            return reply.StartsWith("+PONG", StringComparison.Ordinal) || reply.StartsWith("-NOAUTH", StringComparison.Ordinal);
        }
        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException)
        {
            return false;
        }
    }

    private void Capture(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            if (_output.Length < 16 * 1024)
            {
                _output.AppendLine(line);
            }
        }
    }

    private string CapturedOutput()
    {
        lock (_output)
        {
            return _output.ToString();
        }
    }
}

/// <summary>A <see cref="RedisServerFixture"/> with <c>requirepass</c> set.</summary>
public sealed class PasswordRedisServerFixture : RedisServerFixture
{
    public const string TestPassword = "s3cret-test-pass";

    public PasswordRedisServerFixture() => Password = TestPassword;
}
