using System.Text;
using AoaiAspire.Gateway.Forwarding;

namespace AoaiAspire.Tests.Gateway;

public sealed class RequestInfoTests
{
    private static (bool Ok, RequestInfo Info, string? Error) Parse(string json, bool needModel = false)
    {
        var ok = RequestInfo.TryParse(Encoding.UTF8.GetBytes(json), needModel, out var info, out var error);
        return (ok, info, error);
    }

    [Fact]
    public void TryParse_ChatRequest_ReadsFields()
    {
        var (ok, info, _) = Parse("""{"model":"chat","messages":[{"role":"user","content":"hello there"},{"role":"assistant","content":"hi"}],"max_tokens":50,"n":2,"stream":true,"stream_options":{"include_usage":true},"temperature":0.2,"tools":[{"a":{"b":[1,2]}}]}""");
        Assert.True(ok);
        Assert.Equal("chat", info.Model);
        Assert.True(info.Stream);
        Assert.True(info.IncludeUsage);
        Assert.Equal(50, info.MaxTokens);
        Assert.Equal(2, info.Choices);
        Assert.Equal(2, info.PromptItems);
        Assert.Equal("user".Length + "hello there".Length + "assistant".Length + "hi".Length, info.PromptBytes);
    }

    [Fact]
    public void TryParse_MaxCompletionTokens_IsMaxTokens() =>
        Assert.Equal(7, Parse("""{"messages":[],"max_completion_tokens":7}""").Info.MaxTokens);

    [Fact]
    public void TryParse_EmbeddingsInputArray_CountsItems()
    {
        var (ok, info, _) = Parse("""{"input":["abcd","efgh","ij"]}""");
        Assert.True(ok);
        Assert.Equal(3, info.PromptItems);
        Assert.Equal(10, info.PromptBytes);
    }

    [Theory]
    [InlineData("{\"messages\":[", "not valid JSON")]
    [InlineData("[1,2]", "JSON object")]
    [InlineData("\"text\"", "JSON object")]
    [InlineData("{\"stream\":\"yes\"}", "'stream'")]
    [InlineData("{\"max_tokens\":-1}", "'max_tokens'")]
    [InlineData("{\"max_tokens\":99999999999999}", "'max_tokens'")]
    [InlineData("{\"max_tokens\":\"10\"}", "'max_tokens'")]
    [InlineData("{\"n\":0}", "'n'")]
    [InlineData("{\"model\":5}", "'model'")]
    [InlineData("{\"messages\":5}", "'messages'")]
    [InlineData("{\"a\":1} trailing", "not valid JSON")]
    [InlineData("{\"stream_options\":{\"include_usage\":1}}", "include_usage")]
    public void TryParse_BadBody_ExplainsWhy(string json, string expected)
    {
        var (ok, _, error) = Parse(json);
        Assert.False(ok);
        Assert.Contains(expected, error);
    }

    [Fact]
    public void TryParse_InvalidUtf8_Refused()
    {
        var bytes = new byte[] { (byte)'{', (byte)'"', (byte)'a', (byte)'"', (byte)':', (byte)'"', 0xC3, 0x28, (byte)'"', (byte)'}' };
        Assert.False(RequestInfo.TryParse(bytes, false, out _, out var error));
        Assert.Contains("UTF-8", error);
    }

    [Fact]
    public void TryParse_V1WithoutModel_Refused()
    {
        var (ok, _, error) = Parse("""{"messages":[]}""", needModel: true);
        Assert.False(ok);
        Assert.Contains("'model' is required", error);
    }

    [Fact]
    public void TryParse_DeepNesting_RefusedNotCrashed()
    {
        var json = "{\"a\":" + new string('[', 200) + new string(']', 200) + "}";
        Assert.False(Parse(json).Ok);
    }

    [Theory]
    [InlineData("""{"messages":[{"role":"user","content":"hi"},{"role":1}]}""", "messages[1].role")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"max_completion_tokens":"5"}""", "max_completion_tokens")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"max_completion_tokens":200000}""", "max_completion_tokens")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"stream_options":{"include_usage":1}}""", "stream_options.include_usage")]
    public void TryParse_ChatWrongMember_NamesItsParam(string json, string param)
    {
        Assert.False(RequestInfo.TryParse(Encoding.UTF8.GetBytes(json), RequestKind.Chat, false, out _, out var error, out var named));
        Assert.Equal(param, named);
        Assert.Contains($"'{param}'", error);
    }

    [Fact]
    public void TryParse_ChatChecks_CountTheSameTextAsBefore()
    {
        // The checks read role and content as values; their text must still be counted once, as any string in 'messages'.
        var json = Encoding.UTF8.GetBytes("""{"messages":[{"role":"user","content":"hello there"},{"role":"assistant","content":[{"type":"text","text":"hi"}]}]}""");
        Assert.True(RequestInfo.TryParse(json, RequestKind.Chat, false, out var chat, out var error, out _), error);
        Assert.True(RequestInfo.TryParse(json, false, out var any, out _));
        Assert.Equal(any.PromptBytes, chat.PromptBytes);
        Assert.Equal(any.PromptItems, chat.PromptItems);
        Assert.Equal("user".Length + "hello there".Length + "assistant".Length + "text".Length + "hi".Length, chat.PromptBytes);
    }

    [Fact]
    public void TryParse_ValidChatBody_AllocatesNothing()
    {
        var json = Encoding.UTF8.GetBytes("""
            {"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"hi"}]},
            {"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},
            {"role":"tool","tool_call_id":"c","content":"ok"}],
            "temperature":0.7,"top_p":1,"presence_penalty":0,"frequency_penalty":-0.5,"max_tokens":64,"n":1,"stream":true,"stream_options":{"include_usage":true}}
            """);
        Assert.True(RequestInfo.TryParse(json, RequestKind.Chat, false, out _, out var error, out _), error);
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100; i++)
        {
            RequestInfo.TryParse(json, RequestKind.Chat, false, out _, out _, out _);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
