using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace AoaiAspire.Tests.Common;

/// <summary>One log entry with its category, numbered in the order it was written.</summary>
internal sealed record CapturedLog(long Sequence, string Category, LogLevel Level, EventId EventId, string Message);

/// <summary>
/// A logger provider that keeps every entry with its category, so a test can say which component logged
/// what (and assert that nothing reached Error). <see cref="Mark"/> and <see cref="Since"/> scope a check
/// to what one step caused.
/// </summary>
internal sealed class LogCapture : ILoggerProvider
{
    private readonly ConcurrentQueue<CapturedLog> _entries = new();
    private long _sequence;

    public IReadOnlyCollection<CapturedLog> Entries => _entries;

    /// <summary>The sequence number the next entry will be above.</summary>
    public long Mark => Interlocked.Read(ref _sequence);

    public IReadOnlyList<CapturedLog> Since(long mark, LogLevel atLeast = LogLevel.Trace)
        => [.. _entries.Where(e => e.Sequence > mark && e.Level >= atLeast)];

    /// <summary>Warning and above, grouped as "Level Category#EventId ×count: first message".</summary>
    public string Summary(long mark = 0) => string.Join(Environment.NewLine, Since(mark, LogLevel.Warning)
        .GroupBy(e => (e.Level, e.Category, e.EventId.Id))
        .Select(g => $"{g.Key.Level} {g.Key.Category}#{g.Key.Id} ×{g.Count()}: {Shorten(g.First().Message)}"));

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private static string Shorten(string message) => message.Length <= 400 ? message : message[..400] + "…";

    private sealed class Logger(LogCapture capture, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var sequence = Interlocked.Increment(ref capture._sequence);
            capture._entries.Enqueue(new CapturedLog(sequence, category, logLevel, eventId,
                formatter(state, exception) + (exception is null ? string.Empty : " " + exception.GetType().Name + ": " + exception.Message)));
        }
    }
}
