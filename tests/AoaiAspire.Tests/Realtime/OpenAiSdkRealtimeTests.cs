using System.ClientModel;
using System.ClientModel.Primitives;
using System.Text.Json;
using AoaiAspire.Simulator;
using AoaiAspire.Tests.Common;
using OpenAI.Realtime;

namespace AoaiAspire.Tests.Realtime;

#pragma warning disable OPENAI002 // the SDK's realtime client is marked experimental

/// <summary>The official OpenAI .NET SDK's realtime client, pointed at the gateway's v1 endpoint, holds a session through it.</summary>
public sealed class OpenAiSdkRealtimeTests
{
    private const string CallerKey = "sdk-key-0123456789";

    [Fact]
    public async Task SdkRealtimeSessionConfiguresAndCompletesATurnThroughTheGateway()
    {
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("sdk-a"), Simulators.Account("sdk-b")]);
        var settings = Simulators.GatewaySettings(sims, 1, 2);
        settings.Remove("Gateway:AllowAnonymous");
        settings["Gateway:Consumers:sdk:Keys:0"] = CallerKey;
        await using var gateway = await GatewayTestHost.StartAsync(settings);
        sims["sdk-a"].Faults = new FaultOptions { Down = true };

        var client = new RealtimeClient(new ApiKeyCredential(CallerKey), new RealtimeClientOptions { Endpoint = new Uri(gateway.Address, "/openai/v1") });
        using var session = await client.StartConversationSessionAsync("chat", cancellationToken: TestDeadline.Token);
        await session.ConfigureConversationSessionAsync(new RealtimeConversationSessionOptions { Instructions = "Answer in one line." }, TestDeadline.Token);
        await session.StartResponseAsync(TestDeadline.Token);

        var sawCreated = false;
        var sawUpdated = false;
        var text = "";
        JsonElement? usage = null;
        await foreach (var update in session.ReceiveUpdatesAsync(TestDeadline.Token))
        {
            switch (update)
            {
                case RealtimeServerUpdateSessionCreated:
                    sawCreated = true;
                    break;
                case RealtimeServerUpdateSessionUpdated:
                    sawUpdated = true;
                    break;
                case RealtimeServerUpdateResponseOutputTextDelta:
                    text += JsonDocument.Parse(ModelReaderWriter.Write(update)).RootElement.GetProperty("delta").GetString();
                    break;
                case RealtimeServerUpdateError error:
                    throw new InvalidOperationException(ModelReaderWriter.Write(error).ToString());
            }
            if (update is RealtimeServerUpdateResponseDone)
            {
                usage = JsonDocument.Parse(ModelReaderWriter.Write(update)).RootElement.GetProperty("response").GetProperty("usage").Clone();
                break;
            }
        }

        Assert.True(sawCreated && sawUpdated);
        Assert.False(string.IsNullOrWhiteSpace(text));
        Assert.Equal(sims["sdk-b"].Realtime.OutputTokens, usage!.Value.GetProperty("output_tokens").GetInt64());
        // The first-priority region was down: the session was opened on the second, before the SDK saw anything.
        Assert.Equal(0, sims["sdk-a"].Realtime.Sessions);
        Assert.Equal(1, sims["sdk-b"].Realtime.Sessions);
    }
}
