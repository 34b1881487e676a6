using AoaiAspire.Backends.Upstream;
using System.Net.Http.Headers;
using AoaiAspire.Gateway.Forwarding;

namespace AoaiAspire.Tests.Gateway;

public sealed class RetryAfterTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 1, 12, 0, 0, TimeSpan.Zero);

    private static HttpResponseHeaders Headers(params (string Name, string Value)[] headers)
    {
        var response = new HttpResponseMessage();
        foreach (var (name, value) in headers)
        {
            response.Headers.TryAddWithoutValidation(name, value);
        }
        return response.Headers;
    }

    [Fact]
    public void Parse_RetryAfterMs_WinsOverSeconds() =>
        Assert.Equal(TimeSpan.FromMilliseconds(1500), RetryAfter.Parse(Headers(("retry-after", "2"), ("retry-after-ms", "1500")), Now));

    [Fact]
    public void Parse_RetryAfterSeconds_Read() =>
        Assert.Equal(TimeSpan.FromSeconds(6), RetryAfter.Parse(Headers(("retry-after", "6")), Now));

    [Fact]
    public void Parse_RetryAfterHttpDate_RelativeToNow() =>
        Assert.Equal(TimeSpan.FromSeconds(30), RetryAfter.Parse(Headers(("retry-after", Now.AddSeconds(30).ToString("R"))), Now));

    [Fact]
    public void Parse_ResetHeaders_LongestUsedWhenNoRetryAfter() =>
        Assert.Equal(TimeSpan.FromSeconds(12), RetryAfter.Parse(Headers(("x-ratelimit-reset-requests", "3"), ("x-ratelimit-reset-tokens", "12")), Now));

    [Fact]
    public void Parse_NothingUsable_ReturnsNull() =>
        Assert.Null(RetryAfter.Parse(Headers(("retry-after-ms", "soon"), ("x-ratelimit-reset-tokens", "-1")), Now));

    [Fact]
    public void Parse_DailyQuota_ReturnsFullValueForTheCapToDecide() =>
        Assert.Equal(TimeSpan.FromDays(1), RetryAfter.Parse(Headers(("retry-after", "86400")), Now));
}
