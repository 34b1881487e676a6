using System.Net;
using System.Text.Json;
using AoaiAspire.AppHost.Tests.Common;
using AoaiAspire.Tests.Common;

namespace AoaiAspire.AppHost.Tests;

/// <summary>
/// What the composition adds over one gateway: replicas that act as one through the AppHost's Redis, and regions that
/// can disappear. Counted on the simulators' own counters (GET /admin/stats), not on what the gateway says.
/// </summary>
[Collection(RunningAppCollection.Name)]
public sealed class SharedStateTests(RunningAppFixture fixture)
{
    [Fact]
    public async Task ThrottleSeenByOneReplicaIsHonouredByTheOther()
    {
        var replicas = await Replicas.GatewayReplicasAsync(fixture.App, 2);
        using var first = new HttpClient { BaseAddress = replicas[0] };
        using var second = new HttpClient { BaseAddress = replicas[1] };
        using var eastus = fixture.App.CreateHttpClient("sim-eastus", "http");

        // The probe would also see eastus throttled (every 5 s) and tell both replicas, which is not the path under test:
        // start right after a probe round, so the first replica meets the 429 itself well before the next one.
        var lastRound = ProbeCheckedAt(await AppClients.BackendsAsync(first));
        await Wait.UntilAsync(
            async () => ProbeCheckedAt(await AppClients.BackendsAsync(first)) != lastRound,
            RunningAppFixture.WaitTimeout, "a probe round should reach the first replica");

        await AppClients.SetFaultsAsync(eastus, """{"ForceThrottle":"00:00:45"}""");
        try
        {
            // The first replica alone meets eastus's 429 (eastus and eastus2 share priority 1); every caller still gets 200.
            var (_, throttledBefore) = await AppClients.SimulatorCountsAsync(eastus);
            for (var i = 0; i < 40 && (await AppClients.SimulatorCountsAsync(eastus)).Throttled == throttledBefore; i++)
            {
                using var response = await AppClients.PostChatAsync(first);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }

            var (requestsAfterFirst, throttledAfterFirst) = await AppClients.SimulatorCountsAsync(eastus);
            Assert.True(throttledAfterFirst > throttledBefore, "the first replica should have been throttled by eastus");

            // The second replica has not sent anything to eastus, yet learns of the throttle through Redis ...
            await Wait.UntilAsync(
                async () => (await AppClients.BackendsAsync(second))["eastus"].GetProperty("throttledUntil").ValueKind == JsonValueKind.String,
                RunningAppFixture.WaitTimeout, "the second replica should see eastus throttled through Redis");

            // ... and honours it: 20 calls, all answered, none of them reaching eastus.
            for (var i = 0; i < 20; i++)
            {
                using var response = await AppClients.PostChatAsync(second);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }

            Assert.Equal((requestsAfterFirst, throttledAfterFirst), await AppClients.SimulatorCountsAsync(eastus));
        }
        finally
        {
            await AppClients.SetFaultsAsync(eastus, "{}");
        }
    }

    private static string? ProbeCheckedAt(Dictionary<string, JsonElement> backends)
        => backends["eastus"].GetProperty("probe").GetProperty("checkedAt").ToString();

    [Fact]
    public async Task SimulatorStoppedThroughTheAppModelIsRoutedAround()
    {
        // The orchestrator's proxy keeps a stopped simulator's port open, so the gateway's first call there waits for its
        // first-byte timeout (20 s for simulated regions) before going elsewhere; the caller is answered all the same.
        using var gateway = new HttpClient { BaseAddress = fixture.App.GetEndpoint("gateway", "http"), Timeout = TimeSpan.FromMinutes(2) };
        var callerTimeout = TimeSpan.FromSeconds(90);
        var stop = await fixture.App.ResourceCommands.ExecuteCommandAsync("sim-eastus2", KnownResourceCommands.StopCommand)
            .WaitAsync(RunningAppFixture.WaitTimeout);
        Assert.True(stop.Success, stop.Message);
        try
        {
            await fixture.App.ResourceNotifications.WaitForResourceAsync(
                    "sim-eastus2", e => KnownResourceStates.TerminalStates.Contains(e.Snapshot.State?.Text))
                .WaitAsync(RunningAppFixture.RestartTimeout);

            // eastus2 is in priority group 1: the gateway meets it down and must answer every caller from elsewhere.
            var backends = new HashSet<string>(StringComparer.Ordinal);
            for (var i = 0; i < 20; i++)
            {
                using var response = await AppClients.PostChatAsync(gateway, timeout: callerTimeout);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                backends.Add(response.Headers.GetValues("x-aoai-backend").Single());
            }

            Assert.DoesNotContain("eastus2", backends);
        }
        finally
        {
            var start = await fixture.App.ResourceCommands.ExecuteCommandAsync("sim-eastus2", KnownResourceCommands.StartCommand)
                .WaitAsync(RunningAppFixture.WaitTimeout);
            Assert.True(start.Success, start.Message);
            // A restart is a new `dotnet run` of the simulator: as slow as a start on a busy machine.
            await fixture.App.ResourceNotifications.WaitForResourceHealthyAsync("sim-eastus2").WaitAsync(RunningAppFixture.RestartTimeout);
        }
    }
}
