using System.Net;
using System.Text;
using System.Text.Json;
using Xunit.Abstractions;

namespace AoaiAspire.Tests.Gateway.BadInput;

/// <summary>
/// Members of the wrong type or out of range (docs/bad-input.md, "What the gateway refuses"): the gateway answers Azure
/// OpenAI's 400 naming the member, before any backend or quota is spent; the simulator, asked directly, answers the
/// same 400 with the same param; valid edge cases still reach a backend.
/// </summary>
public sealed class WrongTypeTests(BadInputGateway fixture, ITestOutputHelper output) : IClassFixture<BadInputGateway>
{
    private const string Chat = "/openai/deployments/chat/chat/completions?api-version=2024-10-21";
    private const string Completions = "/openai/deployments/chat/completions?api-version=2024-10-21";
    private const string Embeddings = "/openai/deployments/embeddings/embeddings?api-version=2024-10-21";
    private const string Responses = "/openai/v1/responses";
    private const string Hi = """{"role":"user","content":"hi"}""";

    /// <summary>name → (path, body, param the 400 must name).</summary>
    private static readonly Dictionary<string, (string Path, string Body, string Param)> Bad = new(StringComparer.Ordinal)
    {
        ["messages-string"] = (Chat, """{"messages":"x"}""", "messages"),
        ["messages-object"] = (Chat, """{"messages":{"role":"user","content":"hi"}}""", "messages"),
        ["messages-number"] = (Chat, """{"messages":5}""", "messages"),
        ["messages-missing"] = (Chat, """{"max_tokens":5}""", "messages"),
        ["messages-null"] = (Chat, """{"messages":null}""", "messages"),
        ["messages-empty"] = (Chat, """{"messages":[]}""", "messages"),
        ["messages-item-null"] = (Chat, """{"messages":[null]}""", "messages[0]"),
        ["messages-item-string"] = (Chat, $$"""{"messages":[{{Hi}},"x"]}""", "messages[1]"),
        ["messages-item-array"] = (Chat, """{"messages":[[]]}""", "messages[0]"),
        ["role-number"] = (Chat, """{"messages":[{"role":1,"content":"hi"}]}""", "messages[0].role"),
        ["role-null"] = (Chat, """{"messages":[{"role":null,"content":"hi"}]}""", "messages[0].role"),
        ["role-unknown"] = (Chat, $$"""{"messages":[{{Hi}},{"role":"robot","content":"hi"}]}""", "messages[1].role"),
        ["role-wrong-case"] = (Chat, """{"messages":[{"role":"User","content":"hi"}]}""", "messages[0].role"),
        ["role-missing"] = (Chat, """{"messages":[{"content":"hi"}]}""", "messages[0].role"),
        ["content-object"] = (Chat, """{"messages":[{"role":"user","content":{}}]}""", "messages[0].content"),
        ["content-number"] = (Chat, """{"messages":[{"role":"user","content":42}]}""", "messages[0].content"),
        ["content-boolean"] = (Chat, """{"messages":[{"role":"user","content":true}]}""", "messages[0].content"),
        ["temperature-string"] = (Chat, $$"""{"messages":[{{Hi}}],"temperature":"hot"}""", "temperature"),
        ["temperature-above-2"] = (Chat, $$"""{"messages":[{{Hi}}],"temperature":2.01}""", "temperature"),
        ["temperature-negative"] = (Chat, $$"""{"messages":[{{Hi}}],"temperature":-0.1}""", "temperature"),
        ["temperature-huge"] = (Chat, $$"""{"messages":[{{Hi}}],"temperature":1e400}""", "temperature"),
        ["top-p-above-1"] = (Chat, $$"""{"messages":[{{Hi}}],"top_p":1.5}""", "top_p"),
        ["top-p-array"] = (Chat, $$"""{"messages":[{{Hi}}],"top_p":[1]}""", "top_p"),
        ["presence-penalty-below-minus-2"] = (Chat, $$"""{"messages":[{{Hi}}],"presence_penalty":-2.5}""", "presence_penalty"),
        ["frequency-penalty-string"] = (Chat, $$"""{"messages":[{{Hi}}],"frequency_penalty":"0"}""", "frequency_penalty"),
        ["stream-string"] = (Chat, $$"""{"messages":[{{Hi}}],"stream":"true"}""", "stream"),
        ["max-tokens-string"] = (Chat, $$"""{"messages":[{{Hi}}],"max_tokens":"16"}""", "max_tokens"),
        ["max-tokens-decimal"] = (Chat, $$"""{"messages":[{{Hi}}],"max_tokens":1.5}""", "max_tokens"),
        ["max-tokens-integral-decimal"] = (Chat, $$"""{"messages":[{{Hi}}],"max_tokens":16.0}""", "max_tokens"),
        ["max-completion-tokens-zero"] = (Chat, $$"""{"messages":[{{Hi}}],"max_completion_tokens":0}""", "max_completion_tokens"),
        ["n-string"] = (Chat, $$"""{"messages":[{{Hi}}],"n":"2"}""", "n"),
        ["n-too-many"] = (Chat, $$"""{"messages":[{{Hi}}],"n":129}""", "n"),
        ["completions-prompt-object"] = (Completions, """{"prompt":{"text":"hi"}}""", "prompt"),
        ["completions-temperature-boolean"] = (Completions, """{"prompt":"hi","temperature":true}""", "temperature"),
        ["embeddings-input-missing"] = (Embeddings, """{"dimensions":8}""", "input"),
        ["embeddings-input-number"] = (Embeddings, """{"input":5}""", "input"),
        ["embeddings-input-object"] = (Embeddings, """{"input":{"text":"x"}}""", "input"),
        ["embeddings-input-item-object"] = (Embeddings, """{"input":["a",{"text":"x"}]}""", "input"),
        ["embeddings-input-item-null"] = (Embeddings, """{"input":[null]}""", "input"),
        ["embeddings-input-nested-string"] = (Embeddings, """{"input":[[1,"x"]]}""", "input"),
        ["responses-input-number"] = (Responses, """{"model":"chat","input":5}""", "input"),
        ["responses-temperature-string"] = (Responses, """{"model":"chat","input":"hi","temperature":"hot"}""", "temperature"),
        ["responses-top-p-above-1"] = (Responses, """{"model":"chat","input":"hi","top_p":2}""", "top_p"),
    };

    /// <summary>name → (path, body): valid edge cases that must reach a backend and succeed.</summary>
    private static readonly Dictionary<string, (string Path, string Body)> Good = new(StringComparer.Ordinal)
    {
        ["content-null-with-tool-calls"] = (Chat, """
            {"messages":[{"role":"user","content":"weather?"},
            {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"weather","arguments":"{}"}}]},
            {"role":"tool","tool_call_id":"call_1","content":"sunny"}],"max_tokens":5}
            """),
        ["content-array-of-parts"] = (Chat, """{"messages":[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"text","text":"there"}]}],"max_tokens":5}"""),
        ["every-role"] = (Chat, """{"messages":[{"role":"system","content":"s"},{"role":"developer","content":"d"},{"role":"user","content":"u"},{"role":"assistant","content":"a"}],"max_tokens":5}"""),
        ["temperature-0"] = (Chat, $$"""{"messages":[{{Hi}}],"temperature":0,"max_tokens":5}"""),
        ["temperature-2"] = (Chat, $$"""{"messages":[{{Hi}}],"temperature":2,"max_tokens":5}"""),
        ["temperature-decimal-and-nulls"] = (Chat, $$"""{"messages":[{{Hi}}],"temperature":0.7,"top_p":null,"stream":null,"max_tokens":null,"n":null}"""),
        ["top-p-0-and-1"] = (Chat, $$"""{"messages":[{{Hi}}],"top_p":0,"max_tokens":5}"""),
        ["penalties-at-limits"] = (Chat, $$"""{"messages":[{{Hi}}],"presence_penalty":-2,"frequency_penalty":2.0,"max_tokens":5}"""),
        ["unknown-members-left-alone"] = (Chat, $$"""{"messages":[{{Hi}}],"seed":7,"user":"u","logit_bias":{"50256":-100},"max_tokens":5}"""),
        ["completions-prompt-array"] = (Completions, """{"prompt":["hi","there"],"temperature":1,"max_tokens":5}"""),
        ["embeddings-input-string"] = (Embeddings, """{"input":"hello"}"""),
        ["embeddings-input-token-arrays"] = (Embeddings, """{"input":[[1,2,3],[4]]}"""),
        ["embeddings-input-token-ids"] = (Embeddings, """{"input":[1,2,3]}"""),
    };

    public static TheoryData<string> BadCases => [.. Bad.Keys];

    public static TheoryData<string> GoodCases => [.. Good.Keys];

    [Theory]
    [MemberData(nameof(BadCases))]
    public async Task WrongTypeIsRefusedByTheGatewayNamingTheParamWithoutReachingABackend(string name)
    {
        var (path, body, param) = Bad[name];
        var before = fixture.Sims.Accounts.Sum(a => a.Stats.Requests);
        using var response = await SendAsync(fixture.Gateway.Client, path, body, BadInputGateway.Key);
        var text = await response.Content.ReadAsStringAsync();
        output.WriteLine($"{(int)response.StatusCode} {text}");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.False(response.Headers.Contains("x-aoai-backend"), "the answer came from a backend");
        Assert.Equal(before, fixture.Sims.Accounts.Sum(a => a.Stats.Requests));
        AssertAzureError(response, text, "BadRequest", param);
    }

    [Theory]
    [MemberData(nameof(BadCases))]
    public async Task WrongTypeIsRefusedByTheSimulatorWithTheSameParam(string name)
    {
        var (path, body, param) = Bad[name];
        var account = fixture.Sims["a"];
        using var client = new HttpClient { BaseAddress = account.Endpoint };
        using var response = await SendAsync(client, path, body, account.Options.ApiKey!);
        var text = await response.Content.ReadAsStringAsync();
        output.WriteLine($"{(int)response.StatusCode} {text}");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        // The simulator's Responses API uses the v1 API's own codes (invalid_type); the others Azure's BadRequest.
        AssertAzureError(response, text, path == Responses ? "invalid_type" : "BadRequest", param);
    }

    [Theory]
    [MemberData(nameof(GoodCases))]
    public async Task ValidEdgeCaseReachesABackendAndSucceeds(string name)
    {
        var (path, body) = Good[name];
        using var response = await SendAsync(fixture.Gateway.Client, path, body, BadInputGateway.Key);
        var text = await response.Content.ReadAsStringAsync();
        output.WriteLine($"{(int)response.StatusCode} {BadInputGateway.Shorten(text)}");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(response.Headers.Contains("x-aoai-backend"), "not answered by a backend");

        var account = fixture.Sims["a"];
        using var client = new HttpClient { BaseAddress = account.Endpoint };
        using var direct = await SendAsync(client, path, body, account.Options.ApiKey!);
        Assert.Equal(HttpStatusCode.OK, direct.StatusCode);
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient client, string path, string body, string key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Add("api-key", key);
        return await client.SendAsync(request);
    }

    private static void AssertAzureError(HttpResponseMessage response, string text, string code, string param)
    {
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var json = JsonDocument.Parse(text);
        var error = json.RootElement.GetProperty("error");
        Assert.Equal(code, error.GetProperty("code").GetString());
        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Equal(param, error.GetProperty("param").GetString());
    }
}
