namespace AoaiAspire.AppHost.Tests.Common;

/// <summary>
/// The gateway's replicas, each addressed directly (not through the orchestrator's proxy, which spreads requests over
/// them): the URL each was told to listen on, from its environment as the orchestrator reports it.
/// </summary>
internal static class Replicas
{
    public static async Task<IReadOnlyList<Uri>> GatewayReplicasAsync(DistributedApplication app, int expected)
    {
        var seen = new Dictionary<string, Uri>(StringComparer.Ordinal);
        using var cts = new CancellationTokenSource(RunningAppFixture.WaitTimeout);
        try
        {
            await foreach (var e in app.ResourceNotifications.WatchAsync(cts.Token))
            {
                if (e.Resource.Name != "gateway" || e.Snapshot.State?.Text != KnownResourceStates.Running)
                {
                    continue;
                }

                var urls = e.Snapshot.EnvironmentVariables.FirstOrDefault(v => v.Name == "ASPNETCORE_URLS")?.Value;
                if (urls is null)
                {
                    continue;
                }

                var first = urls.Split(';', StringSplitOptions.RemoveEmptyEntries)[0].Replace("://+:", "://localhost:", StringComparison.Ordinal)
                    .Replace("://*:", "://localhost:", StringComparison.Ordinal);
                seen[e.ResourceId] = new Uri(first);
                if (seen.Count == expected)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            throw new TimeoutException($"Saw {seen.Count} running gateway replica(s) with ASPNETCORE_URLS, expected {expected}.");
        }

        return seen.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => p.Value).ToList();
    }
}
