using System.Text.Json;
using AoaiAspire.Simulator.Completions;

namespace AoaiAspire.Tests.Simulator;

public sealed class InferenceRequestTests
{
    [Fact]
    public void Parse_ChatMessages_CountsRealTokensPlusOverhead()
    {
        // The texts' o200k tokens, 4 per message, 3 to prime the reply.
        var request = Parse(Operation.ChatCompletions, """{"messages":[{"role":"system","content":"You are a helpful assistant. Be concise."},{"role":"user","content":[{"type":"text","text":"Hi there"}]}]}""");

        Assert.Equal(TokenCount.Of("You are a helpful assistant. Be concise.") + TokenCount.Of("Hi there") + (2 * 4) + 3, request.PromptTokens);
    }

    [Fact]
    public void GeneratedText_IsOneRealTokenPerWord()
    {
        for (var i = 0; i < 60; i++)
        {
            var word = GeneratedText.Tokens(0, i, 1);
            Assert.True(TokenCount.Of(word) == 1 && TokenCount.Of(word.TrimStart()) == 1, $"'{word}' is not one token");
        }
        for (var choice = 0; choice < 3; choice++)
        {
            foreach (var count in new[] { 1, 7, 30, 400 })
            {
                Assert.Equal(count, TokenCount.Of(GeneratedText.Tokens(choice, 0, count)));
            }
        }
    }

    [Fact]
    public void Charge_NoMaxTokens_UsesTheDeploymentDefault()
    {
        var request = Parse(Operation.ChatCompletions, """{"messages":[{"role":"user","content":"abcd"}]}""");

        Assert.Equal(request.PromptTokens + 648, request.Charge(648));
        Assert.Equal(InferenceRequest.DefaultCompletionTokens, request.CompletionTokens);
    }

    [Fact]
    public void Charge_MaxTokensAndN_ChargesEachChoice()
    {
        var request = Parse(Operation.ChatCompletions, """{"messages":[{"role":"user","content":"abcd"}],"max_completion_tokens":100,"n":3}""");

        Assert.Equal(request.PromptTokens + 300, request.Charge(648));
        Assert.Equal(100, request.CompletionTokens);
    }

    [Fact]
    public void Charge_BestOf_ChargesEveryCandidateButAnswersN()
    {
        var request = Parse(Operation.Completions, """{"prompt":"abcd","max_tokens":10,"n":1,"best_of":3}""");

        Assert.Equal(request.PromptTokens + 30, request.Charge(648));
        Assert.Equal(1, request.Choices);
    }

    [Fact]
    public void CompletionTokens_HugeMaxTokens_Capped()
    {
        var request = Parse(Operation.ChatCompletions, """{"messages":[{"role":"user","content":"x"}],"max_tokens":100000}""");

        Assert.Equal(InferenceRequest.MaxCompletionTokens, request.CompletionTokens);
        Assert.Equal(request.PromptTokens + 100000, request.Charge(648));
    }

    [Fact]
    public void Parse_EmbeddingsArray_ChargesRealTokens()
    {
        var request = Parse(Operation.Embeddings, """{"input":["12345678","1234"]}""");

        Assert.Equal(TokenCount.Of("12345678") + TokenCount.Of("1234"), request.PromptTokens);
        Assert.Equal(request.PromptTokens, request.Charge(648));
        Assert.False(request.Stream);
    }

    [Theory]
    [InlineData("""{"messages":[]}""")]
    [InlineData("""{"model":"chat"}""")]
    [InlineData("""[1,2]""")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"max_tokens":0}""")]
    public void Parse_InvalidChatBody_ReturnsError(string json)
    {
        using var document = JsonDocument.Parse(json);

        var request = InferenceRequest.Parse(Operation.ChatCompletions, document.RootElement, out var error);

        Assert.Null(request);
        Assert.False(string.IsNullOrEmpty(error));
    }

    private static InferenceRequest Parse(Operation operation, string json)
    {
        using var document = JsonDocument.Parse(json);
        var request = InferenceRequest.Parse(operation, document.RootElement, out var error);
        Assert.Null(error);
        return request!;
    }
}
