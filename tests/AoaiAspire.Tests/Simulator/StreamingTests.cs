using System.Net;
using System.Text.Json;
using static AoaiAspire.Tests.Simulator.SimulatorTestAccounts;

namespace AoaiAspire.Tests.Simulator;

public sealed class StreamingTests
{
    [Fact]
    public async Task StreamSendsRoleThenContentThenDoneWithoutUsageByDefault()
    {
        var (host, client) = await StartAsync();
        await using var hostScope = host;
        using var clientScope = client;

        using var response = await client.SendAsync(Post(ChatPath, """{"messages":[{"role":"user","content":"hi"}],"max_tokens":4,"stream":true}"""));
        var events = ParseEvents(await response.Content.ReadAsStringAsync(TestDeadline.Token));

        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.NotEmpty(response.Header("x-ratelimit-remaining-tokens"));
        Assert.Equal("[DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonDocument.Parse(e).RootElement).ToList();
        Assert.Equal(5, chunks.Count); // role + 4 tokens
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c.GetProperty("object").GetString()));
        Assert.Single(chunks.Select(c => c.GetProperty("id").GetString()).Distinct());
        Assert.Equal("assistant", chunks[0].GetProperty("choices")[0].GetProperty("delta").GetProperty("role").GetString());
        Assert.True(chunks[0].TryGetProperty("prompt_filter_results", out _));
        var text = string.Concat(chunks.Select(c => c.GetProperty("choices")[0].GetProperty("delta").GetProperty("content").GetString()));
        Assert.Equal(AoaiAspire.Simulator.Completions.GeneratedText.Tokens(0, 0, 4), text);
        Assert.Equal("length", chunks[^1].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.All(chunks[..^1], c => Assert.Equal(JsonValueKind.Null, c.GetProperty("choices")[0].GetProperty("finish_reason").ValueKind));
        Assert.All(chunks, c => Assert.False(c.TryGetProperty("usage", out _)));
        Assert.Equal(4, host.Accounts[0].Stats.CompletionTokens);
    }

    [Fact]
    public async Task StreamWithIncludeUsageEndsWithAUsageChunkWithNoChoices()
    {
        var (host, client) = await StartAsync(a => a.TokensPerChunk = 2);
        await using var hostScope = host;
        using var clientScope = client;

        using var response = await client.SendAsync(Post(ChatPath,
            """{"messages":[{"role":"user","content":"hello world!"}],"max_tokens":5,"stream":true,"stream_options":{"include_usage":true}}"""));
        var events = ParseEvents(await response.Content.ReadAsStringAsync(TestDeadline.Token));

        Assert.Equal("[DONE]", events[^1]);
        Assert.Equal(1 + 3 + 1 + 1, events.Count); // role, 2+2+1 tokens, usage, [DONE]
        using var usageChunk = JsonDocument.Parse(events[^2]);
        Assert.Equal(0, usageChunk.RootElement.GetProperty("choices").GetArrayLength());
        var usage = usageChunk.RootElement.GetProperty("usage");
        Assert.Equal(3 + 4 + 3, usage.GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(5, usage.GetProperty("completion_tokens").GetInt32());
        Assert.Equal(15, usage.GetProperty("total_tokens").GetInt32());
        using var last = JsonDocument.Parse(events[^3]);
        Assert.Equal("length", last.RootElement.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
    }

    [Fact]
    public async Task FirstChunkArrivesBeforeTheLastIsProduced()
    {
        // The simulated clock does not move until the test says so: the server can send the first chunk,
        // but it cannot produce the next one. Reading the first chunk proves it was flushed on its own.
        var time = TestClock.Create();
        var (host, client) = await StartAsync(a => a.LatencyScale = 1, time);
        await using var hostScope = host;
        using var clientScope = client;

        using var response = await client.SendAsync(
            Post(ChatPath, """{"messages":[{"role":"user","content":"hi"}],"max_tokens":3,"stream":true}"""),
            HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(TestDeadline.Token));

        var first = await reader.ReadLineAsync(TestDeadline.Token);

        Assert.NotNull(first);
        Assert.StartsWith("data: {", first);
        Assert.Contains("\"role\":\"assistant\"", first);
        Assert.Equal(0, host.Accounts[0].Stats.Succeeded); // the stream is still open

        // Let the simulated time run: each step releases the chunks that fall due (a condition with a deadline, not a sleep).
        var reading = reader.ReadToEndAsync(TestDeadline.Token);
        while (!reading.IsCompleted)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await Task.WhenAny(reading, Task.Delay(10, TestDeadline.Token));
        }
        var rest = await reading;
        Assert.EndsWith("data: [DONE]\n\n", rest);
        Assert.Equal(3, ParseEvents(first + "\n" + rest).Count(e => e.Contains("\"content\":\" ") || e.Contains("\"content\":\"the\"")));
    }

    [Fact]
    public async Task StreamedCompletionsUseTextCompletionChunks()
    {
        var (host, client) = await StartAsync();
        await using var hostScope = host;
        using var clientScope = client;

        using var response = await client.SendAsync(Post("openai/deployments/chat/completions?api-version=2024-10-21", """{"prompt":"abc","max_tokens":2,"stream":true}"""));
        var events = ParseEvents(await response.Content.ReadAsStringAsync(TestDeadline.Token));

        Assert.Equal("[DONE]", events[^1]);
        using var chunk = JsonDocument.Parse(events[1]);
        Assert.Equal("text_completion", chunk.RootElement.GetProperty("object").GetString());
        Assert.Equal("the", chunk.RootElement.GetProperty("choices")[0].GetProperty("text").GetString());
    }

    /// <summary>The payloads of the <c>data:</c> events, checking each is followed by a blank line.</summary>
    internal static List<string> ParseEvents(string body)
    {
        var events = new List<string>();
        foreach (var block in body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            Assert.StartsWith("data: ", block);
            events.Add(block["data: ".Length..]);
        }

        Assert.EndsWith("\n\n", body);
        return events;
    }
}
