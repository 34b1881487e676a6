using System.ClientModel;
using System.Net;
using System.Text;
using System.Text.Json;
using AoaiAspire.Gateway.Affinity;
using AoaiAspire.Gateway.Tokens;
using AoaiAspire.Simulator;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenAI.Responses;

namespace AoaiAspire.Tests.Responses;

#pragma warning disable OPENAI001 // the SDK marks its Responses client experimental

/// <summary>The Responses API through two replicas and three regions: every call that names a stored response reaches the region that holds it.</summary>
public sealed class ResponsesAffinityTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    [Fact]
    public async Task ThreeTurnConversationAcrossTwoReplicasLandsEveryTurnOnTheOwner()
    {
        await using var kit = await ResponsesTestKit.StartAsync(redis.ConnectionString);
        var a = ResponsesTestKit.Client(kit.A);
        var b = ResponsesTestKit.Client(kit.B);

        // Turn 1 through replica A, balanced like chat (three regions in one priority group).
        ResponseResult first = await a.CreateResponseAsync(new CreateResponseOptions(ResponsesTestKit.Model, [ResponseItem.CreateUserMessageItem("Plan a trip")])
        {
            MaxOutputTokenCount = 8,
            Instructions = "Be brief.",
        });
        Assert.StartsWith("resp_", first.Id);
        Assert.Equal(ResponseStatus.Completed, first.Status);
        Assert.False(string.IsNullOrWhiteSpace(first.GetOutputText()));
        Assert.Equal(8, first.Usage.OutputTokenCount);
        var owner = kit.OwnerOf(first.Id);

        // Turn 2 through replica B, streamed: B learned the owner through Redis and sends it there.
        await ResponsesTestKit.KnowsAsync(kit.B, first.Id);
        var deltas = new StringBuilder();
        string? createdId = null;
        ResponseResult? second = null;
        var stream = await b.CreateResponseStreamingAsync(new CreateResponseOptions(ResponsesTestKit.Model, [ResponseItem.CreateUserMessageItem("Now the second day")])
        {
            PreviousResponseId = first.Id,
            MaxOutputTokenCount = 5,
            StreamingEnabled = true,
        });
        await foreach (var update in stream)
        {
            switch (update)
            {
                case StreamingResponseCreatedUpdate created: createdId = created.Response.Id; break;
                case StreamingResponseOutputTextDeltaUpdate delta: deltas.Append(delta.Delta); break;
                case StreamingResponseCompletedUpdate completed: second = completed.Response; break;
            }
        }
        Assert.NotNull(second);
        Assert.Equal(createdId, second.Id);
        Assert.Equal(second.GetOutputText(), deltas.ToString());
        Assert.Equal(first.Id, second.PreviousResponseId);
        Assert.True(second.Usage.InputTokenDetails.CachedTokenCount > 0, "the follow-up ran with the first turn's context");

        // Turn 3 through replica A again, continuing turn 2.
        await ResponsesTestKit.KnowsAsync(kit.A, second.Id);
        ResponseResult third = await a.CreateResponseAsync(ResponsesTestKit.Model, "And the third", second.Id);
        Assert.Equal(second.Id, third.PreviousResponseId);

        // Asserted on the simulators' own counters: all three turns ran on the owner, two as follow-ups, and no
        // other region was asked anything (no search, no 404, no run without the context).
        Assert.Equal(3, owner.Responses.Created);
        Assert.Equal(2, owner.Responses.FollowUps);
        Assert.True(owner.Responses.Contains(second.Id) && owner.Responses.Contains(third.Id));
        foreach (var other in kit.Others(owner))
        {
            Assert.Equal(0, other.Responses.Created);
            Assert.Equal(0, other.Responses.NotFound);
        }

        // Usage was read from the JSON bodies and from response.completed, cached tokens included, per backend.
        // (A replica records it once the body has gone out, so the last turn's may land just after the caller has it.)
        var expected = (first.Usage.InputTokenCount + second.Usage.InputTokenCount + third.Usage.InputTokenCount,
            first.Usage.OutputTokenCount + second.Usage.OutputTokenCount + third.Usage.OutputTokenCount,
            second.Usage.InputTokenDetails.CachedTokenCount + third.Usage.InputTokenDetails.CachedTokenCount);
        (long, long, long) Recorded()
        {
            var (prompt, completion, cached) = (0L, 0L, 0L);
            foreach (var gateway in new[] { kit.A, kit.B })
            {
                foreach (var (key, counters) in gateway.Services.GetRequiredService<UsageLedger>().Snapshot())
                {
                    Assert.Equal(owner.Name, key.Backend);
                    Assert.Equal(ResponsesTestKit.Model, key.Deployment);
                    Assert.Equal("app", key.Consumer);
                    (prompt, completion, cached) = (prompt + counters.PromptTokens, completion + counters.CompletionTokens, cached + counters.CachedTokens);
                }
            }
            return (prompt, completion, cached);
        }
        await Wait.UntilAsync(() => Recorded() == expected, because: $"usage recorded {Recorded()}, expected {expected}");

        // Retrieve and list input items through the replica that did not create; delete through the other one.
        ResponseResult again = await b.GetResponseAsync(first.Id);
        Assert.Equal(first.GetOutputText(), again.GetOutputText());
        var items = new List<ResponseItem>();
        await foreach (var item in a.GetResponseInputItemsAsync(second.Id))
        {
            items.Add(item);
        }
        Assert.Single(items);
        ResponseDeletionResult deleted = await b.DeleteResponseAsync(first.Id);
        Assert.True(deleted.Deleted);
        Assert.Equal(1, owner.Responses.Retrieved);
        Assert.Equal(1, owner.Responses.InputItemLists);
        Assert.Equal(1, owner.Responses.Deleted);
        var gone = await Assert.ThrowsAsync<ClientResultException>(() => a.GetResponseAsync(first.Id));
        Assert.Equal(404, gone.Status);
        Assert.Empty(kit.Logs.Since(0, LogLevel.Error));
    }

    [Fact]
    public async Task FollowUpWhoseOwnerIsThrottledGets429WithTheOwnersRetryAfterAndNeverRunsElsewhere()
    {
        await using var kit = await ResponsesTestKit.StartAsync(redis.ConnectionString);
        using var http = Authorized(kit.A);
        var created = await CreateAsync(http, """{"model":"assistant","input":"first","max_output_tokens":4}""");
        var id = created.GetProperty("id").GetString()!;
        var owner = kit.OwnerOf(id);
        owner.Faults = new FaultOptions { ForceThrottle = TimeSpan.FromSeconds(40) };

        using var followUp = await http.PostAsync("/openai/v1/responses", Json($$"""{"model":"assistant","input":"next","previous_response_id":"{{id}}"}"""));
        Assert.Equal(HttpStatusCode.TooManyRequests, followUp.StatusCode);
        var seconds = int.Parse(followUp.Headers.GetValues("retry-after").Single(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(seconds, 30, 40); // the owner's Retry-After, not a guess
        var error = JsonDocument.Parse(await followUp.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        Assert.Equal("429", error.GetProperty("code").GetString());
        Assert.Contains(owner.Name, error.GetProperty("message").GetString());

        // Retrieval runs no model: a throttled owner still answers it.
        using (var retrieved = await http.GetAsync($"/openai/v1/responses/{id}"))
        {
            Assert.Equal(HttpStatusCode.OK, retrieved.StatusCode);
        }

        // The owner down: 503 naming the reason, for retrieval and follow-up alike.
        owner.Faults = new FaultOptions { Down = true };
        using var down = await http.GetAsync($"/openai/v1/responses/{id}");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, down.StatusCode);
        var downError = JsonDocument.Parse(await down.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        Assert.Equal(StatefulCodes.OwnerUnavailable, downError.GetProperty("code").GetString());
        Assert.Contains(owner.Name, downError.GetProperty("message").GetString());

        // Never a silent 404 from another region, never a follow-up run there.
        foreach (var other in kit.Others(owner))
        {
            Assert.Equal(0, other.Responses.Created);
            Assert.Equal(0, other.Responses.NotFound);
        }

        // The gateway keeps serving: a create that names nothing is balanced to the others.
        owner.Faults = new FaultOptions { ForceThrottle = TimeSpan.FromSeconds(40) };
        var fresh = await CreateAsync(http, """{"model":"assistant","input":"unrelated","store":false}""");
        Assert.False(fresh.GetProperty("store").GetBoolean());
        Assert.Equal(1, kit.Others(owner).Sum(a => a.Responses.Created));
        Assert.Empty(kit.Logs.Since(0, LogLevel.Error));
    }

    [Fact]
    public async Task ObjectsTheGatewayNeverSawAreFoundByAskingEachBackendAndTheOwnerIsRecorded()
    {
        await using var kit = await ResponsesTestKit.StartAsync(redis.ConnectionString);
        using var http = Authorized(kit.A);
        // A response made directly in one region, before (or around) the gateway.
        var holder = kit.Sims["westus"];
        using var direct = new HttpClient { BaseAddress = holder.Endpoint };
        direct.DefaultRequestHeaders.Add("api-key", holder.Options.ApiKey);
        using var made = await direct.PostAsync("/openai/v1/responses", Json("""{"model":"chat","input":"made directly"}"""));
        var id = JsonDocument.Parse(await made.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetString()!;

        using (var found = await http.GetAsync($"/openai/v1/responses/{id}"))
        {
            Assert.Equal(HttpStatusCode.OK, found.StatusCode);
            Assert.Equal("westus", found.Headers.GetValues("x-aoai-backend").Single());
        }
        var asked = kit.Others(holder).Sum(a => a.Responses.NotFound);
        await ResponsesTestKit.KnowsAsync(kit.B, id);

        // Now known on both replicas: a follow-up through B goes straight there.
        var next = await CreateAsync(Authorized(kit.B), $$"""{"model":"assistant","input":"continue","previous_response_id":"{{id}}"}""");
        Assert.Equal(id, next.GetProperty("previous_response_id").GetString());
        Assert.Equal(1, holder.Responses.FollowUps);
        Assert.Equal(asked, kit.Others(holder).Sum(a => a.Responses.NotFound));

        // A conversation made directly in a region is found the same way when a create names it.
        var convHolder = kit.Sims["eastus2"];
        using var convDirect = new HttpClient { BaseAddress = convHolder.Endpoint };
        convDirect.DefaultRequestHeaders.Add("api-key", convHolder.Options.ApiKey);
        using var conv = await convDirect.PostAsync("/openai/v1/conversations", Json("{}"));
        var conversation = JsonDocument.Parse(await conv.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetString()!;
        for (var i = 0; i < 3; i++)
        {
            var turn = await CreateAsync(http, $$$"""{"model":"assistant","input":"turn {{{i}}}","conversation":{"id":"{{{conversation}}}"}}""");
            Assert.Equal(conversation, turn.GetProperty("conversation").GetProperty("id").GetString());
        }
        Assert.Equal(3, convHolder.Responses.Created);

        // An id no backend holds: every one is asked, and the caller gets the backends' own 404.
        using var unknown = await http.GetAsync("/openai/v1/responses/resp_nobodyhasthis");
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal("not_found", JsonDocument.Parse(await unknown.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetProperty("code").GetString());
        Assert.Empty(kit.Logs.Since(0, LogLevel.Error));
    }

    [Fact]
    public async Task AnotherConsumersResponseIsNotFoundForIt()
    {
        await using var kit = await ResponsesTestKit.StartAsync(redis: null);
        var mine = await CreateAsync(Authorized(kit.A), """{"model":"assistant","input":"private"}""");
        var id = mine.GetProperty("id").GetString()!;
        using var other = Authorized(kit.A, ResponsesTestKit.OtherKey);
        using var peek = await other.GetAsync($"/openai/v1/responses/{id}");
        Assert.Equal(HttpStatusCode.NotFound, peek.StatusCode);
        Assert.Equal(0, kit.OwnerOf(id).Responses.Retrieved);
        using var own = await Authorized(kit.A).GetAsync($"/openai/v1/responses/{id}");
        Assert.Equal(HttpStatusCode.OK, own.StatusCode);
    }

    internal static HttpClient Authorized(GatewayTestHost gateway, string key = ResponsesTestKit.Key)
    {
        var http = new HttpClient { BaseAddress = gateway.Address, Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Add("api-key", key);
        return http;
    }

    internal static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    internal static async Task<JsonElement> CreateAsync(HttpClient http, string body)
    {
        using var response = await http.PostAsync("/openai/v1/responses", Json(body));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private static class StatefulCodes
    {
        public const string OwnerUnavailable = "OwnerUnavailable";
    }
}
