namespace AoaiAspire.Tests.ServiceDefaults;

internal static class TestWait
{
    /// <summary>Polls <paramref name="condition"/> until it holds; fails the test after <paramref name="deadline"/>.</summary>
    public static async Task UntilAsync(Func<bool> condition, TimeSpan deadline, string what)
    {
        var giveUpAt = DateTime.UtcNow + deadline;
        while (!condition())
        {
            if (DateTime.UtcNow > giveUpAt)
            {
                Assert.Fail($"Timed out after {deadline} waiting for {what}.");
            }

            await Task.Delay(10);
        }
    }
}
