using System.Text;
using AoaiAspire.Gateway.Forwarding;
using AoaiAspire.Gateway.Tokens;

namespace AoaiAspire.Tests.Tokens;

public sealed class UsageTests
{
    [Fact]
    public void TryFind_ChatCompletionBody_ReadsUsage()
    {
        var json = """{"id":"x","choices":[{"message":{"content":"the usage word"}}],"usage":{"completion_tokens":5,"prompt_tokens":8,"total_tokens":13,"prompt_tokens_details":{"cached_tokens":0}}}"""u8;
        Assert.True(Usage.TryFind(json, out var usage));
        Assert.Equal(new Usage(8, 5), usage);
    }

    [Fact]
    public void TryFind_NullUsage_NotFound() => Assert.False(Usage.TryFind("""{"choices":[],"usage":null}"""u8, out _));

    [Fact]
    public void TryFind_TruncatedTail_StartingMidDocument_StillReadsUsage()
    {
        var json = """tent":"abc"}}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"""u8;
        Assert.True(Usage.TryFind(json, out var usage));
        Assert.Equal(5, usage.TotalTokens);
    }

    [Fact]
    public void TryFind_EmbeddingsUsage_HasNoCompletion()
    {
        Assert.True(Usage.TryFind("""{"data":[],"usage":{"prompt_tokens":7,"total_tokens":7}}"""u8, out var usage));
        Assert.Equal(new Usage(7, 0), usage);
    }
}

public sealed class TokenEstimatorTests
{
    private static RequestInfo Info(string json)
    {
        Assert.True(RequestInfo.TryParse(Encoding.UTF8.GetBytes(json), false, out var info, out _));
        return info;
    }

    [Fact]
    public void Estimate_MaxTokensTimesN_PlusPrompt()
    {
        var info = Info("""{"messages":[{"role":"user","content":"0123456789012345"}],"max_tokens":100,"n":2}""");
        // prompt: (4 + 16 bytes)/4 = 5, + 4 framing for one message + 3 priming = 12
        Assert.Equal(12, TokenEstimator.PromptTokens(info));
        Assert.Equal(12 + 200, TokenEstimator.Estimate(info, embeddings: false, defaultCompletionTokens: 648));
    }

    [Fact]
    public void Estimate_NoMaxTokens_UsesDefaultCompletion() =>
        Assert.Equal(TokenEstimator.PromptTokens(Info("""{"messages":[]}""")) + 648, TokenEstimator.Estimate(Info("""{"messages":[]}"""), false, 648));

    [Fact]
    public void Estimate_Embeddings_IsCharactersOverFour() =>
        Assert.Equal(3, TokenEstimator.Estimate(Info("""{"input":"hello world!"}"""), embeddings: true, 648));
}

public sealed class SseUsageFilterTests
{
    private const string Content = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n";
    private const string UsageChunk = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":4,\"total_tokens\":13}}\n\n";
    private const string Done = "data: [DONE]\n\n";

    private static async Task<(string Output, SseUsageFilter Filter)> RunAsync(bool drop, string stream, int[] splits)
    {
        var bytes = Encoding.UTF8.GetBytes(stream);
        var output = new MemoryStream();
        var filter = new SseUsageFilter(drop);
        var at = 0;
        foreach (var size in splits.Append(bytes.Length))
        {
            var n = Math.Min(size, bytes.Length - at);
            await filter.ProcessAsync(bytes.AsMemory(at, n), output, CancellationToken.None);
            at += n;
            if (at >= bytes.Length)
            {
                break;
            }
        }
        await filter.CompleteAsync(output, CancellationToken.None);
        return (Encoding.UTF8.GetString(output.ToArray()), filter);
    }

    public static TheoryData<int[]> Splits => new()
    {
        Array.Empty<int>(),
        new[] { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 },
        new[] { 7, 100, 3 },
        new[] { Content.Length + 10, 5 },
        new[] { Content.Length * 2 + UsageChunk.Length - 1, 1 },
    };

    [Theory]
    [MemberData(nameof(Splits))]
    public async Task GatewayAskedUsage_ChunkRemoved_TokensRead(int[] splits)
    {
        var (output, filter) = await RunAsync(drop: true, Content + Content + UsageChunk + Done, splits);
        Assert.Equal(Content + Content + Done, output);
        Assert.Equal(new Usage(9, 4), filter.Usage);
        Assert.True(filter.DroppedUsageChunk);
    }

    [Theory]
    [MemberData(nameof(Splits))]
    public async Task CallerAskedUsage_ChunkKept_TokensRead(int[] splits)
    {
        var (output, filter) = await RunAsync(drop: false, Content + Content + UsageChunk + Done, splits);
        Assert.Equal(Content + Content + UsageChunk + Done, output);
        Assert.Equal(13, filter.Usage!.Value.TotalTokens);
    }

    [Fact]
    public async Task CrLfEvents_Handled()
    {
        var crlf = (Content + UsageChunk + Done).Replace("\n\n", "\r\n\r\n", StringComparison.Ordinal);
        var (output, filter) = await RunAsync(drop: true, crlf, [11]);
        Assert.DoesNotContain("prompt_tokens", output);
        Assert.EndsWith("data: [DONE]\r\n\r\n", output);
        Assert.NotNull(filter.Usage);
    }
}
