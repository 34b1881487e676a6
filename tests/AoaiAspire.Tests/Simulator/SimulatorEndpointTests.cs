using System.Net;
using System.Text.Json;
using AoaiAspire.Simulator;
using static AoaiAspire.Tests.Simulator.SimulatorTestAccounts;

namespace AoaiAspire.Tests.Simulator;

public sealed class SimulatorEndpointTests : IAsyncLifetime
{
    private SimulatorHost _host = null!;
    private HttpClient _client = null!;

    public async Task InitializeAsync() => (_host, _client) = await StartAsync();

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _host.DisposeAsync();
    }

    [Fact]
    public async Task ChatCompletionHasTheAoaiShapeAndUsage()
    {
        using var response = await _client.SendAsync(Post(ChatPath, """{"messages":[{"role":"system","content":"You are a helpful assistant. Be concise."},{"role":"user","content":"Hello!!!"}],"max_tokens":7}"""));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestDeadline.Token));
        var root = json.RootElement;
        Assert.StartsWith("chatcmpl-", root.GetProperty("id").GetString());
        Assert.Equal("chat.completion", root.GetProperty("object").GetString());
        Assert.Equal("gpt-4o-mini", root.GetProperty("model").GetString());
        Assert.True(root.GetProperty("created").GetInt64() > 0);
        Assert.Equal(1, root.GetProperty("prompt_filter_results").GetArrayLength());
        var choice = Assert.Single(root.GetProperty("choices").EnumerateArray());
        Assert.Equal("assistant", choice.GetProperty("message").GetProperty("role").GetString());
        Assert.Equal(7, choice.GetProperty("message").GetProperty("content").GetString()!.Split(' ').Length);
        Assert.Equal("length", choice.GetProperty("finish_reason").GetString());
        Assert.False(choice.GetProperty("content_filter_results").GetProperty("hate").GetProperty("filtered").GetBoolean());
        var usage = root.GetProperty("usage");
        Assert.Equal(22, usage.GetProperty("prompt_tokens").GetInt32()); // the texts' o200k tokens + 4 per message + 3
        Assert.Equal(7, usage.GetProperty("completion_tokens").GetInt32());
        Assert.Equal(22 + 7, usage.GetProperty("total_tokens").GetInt32());

        Assert.Equal(1, _host.Accounts[0].Stats.Succeeded);
        Assert.Equal(7, _host.Accounts[0].Stats.CompletionTokens);
        Assert.Equal(22, _host.Accounts[0].Stats.PromptTokens);
    }

    [Fact]
    public async Task ChatCompletionWithoutMaxTokensStopsAtTheDefaultLength()
    {
        using var response = await _client.SendAsync(Post(ChatPath, """{"messages":[{"role":"user","content":"hi"}]}"""));

        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestDeadline.Token));
        Assert.Equal("stop", json.RootElement.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.Equal(32, json.RootElement.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task EveryResponseCarriesRegionAndRequestIdsAndEchoesTheClientRequestId()
    {
        using var request = Post(ChatPath, SimpleChat);
        request.Headers.Add("x-ms-client-request-id", "client-123");

        using var response = await _client.SendAsync(request);
        using var notFound = await _client.SendAsync(Post("openai/deployments/nope/chat/completions?api-version=2024-10-21", SimpleChat));

        Assert.Equal("test", response.Header("x-ms-region"));
        Assert.Equal("client-123", response.Header("x-ms-client-request-id"));
        Assert.True(Guid.TryParse(response.Header("apim-request-id"), out _));
        Assert.NotEmpty(response.Header("x-request-id"));
        Assert.Equal("test", notFound.Header("x-ms-region"));
        Assert.NotEmpty(notFound.Header("apim-request-id"));
    }

    [Theory]
    [InlineData("openai/v1/chat/completions")]
    [InlineData("v1/chat/completions")]
    public async Task V1PathTakesTheDeploymentFromTheModel(string path)
    {
        using var response = await _client.SendAsync(Post(path, """{"model":"chat","messages":[{"role":"user","content":"hi"}],"max_tokens":2}"""));
        using var unknown = await _client.SendAsync(Post(path, """{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}"""));
        using var missing = await _client.SendAsync(Post(path, """{"messages":[{"role":"user","content":"hi"}]}"""));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("\"chat.completion\"", await response.Content.ReadAsStringAsync(TestDeadline.Token));
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
    }

    [Fact]
    public async Task UnknownDeploymentIs404DeploymentNotFound()
    {
        using var response = await _client.SendAsync(Post("openai/deployments/gpt-5/chat/completions?api-version=2024-10-21", SimpleChat));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("DeploymentNotFound", await ErrorCodeAsync(response));
    }

    [Fact]
    public async Task MalformedJsonIs400WithAnAoaiError()
    {
        using var response = await _client.SendAsync(Post(ChatPath, "{\"messages\": [ oops"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("BadRequest", await ErrorCodeAsync(response));
        Assert.Equal(0, _host.Accounts[0].Stats.Failed);
    }

    [Fact]
    public async Task WrongMethodIs405()
    {
        using var get = await _client.SendAsync(new HttpRequestMessage(HttpMethod.Get, ChatPath) { Headers = { { "api-key", ApiKey } } });
        using var postModels = await _client.SendAsync(Post("openai/models", "{}"));

        Assert.Equal(HttpStatusCode.MethodNotAllowed, get.StatusCode);
        Assert.Equal("MethodNotAllowed", await ErrorCodeAsync(get));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, postModels.StatusCode);
    }

    [Fact]
    public async Task EmbeddingsHaveOneDeterministicVectorPerInput()
    {
        const string body = """{"input":["the quick brown fox","jumps over"]}""";
        using var first = await _client.SendAsync(Post(EmbeddingsPath, body));
        using var second = await _client.SendAsync(Post(EmbeddingsPath, body));

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var text = await first.Content.ReadAsStringAsync(TestDeadline.Token);
        Assert.Equal(text, await second.Content.ReadAsStringAsync(TestDeadline.Token));
        using var json = JsonDocument.Parse(text);
        var root = json.RootElement;
        Assert.Equal("list", root.GetProperty("object").GetString());
        Assert.Equal("text-embedding-3-small", root.GetProperty("model").GetString());
        var data = root.GetProperty("data");
        Assert.Equal(2, data.GetArrayLength());
        Assert.Equal(1, data[1].GetProperty("index").GetInt32());
        Assert.Equal("embedding", data[0].GetProperty("object").GetString());
        var vector = data[0].GetProperty("embedding").EnumerateArray().Select(v => v.GetDouble()).ToList();
        Assert.Equal(8, vector.Count);
        Assert.Equal(1.0, Math.Sqrt(vector.Sum(v => v * v)), 3);
        Assert.NotEqual(data[0].GetProperty("embedding").GetRawText(), data[1].GetProperty("embedding").GetRawText());
        Assert.Equal(7, root.GetProperty("usage").GetProperty("prompt_tokens").GetInt32()); // o200k tokens of both inputs
        Assert.Equal(7, root.GetProperty("usage").GetProperty("total_tokens").GetInt32());
    }

    [Fact]
    public async Task EmbeddingsOnAChatDeploymentIsOperationNotSupported()
    {
        using var response = await _client.SendAsync(Post("openai/deployments/chat/embeddings?api-version=2024-10-21", """{"input":"x"}"""));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("OperationNotSupported", await ErrorCodeAsync(response));
    }

    [Fact]
    public async Task LegacyCompletionsReturnText()
    {
        using var response = await _client.SendAsync(Post("openai/deployments/chat/completions?api-version=2024-10-21", """{"prompt":"Once upon a time","max_tokens":3}"""));

        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestDeadline.Token));
        Assert.Equal("text_completion", json.RootElement.GetProperty("object").GetString());
        Assert.Equal(AoaiAspire.Simulator.Completions.GeneratedText.Tokens(0, 0, 3), json.RootElement.GetProperty("choices")[0].GetProperty("text").GetString());
    }

    [Theory]
    [InlineData("openai/models")]
    [InlineData("openai/v1/models")]
    public async Task ModelsListTheDeployments(string path)
    {
        using var response = await _client.SendAsync(new HttpRequestMessage(HttpMethod.Get, path) { Headers = { { "api-key", ApiKey } } });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestDeadline.Token));
        var ids = json.RootElement.GetProperty("data").EnumerateArray().Select(m => m.GetProperty("id").GetString()).Order().ToList();
        Assert.Equal(["chat", "embeddings"], ids);
    }

    internal static async Task<string?> ErrorCodeAsync(HttpResponseMessage response)
    {
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestDeadline.Token));
        Assert.True(json.RootElement.GetProperty("error").TryGetProperty("message", out _));
        return json.RootElement.GetProperty("error").GetProperty("code").GetString();
    }
}
