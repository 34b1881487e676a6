using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;

namespace AoaiAspire.Bench.LoadGeneration;

/// <summary>
/// Sends one request to one address and reads the whole answer: status, the region that served it
/// (<c>x-ms-region</c>, which the simulators send and every proxy passes on), the gateway's attempt count,
/// the first body byte, and for streams whether <c>data: [DONE]</c> arrived.
/// </summary>
internal sealed class HttpSender(HttpClient client, IReadOnlyList<string> regionNames, TimeSpan requestTimeout)
{
    public const string ApiKey = "bench-key";
    private static readonly MediaTypeHeaderValue Json = new("application/json");
    private static ReadOnlySpan<byte> DoneMarker => "[DONE]"u8;

    public async Task<Sample> SendAsync(Uri baseAddress, ChatRequest request, long startedAt, CancellationToken cancellationToken)
    {
        var sample = new Sample { FirstByteMs = double.NaN, Region = -1, Attempts = 1 };
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(requestTimeout);
        using var message = new HttpRequestMessage(HttpMethod.Post, new Uri(baseAddress, ChatRequest.Path))
        {
            Content = new ByteArrayContent(request.Body) { Headers = { ContentType = Json } },
        };
        message.Headers.TryAddWithoutValidation("api-key", request.ApiKey ?? ApiKey);

        HttpResponseMessage response;
        try
        {
            response = await client.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException)
        {
            return Finish(ref sample, Outcome.Failed, startedAt);
        }

        using (response)
        {
            sample.Status = (short)response.StatusCode;
            sample.Region = RegionOf(response);
            if (response.Headers.TryGetValues("x-aoai-attempts", out var attempts)
                && byte.TryParse(attempts.FirstOrDefault(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var count))
            {
                sample.Attempts = count;
            }

            var buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
            var last = new byte[32];
            var lastLength = 0;
            try
            {
                await using var body = await response.Content.ReadAsStreamAsync(timeout.Token);
                while (true)
                {
                    var read = await body.ReadAsync(buffer, timeout.Token);
                    if (read == 0)
                    {
                        break;
                    }
                    if (double.IsNaN(sample.FirstByteMs))
                    {
                        sample.FirstByteMs = Stopwatch.GetElapsedTime(startedAt).TotalMilliseconds;
                    }
                    lastLength = KeepTail(last, lastLength, buffer.AsSpan(0, read));
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException)
            {
                var ok = (int)response.StatusCode is >= 200 and < 300;
                return Finish(ref sample, ok && request.Stream ? Outcome.StreamBroken : Outcome.Failed, startedAt);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }

            var status = (int)response.StatusCode;
            var outcome = status switch
            {
                >= 200 and < 300 when request.Stream && last.AsSpan(0, lastLength).IndexOf(DoneMarker) < 0 => Outcome.StreamTruncated,
                >= 200 and < 300 => Outcome.Ok,
                429 => Outcome.Throttled,
                _ => Outcome.HttpError,
            };
            return Finish(ref sample, outcome, startedAt);
        }
    }

    private static Sample Finish(ref Sample sample, Outcome outcome, long startedAt)
    {
        sample.Outcome = outcome;
        sample.LatencyMs = Stopwatch.GetElapsedTime(startedAt).TotalMilliseconds;
        sample.Done = true;
        return sample;
    }

    /// <summary>Keeps the last bytes of the body (where <c>[DONE]</c> must be) across reads.</summary>
    private static int KeepTail(byte[] last, int lastLength, ReadOnlySpan<byte> chunk)
    {
        if (chunk.Length >= last.Length)
        {
            chunk[^last.Length..].CopyTo(last);
            return last.Length;
        }
        var keep = Math.Min(lastLength, last.Length - chunk.Length);
        last.AsSpan(lastLength - keep, keep).CopyTo(last);
        chunk.CopyTo(last.AsSpan(keep));
        return keep + chunk.Length;
    }

    private sbyte RegionOf(HttpResponseMessage response)
    {
        if (!response.Headers.TryGetValues("x-ms-region", out var values))
        {
            return -1;
        }
        var region = values.FirstOrDefault();
        for (var i = 0; i < regionNames.Count; i++)
        {
            if (string.Equals(regionNames[i], region, StringComparison.OrdinalIgnoreCase))
            {
                return (sbyte)i;
            }
        }
        return -1;
    }
}
