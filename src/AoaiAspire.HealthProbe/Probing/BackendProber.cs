using AoaiAspire.Backends.Upstream;
using System.Net;
using AoaiAspire.Backends.Configuration;
using AoaiAspire.Backends.State;
using AoaiAspire.HealthProbe.Configuration;
using Azure.Identity;
using Microsoft.Extensions.Options;

namespace AoaiAspire.HealthProbe.Probing;

/// <summary>
/// Probes one backend: one GET of <see cref="HealthProbeOptions.Path"/> with the backend's credentials,
/// no retry, and a verdict from what came back.
/// </summary>
/// <remarks>
/// Verdicts: 2xx healthy; 429 throttled until <c>retry-after-ms</c> / <c>retry-after</c> (else
/// <see cref="HealthProbeOptions.ThrottleDefault"/>); 401 and 403 an authentication failure, as is an
/// Entra ID token that cannot be had; 5xx and every other status erroring, with the status; a refused,
/// reset or dropped connection, or no answer within <see cref="HealthProbeOptions.Timeout"/>, unreachable.
/// Errors are values: only the caller's cancellation escapes.
/// </remarks>
internal sealed class BackendProber(
    ProbeHttpClient http, UpstreamCredentials credentials, IBackendStateStore store, IOptionsMonitor<HealthProbeOptions> options, TimeProvider time)
{
    public async Task<ProbeOutcome> ProbeAsync(BackendDefinition backend, CancellationToken cancellationToken)
    {
        var settings = options.CurrentValue;
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(backend.Endpoint, settings.Path.TrimStart('/')));
        try
        {
            // Before the clock starts: a token from the identity endpoint is not the backend's latency.
            await credentials.ApplyAsync(request, backend, cancellationToken).ConfigureAwait(false);
        }
        catch (AuthenticationFailedException ex)
        {
            return Outcome(backend, HealthStatus.AuthFailure, TimeSpan.Zero, null, 0, $"no Entra ID token ({ex.GetType().Name})");
        }

        using var timeout = new CancellationTokenSource(settings.Timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        var started = time.GetTimestamp();
        try
        {
            using var response = await http.Invoker.SendAsync(request, linked.Token).ConfigureAwait(false);
            // Read the (small) body so the connection can be reused and the latency is the whole answer's.
            await response.Content.CopyToAsync(Stream.Null, linked.Token).ConfigureAwait(false);
            var latency = time.GetElapsedTime(started);
            var (status, retryAt, detail) = Classify(response, time.GetUtcNow(), settings.ThrottleDefault);
            return Outcome(backend, status, latency, (int)response.StatusCode, retryAt, detail);
        }
        catch (Exception ex) when ((ex is Polly.Timeout.TimeoutRejectedException || (ex is OperationCanceledException && timeout.IsCancellationRequested))
            && !cancellationToken.IsCancellationRequested)
        {
            // Our own timeout or the resilience handler's attempt timeout (set to the same value).
            return Outcome(backend, HealthStatus.Unreachable, time.GetElapsedTime(started), null, 0, $"no answer within {settings.Timeout.TotalSeconds:0.###} s");
        }
        catch (HttpRequestException ex)
        {
            return Outcome(backend, HealthStatus.Unreachable, time.GetElapsedTime(started), null, 0, $"connection failed ({ex.HttpRequestError})");
        }
        catch (IOException)
        {
            return Outcome(backend, HealthStatus.Unreachable, time.GetElapsedTime(started), null, 0, "connection lost while reading the answer");
        }
    }

    /// <summary>The verdict on an answer: status, when a throttle ends (unix ms, 0 when not throttled), and why.</summary>
    internal static (HealthStatus Status, long RetryAtUnixMs, string Detail) Classify(HttpResponseMessage response, DateTimeOffset now, TimeSpan throttleDefault)
    {
        var code = (int)response.StatusCode;
        switch (code)
        {
            case >= 200 and < 300:
                return (HealthStatus.Healthy, 0, $"HTTP {code}");
            case (int)HttpStatusCode.TooManyRequests:
                var wait = RetryAfter.Parse(response.Headers, now);
                var retryAt = now + (wait ?? throttleDefault);
                return (HealthStatus.Throttled, retryAt.ToUnixTimeMilliseconds(),
                    wait is null ? $"HTTP 429 without Retry-After; assumed {throttleDefault.TotalSeconds:0.###} s" : $"HTTP 429, retry after {wait.Value.TotalSeconds:0.###} s");
            case (int)HttpStatusCode.Unauthorized or (int)HttpStatusCode.Forbidden:
                return (HealthStatus.AuthFailure, 0, $"HTTP {code}");
            default:
                // 5xx, and 4xx such as a 404 on a wrong path: the probe cannot say the backend works.
                return (HealthStatus.Erroring, 0, $"HTTP {code}");
        }
    }

    private ProbeOutcome Outcome(BackendDefinition backend, HealthStatus status, TimeSpan latency, int? httpStatus, long retryAtUnixMs, string detail)
        => new(new BackendHealthReport(
            backend.Name, status, time.GetUtcNow().ToUnixTimeMilliseconds(), Math.Round(latency.TotalMilliseconds, 3), retryAtUnixMs, httpStatus, store.InstanceId), detail);
}
