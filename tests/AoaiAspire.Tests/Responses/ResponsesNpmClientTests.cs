using System.Diagnostics;

namespace AoaiAspire.Tests.Responses;

/// <summary>
/// The official <c>openai</c> npm package (tests/js, installed by <c>npm ci</c> in .ci/run) against two replicas:
/// run with node as a child process so its result counts in this suite.
/// </summary>
public sealed class ResponsesNpmClientTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    [Fact]
    public async Task OpenAiNpmClientCreatesStreamsFollowsUpRetrievesAndDeletesAcrossReplicas()
    {
        var script = FindScript();
        await using var kit = await ResponsesTestKit.StartAsync(redis.ConnectionString);

        // The follow-up goes through replica B as soon as the first turn is back: B may not have heard of it yet,
        // and then finds it by asking the backends. Either way it must run where the first turn is.
        var start = new ProcessStartInfo("node")
        {
            ArgumentList = { script, new Uri(kit.A.Address, "/openai/v1/").AbsoluteUri, new Uri(kit.B.Address, "/openai/v1/").AbsoluteUri, ResponsesTestKit.Model },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetDirectoryName(script)!,
            Environment = { ["GATEWAY_KEY"] = ResponsesTestKit.Key },
        };
        using var node = Process.Start(start)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        var stdout = node.StandardOutput.ReadToEndAsync(timeout.Token);
        var stderr = node.StandardError.ReadToEndAsync(timeout.Token);
        await node.WaitForExitAsync(timeout.Token);
        Assert.True(node.ExitCode == 0, $"node exited {node.ExitCode}: {await stderr}{await stdout}");

        var seen = System.Text.Json.JsonDocument.Parse((await stdout).Trim().Split('\n')[^1]).RootElement;
        var first = seen.GetProperty("first").GetString()!;
        var second = seen.GetProperty("second").GetString()!;
        var owner = kit.OwnerOf(second);
        Assert.Equal(2, owner.Responses.Created);
        Assert.Equal(1, owner.Responses.FollowUps);
        Assert.Equal(1, owner.Responses.Deleted);
        Assert.False(owner.Responses.Contains(first));
        Assert.All(kit.Others(owner), other => Assert.Equal(0, other.Responses.Created));
        Assert.Empty(kit.Logs.Since(0, Microsoft.Extensions.Logging.LogLevel.Error));
    }

    private static string FindScript()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var script = Path.Combine(dir.FullName, "tests", "js", "responses.mjs");
            if (File.Exists(script))
            {
                Assert.True(Directory.Exists(Path.Combine(dir.FullName, "tests", "js", "node_modules", "openai")),
                    "tests/js/node_modules is missing: run `npm ci --prefix tests/js` (.ci/run does).");
                return script;
            }
        }
        throw new InvalidOperationException("tests/js/responses.mjs not found above " + AppContext.BaseDirectory);
    }
}
