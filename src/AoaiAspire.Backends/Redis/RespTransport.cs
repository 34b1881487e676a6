using System.Buffers;
using System.IO.Pipelines;
using System.Net.Security;
using System.Net.Sockets;

namespace AoaiAspire.Backends.Redis;

/// <summary>
/// One TCP (optionally TLS) connection to Redis with pipes on both sides; knows how to connect,
/// authenticate and read one reply. Who writes and who reads is up to the owner.
/// </summary>
internal sealed class RespTransport : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly Stream _stream;
    private int _disposed;

    private RespTransport(Socket socket, Stream stream, RedisEndPoint endPoint)
    {
        _socket = socket;
        _stream = stream;
        EndPoint = endPoint;
        Input = PipeReader.Create(stream, new StreamPipeReaderOptions(minimumReadSize: 16 * 1024, leaveOpen: true));
        Output = PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true));
    }

    public RedisEndPoint EndPoint { get; }

    public PipeReader Input { get; }

    public PipeWriter Output { get; }

    /// <summary>
    /// Connects, negotiates TLS if asked, then sends AUTH, SELECT and CLIENT SETNAME, all within
    /// <see cref="RedisConnectionOptions.ConnectTimeout"/>.
    /// </summary>
    public static async Task<RespTransport> ConnectAsync(
        RedisEndPoint endPoint, RedisConnectionOptions options, bool selectDatabase, TimeProvider timeProvider, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(options.ConnectTimeout, timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        RespTransport? transport = null;
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
            await socket.ConnectAsync(endPoint.Host, endPoint.Port, linked.Token);

            Stream stream = new NetworkStream(socket, ownsSocket: false);
            if (options.Ssl)
            {
                var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                stream = ssl;
                await ssl.AuthenticateAsClientAsync(
                    new SslClientAuthenticationOptions { TargetHost = options.SslHost ?? endPoint.Host },
                    linked.Token);
            }

            transport = new RespTransport(socket, stream, endPoint);
            await transport.HandshakeAsync(options, selectDatabase, linked.Token);
            return transport;
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            await DisposeAsync(transport, socket);
            throw new RedisConnectionException($"Connecting to Redis at {endPoint} timed out after {options.ConnectTimeout.TotalMilliseconds:0} ms.");
        }
        catch
        {
            await DisposeAsync(transport, socket);
            throw;
        }
    }

    /// <summary>Writes one command and flushes; for the handshake and pub/sub, not the pipelined path.</summary>
    public async ValueTask SendAsync(string command, object[] args, CancellationToken cancellationToken)
    {
        RespWriter.Write(Output, command, args);
        var flush = await Output.FlushAsync(cancellationToken);
        if (flush.IsCompleted)
        {
            throw new RedisConnectionException($"The connection to Redis at {EndPoint} is closed.");
        }
    }

    /// <summary>Reads the next whole reply.</summary>
    /// <exception cref="RedisConnectionException">The server closed the connection.</exception>
    public async ValueTask<RedisResult> ReadAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var read = await Input.ReadAsync(cancellationToken);
            var buffer = read.Buffer;
            if (RespParser.TryRead(buffer, out var result, out var consumed))
            {
                Input.AdvanceTo(consumed);
                return result;
            }

            // Keep everything, and wait for more bytes before looking again.
            Input.AdvanceTo(buffer.Start, buffer.End);
            if (read.IsCompleted || read.IsCanceled)
            {
                throw new RedisConnectionException($"Redis at {EndPoint} closed the connection.");
            }
        }
    }

    /// <summary>Breaks the connection so pending reads and writes end at once.</summary>
    public void Abort()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }

        _socket.Close();
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Abort();

        // Completing with an error tells the writer not to flush what is left into a dead socket.
        var closed = new RedisConnectionException($"The connection to Redis at {EndPoint} is closed.");
        try
        {
            await Input.CompleteAsync(closed);
            await Output.CompleteAsync(closed);
            await _stream.DisposeAsync();
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or System.Security.Authentication.AuthenticationException)
        {
            // Closing a broken connection; nothing left to save.
        }

        _socket.Dispose();
    }

    private static async ValueTask DisposeAsync(RespTransport? transport, Socket socket)
    {
        if (transport is not null)
        {
            await transport.DisposeAsync();
        }

        socket.Dispose();
    }

    private async Task HandshakeAsync(RedisConnectionOptions options, bool selectDatabase, CancellationToken cancellationToken)
    {
        if (options.Password is not null)
        {
            object[] auth = options.User is null ? [options.Password] : [options.User, options.Password];
            await CallAsync("AUTH", auth, cancellationToken);
        }

        if (selectDatabase && options.DefaultDatabase != 0)
        {
            await CallAsync("SELECT", [options.DefaultDatabase], cancellationToken);
        }

        if (options.ClientName is not null)
        {
            await CallAsync("CLIENT", ["SETNAME", options.ClientName], cancellationToken);
        }
    }

    private async Task CallAsync(string command, object[] args, CancellationToken cancellationToken)
    {
        await SendAsync(command, args, cancellationToken);
        var reply = await ReadAsync(cancellationToken);
        if (reply.IsError)
        {
            // The message is the server's (e.g. "WRONGPASS invalid username-password pair"); it
            // never echoes the password.
            throw new RedisServerException(reply.ErrorMessage!);
        }
    }
}
