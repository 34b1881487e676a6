using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;

namespace AoaiAspire.Gateway.Responses;

/// <summary>
/// A Responses body with its <c>model</c> replaced by the backend's own deployment name: the v1 API is account-wide
/// and takes the deployment from the body, so a logical deployment that a backend serves under another name needs
/// it rewritten. Sent as three slices (before, the new string token, after): nothing of the body is copied.
/// </summary>
internal sealed class ModelRewriteContent : HttpContent
{
    private static readonly ConcurrentDictionary<string, byte[]> Tokens = new(StringComparer.Ordinal);

    private readonly ReadOnlyMemory<byte> _before, _model, _after;

    private ModelRewriteContent(ReadOnlyMemory<byte> before, ReadOnlyMemory<byte> model, ReadOnlyMemory<byte> after)
        => (_before, _model, _after) = (before, model, after);

    public static ModelRewriteContent Create(ReadOnlyMemory<byte> body, int tokenStart, int tokenLength, string upstreamDeployment)
    {
        // The JSON string token for each upstream name, made once (deployment names are few).
        var token = Tokens.GetOrAdd(upstreamDeployment, static name => JsonSerializer.SerializeToUtf8Bytes(name));
        return new ModelRewriteContent(body[..tokenStart], token, body[(tokenStart + tokenLength)..]);
    }

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        await stream.WriteAsync(_before, cancellationToken).ConfigureAwait(false);
        await stream.WriteAsync(_model, cancellationToken).ConfigureAwait(false);
        await stream.WriteAsync(_after, cancellationToken).ConfigureAwait(false);
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override bool TryComputeLength(out long length)
    {
        length = _before.Length + _model.Length + _after.Length;
        return true;
    }
}
