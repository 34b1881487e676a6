using System.Text;
using AoaiAspire.Gateway.Affinity;
using AoaiAspire.Gateway.Forwarding;
using AoaiAspire.Gateway.Responses;
using AoaiAspire.Gateway.Tokens;

namespace AoaiAspire.Tests.Responses;

public sealed class ResponsesUnitTests
{
    [Fact]
    public void TryParse_ResponsesBody_FindsIdsModelTokenAndEstimateInputs()
    {
        var json = """{"model":"assistant","instructions":"Be brief.","input":[{"role":"user","content":"hello"}],"max_output_tokens":50,"previous_response_id":"resp_abc","store":false,"background":true}"""u8;
        Assert.True(RequestInfo.TryParse(json, needModel: true, out var info, out var error), error);
        Assert.Equal("assistant", info.Model);
        Assert.Equal("\"assistant\"", Encoding.UTF8.GetString(json.Slice(info.ModelTokenStart, info.ModelTokenLength)));
        Assert.Equal("resp_abc", Encoding.UTF8.GetString(json.Slice(info.PreviousResponseIdStart, info.PreviousResponseIdLength)));
        Assert.Equal(50, info.MaxTokens);
        Assert.False(info.Store);
        Assert.True(info.Background);
        Assert.Equal("Be brief.".Length + "user".Length + "hello".Length, info.PromptBytes);
        Assert.Equal(2, info.PromptItems); // the instructions and one input item
    }

    [Fact]
    public void TryParse_ConversationObject_FindsItsId()
    {
        var json = """{"model":"m","input":"x","conversation":{"id":"conv_1","x":[1]}}"""u8;
        Assert.True(RequestInfo.TryParse(json, needModel: true, out var info, out _));
        Assert.Equal("conv_1", Encoding.UTF8.GetString(json.Slice(info.ConversationStart, info.ConversationLength)));
    }

    [Fact]
    public void TryRead_ResponsesUsage_ReadsCachedAndReasoningTokens()
    {
        var json = """{"usage":{"input_tokens":120,"input_tokens_details":{"cached_tokens":100},"output_tokens":40,"output_tokens_details":{"reasoning_tokens":16},"total_tokens":160},"user":null}"""u8;
        Assert.True(Usage.TryFind(json, out var usage));
        Assert.Equal(new Usage(120, 40) { CachedTokens = 100, ReasoningTokens = 16 }, usage);
    }

    [Theory]
    [InlineData("""{"id":"resp_1","object":"response"}""", "resp_1")]
    [InlineData("event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\" : \"resp_2\",", "resp_2")]
    [InlineData("""{"id":"resp_3""", null)]
    [InlineData("""{"object":"response"}""", null)]
    public void TryReadId_FindsTheFirstCompleteId(string head, string? expected)
    {
        var found = ResponsesCall.TryReadId(Encoding.UTF8.GetBytes(head), out var id);
        Assert.Equal(expected, found ? Encoding.UTF8.GetString(id) : null);
    }

    [Fact]
    public void Cache_OverCapacity_ForgetsWhatWasNotUsedAndKeepsWhatWas()
    {
        var cache = new AffinityCache(capacity: 4);
        var owner = new AffinityOwner("eastus", "chat", "app", long.MaxValue);
        cache.Set("a", owner);
        cache.Set("b", owner); // generation full (2): a and b become the previous generation
        Assert.True(cache.TryGet("a", 0, out _)); // used: promoted
        cache.Set("c", owner); // current: a, c → full again: b is dropped with the old previous
        Assert.True(cache.TryGet("a", 0, out _));
        Assert.True(cache.TryGet("c", 0, out _));
        Assert.False(cache.TryGet("b", 0, out _));
        Assert.True(cache.Count <= 4);
    }

    [Fact]
    public void Cache_ExpiredOwner_IsGone()
    {
        var cache = new AffinityCache(capacity: 100);
        cache.Set("a", new AffinityOwner("eastus", "chat", "app", ExpiresAtUnixMs: 1_000));
        Assert.True(cache.TryGet("a", 999, out _));
        Assert.False(cache.TryGet("a", 1_000, out _));
        Assert.False(cache.TryGet("a", 0, out _));
    }

    [Fact]
    public void RedisMessage_RoundTrips()
    {
        var change = new AffinityChange("resp_1", new AffinityOwner("eastus", "chat", "app", 42));
        Assert.True(RedisAffinityStore.TryParse(Encoding.UTF8.GetBytes(RedisAffinityStore.Serialize(change, "me")), out var parsed, out var origin));
        Assert.Equal(change, parsed);
        Assert.Equal("me", origin);
        Assert.True(RedisAffinityStore.TryParse(Encoding.UTF8.GetBytes(RedisAffinityStore.Serialize(new AffinityChange("resp_1", null), null)), out var deleted, out _));
        Assert.Null(deleted.Owner);
        Assert.False(RedisAffinityStore.TryParse("not json"u8, out _, out _));
    }
}
