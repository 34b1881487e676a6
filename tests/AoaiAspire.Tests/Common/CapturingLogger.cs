using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace AoaiAspire.Tests.Common;

/// <summary>An <see cref="ILogger"/> that keeps every entry, to assert on what was (not) logged.</summary>
public sealed class CapturingLogger : ILogger
{
    public ConcurrentQueue<(EventId EventId, LogLevel Level, string Message)> Entries { get; } = new();

    public int Count(int eventId) => Entries.Count(e => e.EventId.Id == eventId);

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Entries.Enqueue((eventId, logLevel, formatter(state, exception) + (exception is null ? string.Empty : " " + exception)));
}
