using System.Net;
using System.Net.Sockets;
using System.Text;

namespace AoaiAspire.Tests.Common;

/// <summary>A response read off a raw socket: status, headers (lower-case names, repeated ones joined) and the de-chunked body.</summary>
internal sealed record RawResponse(int Status, IReadOnlyDictionary<string, string> Headers, byte[] Body)
{
    public string BodyText => Encoding.UTF8.GetString(Body);

    public string? Header(string name) => Headers.TryGetValue(name.ToLowerInvariant(), out var value) ? value : null;
}

/// <summary>What came back on a raw connection.</summary>
internal readonly record struct RawOutcome(RawResponse? Response, bool ClosedWithoutResponse, bool TimedOut);

/// <summary>
/// HTTP/1.1 over a bare <see cref="TcpClient"/>, for what <see cref="HttpClient"/> will not send: broken framing,
/// duplicate or non-ASCII headers, literal <c>..</c> segments, stalled bodies.
/// </summary>
internal static class RawHttp
{
    /// <summary>Builds a request; <c>Host</c> and <c>Connection: close</c> are added, and <c>Content-Length</c> for a body unless <paramref name="addContentLength"/> is false.</summary>
    public static byte[] Build(string method, string target, IEnumerable<string> headers, byte[]? body, bool addContentLength = true, string version = "HTTP/1.1")
    {
        // The request line goes out as UTF-8 (non-ASCII targets as a client would send them raw); headers as
        // Latin-1, which keeps every char below 256 as one byte so tests can place exact bytes in them.
        var line = Encoding.UTF8.GetBytes(method + " " + target + " " + version + "\r\n");
        var head = new StringBuilder();
        head.Append("Host: 127.0.0.1\r\nConnection: close\r\n");
        foreach (var header in headers)
        {
            head.Append(header).Append("\r\n");
        }
        if (addContentLength && body is not null)
        {
            head.Append("Content-Length: ").Append(body.Length).Append("\r\n");
        }
        head.Append("\r\n");
        byte[] bytes = [.. line, .. Encoding.Latin1.GetBytes(head.ToString())];
        return body is null ? bytes : [.. bytes, .. body];
    }

    /// <summary>
    /// Sends <paramref name="request"/> and reads one response, or until the server closes or <paramref name="timeout"/>.
    /// <paramref name="endSend"/> half-closes after sending (the server sees the body end early).
    /// <paramref name="stallAfterSend"/> keeps the connection open without sending more.
    /// </summary>
    public static async Task<RawOutcome> SendAsync(Uri server, byte[] request, TimeSpan timeout, bool endSend = false, bool isHead = false, CancellationToken cancellationToken = default)
    {
        using var client = new TcpClient();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        await client.ConnectAsync(IPAddress.Loopback, server.Port, cts.Token);
        client.NoDelay = true;
        var stream = client.GetStream();
        try
        {
            await stream.WriteAsync(request, cts.Token);
            if (endSend)
            {
                client.Client.Shutdown(SocketShutdown.Send);
            }
        }
        catch (IOException)
        {
            // The server may answer (413, 400) and close before the whole request is written; read what it said.
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new RawOutcome(null, false, TimedOut: true);
        }

        var received = new MemoryStream();
        var buffer = new byte[16 * 1024];
        while (true)
        {
            if (TryParse(received.GetBuffer().AsSpan(0, (int)received.Length), isHead, out var parsed))
            {
                return new RawOutcome(parsed, false, false);
            }
            int read;
            try
            {
                read = await stream.ReadAsync(buffer, cts.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                return new RawOutcome(null, false, TimedOut: true);
            }
            catch (IOException)
            {
                read = 0;
            }
            if (read == 0)
            {
                // Closed: whatever arrived is the response (a body delimited by the close).
                return received.Length == 0
                    ? new RawOutcome(null, ClosedWithoutResponse: true, false)
                    : new RawOutcome(ParseHead(received.ToArray(), out var bodyStart) is { } head ? head with { Body = received.ToArray()[bodyStart..] } : null, received.Length == 0, false);
            }
            received.Write(buffer, 0, read);
        }
    }

    private static RawResponse? ParseHead(byte[] data, out int bodyStart)
    {
        bodyStart = 0;
        var end = data.AsSpan().IndexOf("\r\n\r\n"u8);
        if (end < 0)
        {
            return null;
        }
        bodyStart = end + 4;
        var lines = Encoding.Latin1.GetString(data, 0, end).Split("\r\n");
        var statusParts = lines[0].Split(' ', 3);
        if (statusParts.Length < 2 || !int.TryParse(statusParts[1], out var status))
        {
            return null;
        }
        var headers = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                continue;
            }
            var name = line[..colon].Trim().ToLowerInvariant();
            var value = line[(colon + 1)..].Trim();
            headers[name] = headers.TryGetValue(name, out var existing) ? existing + "," + value : value;
        }
        return new RawResponse(status, headers, []);
    }

    private static bool TryParse(ReadOnlySpan<byte> data, bool isHead, out RawResponse? response)
    {
        response = null;
        var end = data.IndexOf("\r\n\r\n"u8);
        if (end < 0)
        {
            return false;
        }
        var head = ParseHead(data[..(end + 4)].ToArray(), out var bodyStart);
        if (head is null)
        {
            return false;
        }
        if (head.Status is >= 100 and < 200)
        {
            // 100 Continue: skip it, the real response follows.
            return TryParse(data[bodyStart..], isHead, out response);
        }
        var body = data[bodyStart..];
        if (isHead || head.Status is 204 or 304)
        {
            response = head;
            return true;
        }
        if (head.Header("content-length") is { } length && int.TryParse(length, out var contentLength))
        {
            if (body.Length < contentLength)
            {
                return false;
            }
            response = head with { Body = body[..contentLength].ToArray() };
            return true;
        }
        if (head.Header("transfer-encoding")?.Contains("chunked", StringComparison.OrdinalIgnoreCase) == true)
        {
            var decoded = new List<byte>();
            var at = 0;
            while (true)
            {
                var lineEnd = body[at..].IndexOf("\r\n"u8);
                if (lineEnd < 0)
                {
                    return false;
                }
                var sizeText = Encoding.ASCII.GetString(body.Slice(at, lineEnd)).Split(';')[0].Trim();
                var size = Convert.ToInt32(sizeText, 16);
                at += lineEnd + 2;
                if (size == 0)
                {
                    // Trailers, then an empty line.
                    if (body[at..].IndexOf("\r\n"u8) < 0)
                    {
                        return false;
                    }
                    response = head with { Body = [.. decoded] };
                    return true;
                }
                if (body.Length < at + size + 2)
                {
                    return false;
                }
                decoded.AddRange(body.Slice(at, size));
                at += size + 2;
            }
        }
        return false;
    }
}
