using System.Net;
using System.Text.Json;
using AoaiAspire.AppHost.Tests.Common;
using AoaiAspire.Tests.Common;
using OpenAI.Chat;

namespace AoaiAspire.AppHost.Tests;

/// <summary>
/// The composed app really running (one start for the whole collection): simulated regions behind two gateway
/// replicas, Redis, the probe. Every wait is bounded.
/// </summary>
[Collection(RunningAppCollection.Name)]
public sealed class RunModeTests(RunningAppFixture fixture)
{
    [Fact]
    public async Task EveryResourceIsHealthy()
    {
        var names = RunningAppFixture.AppResourceNames(fixture.App);

        Assert.Equal(
            new[] { "gateway", "health-probe", "redis", "sim-canadaeast", "sim-eastus", "sim-eastus2" },
            names.Order(StringComparer.Ordinal));
        foreach (var name in names)
        {
            var state = await fixture.App.ResourceNotifications.WaitForResourceHealthyAsync(name).WaitAsync(RunningAppFixture.WaitTimeout);
            Assert.Equal(KnownResourceStates.Running, state.Snapshot.State?.Text);
        }
    }

    [Fact]
    public async Task GatewayAnswersAChatCompletionThroughTheOpenAISdk()
    {
        var chat = AppClients.Chat(fixture.App.GetEndpoint("gateway", "http"));

        ChatCompletion completion = await chat.CompleteChatAsync([new UserChatMessage("Say hello.")], new ChatCompletionOptions { MaxOutputTokenCount = 16 });

        Assert.NotEmpty(completion.Content);
        Assert.False(string.IsNullOrWhiteSpace(completion.Content[0].Text));
        Assert.True(completion.Usage.OutputTokenCount > 0);
    }

    [Fact]
    public async Task GatewayStreamsAChatCompletionThroughTheOpenAISdk()
    {
        var chat = AppClients.Chat(fixture.App.GetEndpoint("gateway", "http"));
        using var cts = new CancellationTokenSource(AppClients.RequestTimeout);

        var text = new System.Text.StringBuilder();
        var updates = 0;
        ChatFinishReason? finish = null;
        await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage("Say hello.")], new ChatCompletionOptions { MaxOutputTokenCount = 32 }, cts.Token))
        {
            updates++;
            foreach (var part in update.ContentUpdate)
            {
                text.Append(part.Text);
            }

            finish ??= update.FinishReason;
        }

        Assert.True(updates > 2, $"several chunks expected, got {updates}");
        Assert.NotEqual(0, text.Length);
        Assert.NotNull(finish);
    }

    [Fact]
    public async Task GatewayRejectsAnUnknownCallerKey()
    {
        using var gateway = fixture.App.CreateHttpClient("gateway", "http");

        using var response = await AppClients.PostChatAsync(gateway, "not-a-key-of-this-gateway");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        using var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.True(error.RootElement.TryGetProperty("error", out _));
    }

    [Fact]
    public async Task ProbeVerdictsReachEveryReplica()
    {
        var replicas = await Replicas.GatewayReplicasAsync(fixture.App, 2);

        foreach (var replica in replicas)
        {
            using var client = new HttpClient { BaseAddress = replica };
            await Wait.UntilAsync(async () =>
            {
                var backends = await AppClients.BackendsAsync(client);
                return backends.Count == 3 && backends.Values.All(b =>
                    b.GetProperty("probe").GetProperty("verdict").GetString() == "healthy"
                    && b.GetProperty("probe").GetProperty("checkedAt").ValueKind == JsonValueKind.String);
            }, RunningAppFixture.WaitTimeout, $"replica {replica} should hold the probe's 'healthy' verdict for all three regions");
        }
    }
}
