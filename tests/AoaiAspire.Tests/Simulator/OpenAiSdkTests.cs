using System.ClientModel;
using System.Text;
using OpenAI;
using OpenAI.Chat;
using OpenAI.Embeddings;
using static AoaiAspire.Tests.Simulator.SimulatorTestAccounts;

namespace AoaiAspire.Tests.Simulator;

/// <summary>The official OpenAI SDK, pointed at the v1 path, reads what the simulator sends.</summary>
public sealed class OpenAiSdkTests
{
    [Fact]
    public async Task OpenAiSdkCompletesChatStreamsAndEmbedsAgainstTheV1Path()
    {
        var (host, client) = await StartAsync(a => a.ApiKey = null);
        await using var hostScope = host;
        using var clientScope = client;
        var options = new OpenAIClientOptions { Endpoint = new Uri(host.Accounts[0].Endpoint, "openai/v1") };
        var chat = new ChatClient("chat", new ApiKeyCredential("sdk-key"), options);
        var embeddings = new EmbeddingClient("embeddings", new ApiKeyCredential("sdk-key"), options);

        ChatCompletion completion = await chat.CompleteChatAsync(
            [new UserChatMessage("Hello from the SDK")], new ChatCompletionOptions { MaxOutputTokenCount = 4 });
        var streamed = new StringBuilder();
        var streamedOutputTokens = 0;
        await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage("Hello again")], new ChatCompletionOptions { MaxOutputTokenCount = 3 }))
        {
            foreach (var part in update.ContentUpdate)
            {
                streamed.Append(part.Text);
            }

            streamedOutputTokens += update.Usage?.OutputTokenCount ?? 0;
        }

        OpenAIEmbedding embedding = await embeddings.GenerateEmbeddingAsync("vector me");

        Assert.Equal(AoaiAspire.Simulator.Completions.GeneratedText.Tokens(0, 0, 4), completion.Content[0].Text);
        Assert.Equal(ChatFinishReason.Length, completion.FinishReason);
        Assert.Equal(4, completion.Usage.OutputTokenCount);
        Assert.Equal(4 + 4 + 3, completion.Usage.InputTokenCount); // the message's o200k tokens + 4 per message + 3
        Assert.Equal(AoaiAspire.Simulator.Completions.GeneratedText.Tokens(0, 0, 3), streamed.ToString());
        Assert.Equal(3, streamedOutputTokens);
        Assert.Equal(8, embedding.ToFloats().Length);
        Assert.Equal(3, host.Accounts[0].Stats.Succeeded);
    }
}
