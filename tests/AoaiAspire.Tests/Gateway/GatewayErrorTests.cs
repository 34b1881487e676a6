using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using AoaiAspire.Simulator;
using AoaiAspire.Tests.Common;

namespace AoaiAspire.Tests.Gateway;

/// <summary>Every error the gateway makes is an Azure OpenAI-shaped JSON error with the right status, and no backend is spent on it.</summary>
public sealed class GatewayErrorTests : IAsyncLifetime
{
    private const string CallerKey = "caller-key-0123456789";
    private SimulatorHost _sims = null!;
    private GatewayTestHost _gateway = null!;

    public async Task InitializeAsync()
    {
        _sims = await SimulatorHost.StartAsync([Simulators.Account("a")]);
        var settings = Simulators.GatewaySettings(_sims);
        settings.Remove("Gateway:AllowAnonymous");
        settings["Gateway:Consumers:app:Keys:0"] = CallerKey;
        settings["Gateway:Consumers:limited:Keys:0"] = "limited-key-0123456789";
        settings["Gateway:Consumers:limited:Deployments:0"] = "embeddings";
        settings["Gateway:MaxRequestBodySize"] = "2048";
        _gateway = await GatewayTestHost.StartAsync(settings);
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _sims.DisposeAsync();
    }

    private async Task<(HttpStatusCode Status, string Code)> SendAsync(HttpMethod method, string path, string? body, string? key = CallerKey, string contentType = "application/json")
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, contentType);
        }
        if (key is not null)
        {
            request.Headers.Add("api-key", key);
        }
        using var response = await _gateway.Client.SendAsync(request);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var json = await response.Content.ReadFromJsonAsync<JsonElement>();
        var error = json.GetProperty("error");
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
        return (response.StatusCode, error.GetProperty("code").GetString()!);
    }

    private const string Q = "?api-version=2024-10-21";

    /// <summary>Method, path, body, key, the status and the code (README "Errors": Azure OpenAI's scheme).</summary>
    public static TheoryData<string, string, string?, string?, HttpStatusCode, string> Cases => new()
    {
        { "POST", "/openai/deployments/chat/chat/completions" + Q, """{"messages":[]}""", null, HttpStatusCode.Unauthorized, "401" },
        { "POST", "/openai/deployments/chat/chat/completions" + Q, """{"messages":[]}""", "wrong-key-0123456789", HttpStatusCode.Unauthorized, "401" },
        { "POST", "/openai/deployments/chat/chat/completions" + Q, """{"messages":[""", CallerKey, HttpStatusCode.BadRequest, "BadRequest" },
        { "POST", "/openai/deployments/chat/chat/completions" + Q, "", CallerKey, HttpStatusCode.BadRequest, "BadRequest" },
        { "POST", "/openai/deployments/chat/chat/completions" + Q, """{"stream":"yes"}""", CallerKey, HttpStatusCode.BadRequest, "BadRequest" },
        { "POST", "/openai/deployments/nope/chat/completions" + Q, """{"messages":[]}""", CallerKey, HttpStatusCode.NotFound, "DeploymentNotFound" },
        { "POST", "/openai/v1/chat/completions", """{"model":"nope","messages":[]}""", CallerKey, HttpStatusCode.NotFound, "DeploymentNotFound" },
        { "POST", "/openai/v1/chat/completions", """{"messages":[]}""", CallerKey, HttpStatusCode.BadRequest, "BadRequest" },
        { "POST", "/openai/deployments/chat/fine_tuning/jobs" + Q, """{"messages":[]}""", CallerKey, HttpStatusCode.NotFound, "404" },
        { "POST", "/openai/deployments/chat/chat/completions", """{"messages":[]}""", CallerKey, HttpStatusCode.NotFound, "404" },
        { "GET", "/openai/deployments/chat/chat/completions" + Q, null, CallerKey, HttpStatusCode.MethodNotAllowed, "MethodNotAllowed" },
        { "DELETE", "/v1/chat/completions", null, CallerKey, HttpStatusCode.MethodNotAllowed, "MethodNotAllowed" },
        { "POST", "/openai/deployments/chat/chat/completions" + Q, "{\"messages\":[{\"content\":\"" + new string('x', 4096) + "\"}]}", CallerKey, HttpStatusCode.RequestEntityTooLarge, "RequestEntityTooLarge" },
        { "POST", "/openai/v1/embeddings", "input=x", CallerKey, HttpStatusCode.UnsupportedMediaType, "UnsupportedMediaType" },
        { "POST", "/openai/deployments/chat/chat/completions" + Q, """{"messages":[]}""", "limited-key-0123456789", HttpStatusCode.Forbidden, "PermissionDenied" },
        { "GET", "/no/such/path", null, CallerKey, HttpStatusCode.NotFound, "404" },
        { "GET", "/openai/v1/realtime?model=chat", null, CallerKey, HttpStatusCode.BadRequest, "BadRequest" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task BadRequestGetsAzureShapedErrorAndSpendsNoBackend(string method, string path, string? body, string? key, HttpStatusCode expected, string expectedCode)
    {
        var (status, code) = await SendAsync(new HttpMethod(method), path, body, key, body == "input=x" ? "application/x-www-form-urlencoded" : "application/json");
        Assert.Equal(expected, status);
        Assert.Equal(expectedCode, code);
        Assert.Equal(0, _sims["a"].Stats.Requests);
    }

    [Fact]
    public async Task GoodKeyInBearerHeaderIsAcceptedAndNeverForwarded()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/openai/deployments/chat/chat/completions?api-version=2024-10-21")
        {
            Content = GatewayRoutingTests.Chat(),
        };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", CallerKey);
        using var response = await _gateway.Client.SendAsync(request);
        // The simulator accepts only its own upstream key: a 200 means the caller's key was replaced.
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.False(response.Headers.Contains("Server"));
    }

    [Fact]
    public async Task ModelsListShowsOnlyWhatTheKeyMayCall()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/openai/models?api-version=2024-10-21");
        request.Headers.Add("api-key", "limited-key-0123456789");
        using var response = await _gateway.Client.SendAsync(request);
        var json = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(["embeddings"], json.GetProperty("data").EnumerateArray().Select(m => m.GetProperty("id").GetString()!).ToArray());
    }
}
