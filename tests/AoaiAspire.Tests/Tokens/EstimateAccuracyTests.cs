using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using AoaiAspire.Gateway.Forwarding;
using AoaiAspire.Gateway.Tokens;
using AoaiAspire.Simulator;
using AoaiAspire.Tests.Common;
using Xunit.Abstractions;

namespace AoaiAspire.Tests.Tokens;

/// <summary>How far the gateway's prompt estimate is from the real o200k count (README "Tokens" quotes the output).</summary>
public sealed class EstimateAccuracyTests(ITestOutputHelper output)
{
    public static readonly string[][] Conversations =
    [
        ["Hi"],
        ["You are a helpful assistant.", "What is the capital of France?"],
        ["You are a terse assistant that answers in one word.", "Name a colour.", "Blue.", "Another one?"],
        [string.Concat(Enumerable.Repeat("The quick brown fox jumps over the lazy dog. ", 40))],
        ["Résumé: naïve café — 東京 と 大阪 の 天気 は？ Ünïcödé text weighs more bytes than characters."],
        [.. Enumerable.Range(0, 30).Select(i => $"Message number {i} in a long chat history with some words.")],
    ];

    /// <summary>The overhead bench's request (bench/AoaiAspire.Bench/LoadGeneration/ChatRequest.cs, max_tokens 16).</summary>
    private const string BenchBody = """{"messages":[{"role":"user","content":"Say hello to the benchmark."}],"max_tokens":16}""";

    /// <summary>A typical chat call: a system prompt, a short history, sampling parameters, a tool (RequestInfo checks most of these members).</summary>
    private const string TypicalChatBody = """
        {"messages":[{"role":"system","content":"You are a helpful assistant that answers briefly."},
        {"role":"user","content":"What is the capital of France?"},{"role":"assistant","content":"Paris."},
        {"role":"user","content":[{"type":"text","text":"And of Italy?"}]}],
        "temperature":0.7,"top_p":1,"presence_penalty":0,"frequency_penalty":0.5,"max_tokens":64,"n":1,"stream":false,"user":"u-42",
        "tools":[{"type":"function","function":{"name":"lookup","parameters":{"type":"object","properties":{"q":{"type":"string"}}}}}]}
        """;

    [Fact]
    public async Task PromptEstimateStaysCloseToTheRealCount()
    {
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("a")]);
        using var client = new HttpClient { BaseAddress = sims["a"].Endpoint };
        client.DefaultRequestHeaders.Add("api-key", sims["a"].Options.ApiKey);
        var worst = 0.0;
        foreach (var conversation in Conversations)
        {
            var body = JsonSerializer.Serialize(new { messages = conversation.Select((c, i) => new { role = i % 2 == 0 ? "user" : "assistant", content = c }), max_tokens = 1 });
            Assert.True(RequestInfo.TryParse(Encoding.UTF8.GetBytes(body), false, out var info, out _));
            var estimate = TokenEstimator.PromptTokens(info);
            using var response = await client.PostAsync("/openai/deployments/chat/chat/completions?api-version=2024-10-21", new StringContent(body, Encoding.UTF8, "application/json"));
            var actual = TokenCounter.PromptTokens(Encoding.UTF8.GetBytes(body))!.Value;
            // The simulator's usage comes from the same tokenizer.
            Assert.Equal(actual, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("usage").GetProperty("prompt_tokens").GetInt64());
            var error = (estimate - actual) / (double)actual;
            // Never below the real count (a budget must not undercharge)...
            Assert.True(estimate >= actual, $"estimate {estimate} < real {actual}");
            // ...and reported for ASCII text. Other scripts are counted by UTF-8 bytes: several bytes a character.
            if (conversation.All(c => c.All(char.IsAscii)))
            {
                worst = Math.Max(worst, Math.Abs(error));
            }
            output.WriteLine($"messages={conversation.Length,3} estimate={estimate,5} real={actual,5} error={error,7:P1}");
        }
        output.WriteLine($"worst |error| on ASCII text = {worst:P1}");
        Assert.True(worst < 0.5, $"worst relative error on ASCII text {worst:P1}");
    }

    /// <summary>
    /// What each count costs on the overhead bench's request body and on a typical chat body (no assertion on time: README "Tokens" quotes the
    /// output). The estimate is what admission pays per request; the real count is what a stream without usage pays once.
    /// </summary>
    [Theory]
    [InlineData("bench")]
    [InlineData("typical-chat")]
    public void EstimateAndRealCountCostsArePrinted(string bodyName)
    {
        var body = Encoding.UTF8.GetBytes(bodyName == "bench" ? BenchBody : TypicalChatBody);
        const int Iterations = 2_000;
        long estimate = 0, real = 0;
        // Warm up long enough for tiered compilation to reach its optimised code (its background delay is 100 ms),
        // after the tokenizer's first call (which loads its vocabulary).
        real += TokenCounter.PromptTokens(body)!.Value;
        var warmUp = System.Diagnostics.Stopwatch.StartNew();
        while (warmUp.ElapsedMilliseconds < 500)
        {
            RequestInfo.TryParse(body, RequestKind.Chat, false, out var warm, out _, out _);
            estimate += TokenEstimator.PromptTokens(warm);
            real += TokenCounter.PromptTokens(body)!.Value;
        }
        // As the gateway parses a chat request: with the chat checks (messages, roles, content, sampling numbers).
        var (estimateNs, estimateBytes) = Measure(() =>
        {
            RequestInfo.TryParse(body, RequestKind.Chat, false, out var info, out _, out _);
            estimate += TokenEstimator.PromptTokens(info);
        });
        var (realNs, realBytes) = Measure(() => real += TokenCounter.PromptTokens(body)!.Value);
        output.WriteLine($"body {body.Length} bytes: estimate {TokenEstimator.PromptTokens(Info(body))} tokens, real {TokenCounter.PromptTokens(body)} tokens");
        output.WriteLine($"estimate (RequestInfo.TryParse + TokenEstimator): {estimateNs:F0} ns, {estimateBytes:F1} bytes per request");
        output.WriteLine($"real count (TokenCounter.PromptTokens):          {realNs:F0} ns, {realBytes:F1} bytes per request");
        output.WriteLine($"ratio real/estimate: {realNs / estimateNs:F1}x time");
        Assert.True(estimate > 0 && real > 0);

        // The fastest of 50 short rounds: on a shared machine the slower rounds measure the neighbours (a short round fits in a time slice).
        static (double Ns, double Bytes) Measure(Action action)
        {
            var best = (Ns: double.MaxValue, Bytes: 0.0);
            for (var round = 0; round < 50; round++)
            {
                var allocated = GC.GetAllocatedBytesForCurrentThread();
                var watch = System.Diagnostics.Stopwatch.StartNew();
                for (var i = 0; i < Iterations; i++)
                {
                    action();
                }
                watch.Stop();
                var ns = watch.Elapsed.TotalNanoseconds / Iterations;
                if (ns < best.Ns)
                {
                    best = (ns, (GC.GetAllocatedBytesForCurrentThread() - allocated) / (double)Iterations);
                }
            }
            return best;
        }

        static RequestInfo Info(byte[] body)
        {
            RequestInfo.TryParse(body, false, out var info, out _);
            return info;
        }
    }
}
