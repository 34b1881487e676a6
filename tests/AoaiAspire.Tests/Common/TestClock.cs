namespace AoaiAspire.Tests.Common;

/// <summary>Where the tests' <see cref="FakeTimeProvider"/> starts, unless a test needs another moment.</summary>
internal static class TestClock
{
    /// <summary>12:00:00 UTC on 1 November 2026: the start of a clock minute.</summary>
    public static readonly DateTimeOffset Start = new(2026, 11, 1, 12, 0, 0, TimeSpan.Zero);

    public static FakeTimeProvider Create() => new(Start);
}
