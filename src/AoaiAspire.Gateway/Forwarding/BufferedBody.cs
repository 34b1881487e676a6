using System.Buffers;

namespace AoaiAspire.Gateway.Forwarding;

/// <summary>
/// The one copy of a request body the gateway keeps: read once into a pooled buffer (bounded by
/// <c>Gateway:MaxRequestBodySize</c>) so that it can be replayed on another backend. Return it with
/// <see cref="Dispose"/>.
/// </summary>
internal struct BufferedBody : IDisposable
{
    private byte[]? _buffer;

    public int Length { get; private set; }

    public readonly ReadOnlyMemory<byte> Memory => _buffer is null ? ReadOnlyMemory<byte>.Empty : _buffer.AsMemory(0, Length);

    public readonly ReadOnlySpan<byte> Span => _buffer is null ? [] : _buffer.AsSpan(0, Length);

    /// <summary>Reads the whole body; returns false when it exceeds <paramref name="limit"/> bytes.</summary>
    public static async ValueTask<(BufferedBody Body, bool TooLarge)> ReadAsync(HttpRequest request, long limit, CancellationToken cancellationToken)
    {
        var body = new BufferedBody();
        var declared = request.ContentLength;
        if (declared > limit)
        {
            return (body, true);
        }
        if (declared == 0)
        {
            return (body, false);
        }
        var buffer = ArrayPool<byte>.Shared.Rent(declared is > 0 ? (int)declared.Value : 4096);
        var length = 0;
        try
        {
            while (true)
            {
                if (length == buffer.Length)
                {
                    if (length >= limit)
                    {
                        // One more byte would be over the limit: look for it.
                        var probe = new byte[1];
                        if (await request.Body.ReadAsync(probe, cancellationToken).ConfigureAwait(false) > 0)
                        {
                            ArrayPool<byte>.Shared.Return(buffer);
                            return (new BufferedBody(), true);
                        }
                        break;
                    }
                    var larger = ArrayPool<byte>.Shared.Rent((int)Math.Min(limit, (long)buffer.Length * 2));
                    buffer.AsSpan(0, length).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }
                var read = await request.Body.ReadAsync(buffer.AsMemory(length, (int)Math.Min(buffer.Length - length, limit - length + 1)), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }
                length += read;
                if (length > limit)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    return (new BufferedBody(), true);
                }
            }
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
        body._buffer = buffer;
        body.Length = length;
        return (body, false);
    }

    public void Dispose()
    {
        if (_buffer is { } buffer)
        {
            _buffer = null;
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
