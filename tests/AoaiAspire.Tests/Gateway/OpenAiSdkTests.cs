using System.ClientModel;
using AoaiAspire.Simulator;
using AoaiAspire.Tests.Common;
using OpenAI;
using OpenAI.Chat;
using OpenAI.Embeddings;

namespace AoaiAspire.Tests.Gateway;

/// <summary>The official OpenAI .NET SDK, pointed at the gateway's v1 endpoint, works unchanged.</summary>
public sealed class OpenAiSdkTests
{
    [Fact]
    public async Task OfficialSdkDoesChatStreamingChatAndEmbeddingsThroughTheGateway()
    {
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("eastus"), Simulators.Account("canadaeast")]);
        var settings = Simulators.GatewaySettings(sims, 1, 2);
        settings.Remove("Gateway:AllowAnonymous");
        settings["Gateway:Consumers:sdk:Keys:0"] = "sdk-caller-key-123456";
        await using var gateway = await GatewayTestHost.StartAsync(settings);
        // The primary throttles: the SDK must never see it.
        sims["eastus"].Faults = new FaultOptions { ForceThrottle = TimeSpan.FromSeconds(60) };

        var options = new OpenAIClientOptions { Endpoint = new Uri(gateway.Address, "/openai/v1/") };
        var credential = new ApiKeyCredential("sdk-caller-key-123456");

        var chat = new ChatClient("chat", credential, options);
        ChatCompletion completion = await chat.CompleteChatAsync([new UserChatMessage("Hello, gateway")], new ChatCompletionOptions { MaxOutputTokenCount = 8 });
        Assert.False(string.IsNullOrWhiteSpace(completion.Content[0].Text));
        Assert.True(completion.Usage.OutputTokenCount > 0);

        var text = new System.Text.StringBuilder();
        var updates = 0;
        await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage("Stream, please")], new ChatCompletionOptions { MaxOutputTokenCount = 6 }))
        {
            updates++;
            foreach (var part in update.ContentUpdate)
            {
                text.Append(part.Text);
            }
        }
        Assert.True(updates > 2);
        Assert.False(string.IsNullOrWhiteSpace(text.ToString()));

        var embeddings = new EmbeddingClient("embeddings", credential, options);
        OpenAIEmbedding embedding = await embeddings.GenerateEmbeddingAsync("vectors through a gateway");
        Assert.True(embedding.ToFloats().Length > 0);

        Assert.Equal(3, sims["canadaeast"].Stats.Succeeded);
    }
}
