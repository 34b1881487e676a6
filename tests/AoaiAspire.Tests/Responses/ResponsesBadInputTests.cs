using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace AoaiAspire.Tests.Responses;

/// <summary>Responses bodies with wrong types, unknown and malformed ids, huge inputs: a clear 4xx, nothing logged as an error, the gateway keeps serving.</summary>
public sealed class ResponsesBadInputTests
{
    public static TheoryData<string, string> WrongTypes => new()
    {
        { """{"model":"assistant","input":5}""", "'input' must be a string or an array" },
        { """{"model":"assistant","input":"x","previous_response_id":5}""", "'previous_response_id' must be a string" },
        { """{"model":"assistant","input":"x","conversation":5}""", "'conversation' must be" },
        { """{"model":"assistant","input":"x","conversation":{"id":7}}""", "'conversation.id' must be a string" },
        { """{"model":"assistant","input":"x","store":"yes"}""", "'store' must be a boolean" },
        { """{"model":"assistant","input":"x","background":1}""", "'background' must be a boolean" },
        { """{"model":"assistant","input":"x","max_output_tokens":-1}""", "'max_output_tokens' must be a positive integer" },
        { """{"model":"assistant","input":"x","max_output_tokens":1000000}""", "no model produces more than" },
        { """{"model":"assistant","input":"x","instructions":["a"]}""", "'instructions' must be a string" },
        { """{"input":"x"}""", "'model' is required" },
        { """["model","assistant"]""", "must be a JSON object" },
        { """{"model":"assistant","input":"x" """, "not valid JSON" },
    };

    [Theory]
    [MemberData(nameof(WrongTypes))]
    public async Task WrongTypesAreRefusedWithA400ThatSaysWhatIsWrong(string body, string says)
    {
        await using var kit = await ResponsesTestKit.StartAsync(redis: null);
        using var http = ResponsesAffinityTests.Authorized(kit.A);
        using var response = await http.PostAsync("/openai/v1/responses", ResponsesAffinityTests.Json(body));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var message = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetProperty("message").GetString();
        Assert.Contains(says, message);
        Assert.Equal(0, kit.Sims.Accounts.Sum(a => a.Stats.Requests)); // never sent upstream
        await StillServesAsync(kit, http);
    }

    [Fact]
    public async Task UnknownMalformedAndUnroutableIdsAndHugeInputsGetClearAnswers()
    {
        await using var kit = await ResponsesTestKit.StartAsync(redis: null, new Dictionary<string, string?> { ["Gateway:MaxRequestBodySize"] = "65536" });
        using var http = ResponsesAffinityTests.Authorized(kit.A);

        // Unknown id: every backend asked, their own 404 returned; the same for a follow-up naming it.
        using (var unknown = await http.DeleteAsync("/openai/v1/responses/resp_unknown0001"))
        {
            Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        }
        Assert.Equal(3, kit.Sims.Accounts.Sum(a => a.Responses.NotFound));
        using (var followUp = await http.PostAsync("/openai/v1/responses", ResponsesAffinityTests.Json("""{"model":"assistant","input":"x","previous_response_id":"resp_unknown0002"}""")))
        {
            Assert.Equal(HttpStatusCode.NotFound, followUp.StatusCode);
            Assert.Equal("previous_response_not_found", JsonDocument.Parse(await followUp.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetProperty("code").GetString());
        }
        Assert.Equal(0, kit.Sims.Accounts.Sum(a => a.Responses.Created));

        // Malformed ids never leave the gateway.
        foreach (var path in new[] { "/openai/v1/responses/resp%24%7B%7D", "/v1/responses/" + new string('r', 300) + "/cancel" })
        {
            using var bad = await http.GetAsync(path);
            Assert.True(bad.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.MethodNotAllowed, $"{path}: {(int)bad.StatusCode}");
        }
        using (var wrongMethod = await http.PutAsync("/openai/v1/responses/resp_x", ResponsesAffinityTests.Json("{}")))
        {
            Assert.Equal(HttpStatusCode.MethodNotAllowed, wrongMethod.StatusCode);
            Assert.Contains("DELETE", wrongMethod.Content.Headers.Allow);
        }

        // A huge input: 413, not buffered past the limit, not sent.
        var huge = """{"model":"assistant","input":""" + JsonSerializer.Serialize(new string('a', 200_000)) + "}";
        using (var tooLarge = await http.PostAsync("/openai/v1/responses", ResponsesAffinityTests.Json(huge)))
        {
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooLarge.StatusCode);
        }

        // No deployment-scoped Responses path on Azure OpenAI; files and batches are refused, saying why.
        using (var scoped = await http.PostAsync("/openai/deployments/assistant/responses?api-version=2025-04-01-preview", ResponsesAffinityTests.Json("""{"input":"x"}""")))
        {
            Assert.Equal(HttpStatusCode.NotFound, scoped.StatusCode);
        }
        foreach (var path in new[] { "/openai/v1/files", "/v1/batches/batch_1", "/openai/v1/vector_stores" })
        {
            using var refused = await http.GetAsync(path);
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            var error = JsonDocument.Parse(await refused.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
            Assert.Equal("OperationNotSupported", error.GetProperty("code").GetString());
            Assert.Contains("does not route", error.GetProperty("message").GetString());
        }

        Assert.Empty(kit.Logs.Since(0, LogLevel.Error));
        await StillServesAsync(kit, http);
    }

    private static async Task StillServesAsync(ResponsesTestKit kit, HttpClient http)
    {
        var created = await ResponsesAffinityTests.CreateAsync(http, """{"model":"assistant","input":"still there?","max_output_tokens":3}""");
        Assert.Equal("completed", created.GetProperty("status").GetString());
        Assert.Empty(kit.Logs.Since(0, LogLevel.Error));
    }
}
