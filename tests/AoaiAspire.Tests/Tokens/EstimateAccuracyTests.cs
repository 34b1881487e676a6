using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using AoaiAspire.Gateway.Forwarding;
using AoaiAspire.Gateway.Tokens;
using AoaiAspire.Simulator;
using AoaiAspire.Tests.Common;
using Xunit.Abstractions;

namespace AoaiAspire.Tests.Tokens;

/// <summary>How far the gateway's prompt estimate is from the simulator's own count (README "Tokens" quotes the output).</summary>
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

    [Fact]
    public async Task PromptEstimateStaysCloseToTheSimulatorsCount()
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
            var actual = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("usage").GetProperty("prompt_tokens").GetInt64();
            var error = (estimate - actual) / (double)actual;
            // Never below the backend's count (a budget must not undercharge)...
            Assert.True(estimate >= actual, $"estimate {estimate} < simulator {actual}");
            // ...and close for ASCII text. Other scripts are counted by UTF-8 bytes, higher than the simulator's
            // characters/4, which itself undercounts them against real tokenizers.
            if (conversation.All(c => c.All(char.IsAscii)))
            {
                worst = Math.Max(worst, Math.Abs(error));
            }
            output.WriteLine($"messages={conversation.Length,3} estimate={estimate,5} simulator={actual,5} error={error,7:P1}");
        }
        output.WriteLine($"worst |error| on ASCII text = {worst:P1}");
        Assert.True(worst < 0.15, $"worst relative error on ASCII text {worst:P1}");
    }
}
