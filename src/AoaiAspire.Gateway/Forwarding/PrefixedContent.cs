using System.Net;

namespace AoaiAspire.Gateway.Forwarding;

/// <summary>
/// A request body sent as a few bytes of prefix followed by (a slice of) the replay buffer: lets the
/// gateway add a member to the caller's JSON object without copying the body.
/// </summary>
internal sealed class PrefixedContent(ReadOnlyMemory<byte> prefix, ReadOnlyMemory<byte> body) : HttpContent
{
    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        await stream.WriteAsync(prefix, cancellationToken).ConfigureAwait(false);
        await stream.WriteAsync(body, cancellationToken).ConfigureAwait(false);
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        => SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override bool TryComputeLength(out long length)
    {
        length = prefix.Length + body.Length;
        return true;
    }
}
