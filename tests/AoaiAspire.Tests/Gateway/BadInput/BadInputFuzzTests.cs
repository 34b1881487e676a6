using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text;
using AoaiAspire.Tests.Common;
using Xunit.Abstractions;

namespace AoaiAspire.Tests.Gateway.BadInput;

/// <summary>
/// Thousands of generated malformed requests (a fixed seed; <c>BADINPUT_SEED</c> and <c>BADINPUT_COUNT</c> override)
/// sent concurrently through <see cref="HttpClient"/> and, for a share, raw sockets, with good requests interleaved
/// and after. Each answer must keep the charter; the failure message names the seed and every broken case.
/// </summary>
public sealed class BadInputFuzzTests(BadInputGateway fixture, ITestOutputHelper output) : IClassFixture<BadInputGateway>
{
    public const int DefaultSeed = 20_250_611;
    private const int DefaultCount = 4_000;
    private const int GoodEvery = 20;
    private const double RawShare = 0.2;

    // Regression guard (was a gateway bug, fixed): with the default seed this fails on (1) ~100 Error entries "BadHttpRequestException: Bad chunk size
    // data" from the raw share's bad chunk sizes (the exception handler logs Kestrel's body-read errors at Error), and
    // (2) one 503 (#3867: invalid UTF-8 body sent as multipart is forwarded; the simulator answers 500 — a simulator bug).
    [Fact]
    public async Task GeneratedMalformedRequestsGetClearErrorsWhileGoodRequestsSucceed()
    {
        var seed = int.TryParse(Environment.GetEnvironmentVariable("BADINPUT_SEED"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var s) ? s : DefaultSeed;
        var count = int.TryParse(Environment.GetEnvironmentVariable("BADINPUT_COUNT"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var c) ? c : DefaultCount;
        var generator = new MalformedRequestGenerator(seed);
        var pick = new Random(seed ^ 0x5EED);
        var cases = Enumerable.Range(0, count).Select(i => generator.Next(i, pick.NextDouble() < RawShare)).ToList();

        var mark = fixture.Logs.Mark;
        var failures = new ConcurrentBag<string>();
        var goodFailures = new ConcurrentBag<string>();
        var tally = new ConcurrentDictionary<string, int>();
        var goodCount = 0;
        using var handler = new SocketsHttpHandler { UseCookies = false, AllowAutoRedirect = false, MaxConnectionsPerServer = 16, AutomaticDecompression = DecompressionMethods.None };
        using var client = new HttpClient(handler) { BaseAddress = fixture.Address, Timeout = TimeSpan.FromSeconds(30) };
        using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(3));

        // Every GoodEvery-th slot is a good request, so good traffic runs throughout the bad.
        var slots = Enumerable.Range(0, count + (count / GoodEvery)).ToList();
        await Parallel.ForEachAsync(slots, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = deadline.Token }, async (slot, ct) =>
        {
            if (slot % (GoodEvery + 1) == GoodEvery)
            {
                Interlocked.Increment(ref goodCount);
                if (await fixture.TryGoodRequestAsync(client, ct) is { } bad)
                {
                    goodFailures.Add($"during (slot {slot}): {bad}");
                }
                return;
            }
            var index = slot - (slot / (GoodEvery + 1));
            if (index >= cases.Count)
            {
                return;
            }
            var fuzz = cases[index];
            var (verdict, problem) = fuzz.Raw ? await SendRawAsync(fuzz, ct) : await SendAsync(client, fuzz, ct);
            tally.AddOrUpdate(verdict, 1, (_, n) => n + 1);
            if (problem is not null)
            {
                failures.Add($"{problem} ← {fuzz.Describe()}");
            }
        });

        for (var i = 0; i < 50; i++)
        {
            if (await fixture.TryGoodRequestAsync(client) is { } bad)
            {
                goodFailures.Add($"after: {bad}");
            }
        }

        var errors = fixture.ErrorsSince(mark);
        var report = new StringBuilder()
            .AppendLine(CultureInfo.InvariantCulture, $"seed {seed}, {count} malformed requests ({cases.Count(x => x.Raw)} over raw sockets), {goodCount + 50} good ones")
            .AppendLine("answers: " + string.Join(", ", tally.OrderBy(t => t.Key, StringComparer.Ordinal).Select(t => $"{t.Key} ×{t.Value}")))
            .AppendLine("Warning+ log entries:").AppendLine(fixture.Logs.Summary(mark));
        output.WriteLine(report.ToString());
        var broken = failures.Concat(goodFailures).ToList();
        if (errors.Length > 0)
        {
            var distinct = fixture.Logs.Since(mark, Microsoft.Extensions.Logging.LogLevel.Error).GroupBy(e => e.Message.Split(Environment.NewLine)[0]).Select(g => $"×{g.Count()} {BadInputGateway.Shorten(g.Key)}");
            broken.Add("logged at Error or above:" + Environment.NewLine + string.Join(Environment.NewLine, distinct));
        }
        Assert.True(broken.Count == 0,
            $"seed {seed} (rerun with BADINPUT_SEED={seed}): {failures.Count} bad answers, {goodFailures.Count} failed good requests" + Environment.NewLine
            + report + string.Join(Environment.NewLine, broken.Take(40)));
    }

    private static async Task<(string Verdict, string? Problem)> SendAsync(HttpClient client, FuzzCase fuzz, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(new HttpMethod(fuzz.Method), new Uri(client.BaseAddress!.GetLeftPart(UriPartial.Authority) + fuzz.Target));
        if (fuzz.Body is { } body)
        {
            request.Content = new ByteArrayContent(body);
            request.Content.Headers.ContentType = null;
        }
        foreach (var (name, value) in fuzz.Headers)
        {
            if (!request.Headers.TryAddWithoutValidation(name, value))
            {
                request.Content?.Headers.TryAddWithoutValidation(name, value);
            }
        }
        HttpResponseMessage response;
        try
        {
            response = await client.SendAsync(request, cancellationToken);
        }
        catch (HttpRequestException ex)
        {
            return ("no answer", "no answer: " + ex.Message);
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return ("timeout", "no answer within the client timeout");
        }
        using (response)
        {
            var bytes = await response.Content.ReadAsByteArrayAsync(cancellationToken);
            var fromBackend = response.Headers.Contains("x-aoai-backend");
            var status = (int)response.StatusCode;
            if (bytes.Length == 0 && !fromBackend && status == 400 && response.Content.Headers.ContentType is null)
            {
                // Kestrel refused the request line itself (an encoded NUL in the path): the gateway never saw it,
                // so it cannot shape the error. Counted and reported apart.
                return ("400 kestrel (empty)", null);
            }
            var problem = Charter.Check(status, response.Content.Headers.ContentType?.ToString(), bytes, fromBackend, fuzz.Method == "HEAD", allowBackend2xx: true,
                allowGateway2xx: fuzz.Method is "GET" or "get" && fuzz.Target.Contains("models", StringComparison.Ordinal));
            return ($"{status} {(fromBackend ? "backend" : "gateway")}", problem);
        }
    }

    private async Task<(string Verdict, string? Problem)> SendRawAsync(FuzzCase fuzz, CancellationToken cancellationToken)
    {
        var headers = fuzz.Headers.Select(h => h.Key + ": " + h.Value).ToList();
        var body = fuzz.Body ?? [];
        byte[] request;
        switch (fuzz.Framing)
        {
            case Framing.LengthTooSmall:
                request = [.. RawHttp.Build(fuzz.Method, fuzz.Target, [.. headers, $"Content-Length: {body.Length / 2}"], null), .. body];
                break;
            case Framing.Chunked:
            case Framing.ChunkedBadSize:
                var size = fuzz.Framing == Framing.Chunked ? body.Length.ToString("x", CultureInfo.InvariantCulture) : "g" + body.Length;
                request = [.. RawHttp.Build(fuzz.Method, fuzz.Target, [.. headers, "Transfer-Encoding: chunked"], null),
                    .. Encoding.ASCII.GetBytes(size + "\r\n"), .. body, .. "\r\n0\r\n\r\n"u8.ToArray()];
                break;
            case Framing.DuplicateKeyHeader:
                request = RawHttp.Build(fuzz.Method, fuzz.Target, [.. headers, "api-key: wrong-duplicate-0123456789"], body);
                break;
            case Framing.LfOnly:
                var crlf = RawHttp.Build(fuzz.Method, fuzz.Target, [.. headers, $"Content-Length: {body.Length}"], null);
                request = [.. Encoding.Latin1.GetBytes(Encoding.Latin1.GetString(crlf).Replace("\r\n", "\n", StringComparison.Ordinal)), .. body];
                break;
            case Framing.HeaderWithoutColon:
                request = RawHttp.Build(fuzz.Method, fuzz.Target, [.. headers, "NoColonHere"], body);
                break;
            default:
                request = RawHttp.Build(fuzz.Method, fuzz.Target, headers, body);
                break;
        }
        var outcome = await RawHttp.SendAsync(fixture.Address, request, TimeSpan.FromSeconds(30), isHead: fuzz.Method == "HEAD", cancellationToken: cancellationToken);
        if (outcome.Response is not { } response)
        {
            return outcome.TimedOut ? ("raw timeout", "raw: no answer within 30 s") : ("raw closed", "raw: connection closed without a response");
        }
        var fromBackend = response.Header("x-aoai-backend") is not null;
        if (response.Body.Length == 0 && !fromBackend && response.Status is 400 or 414 or 431 && response.Header("content-type") is null)
        {
            // Kestrel's own refusal of broken framing, before the gateway saw the request.
            return ($"raw {response.Status} kestrel (empty)", null);
        }
        var problem = Charter.Check(response.Status, response.Header("content-type"), response.Body, fromBackend, fuzz.Method == "HEAD", allowBackend2xx: true,
            allowGateway2xx: fuzz.Method is "GET" or "get" && fuzz.Target.Contains("models", StringComparison.Ordinal));
        return ($"raw {response.Status} {(fromBackend ? "backend" : "gateway")}", problem is null ? null : "raw: " + problem);
    }
}
