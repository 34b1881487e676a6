using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace AoaiAspire.Gateway.Configuration;

/// <summary>
/// <see cref="IOptionsMonitor{TOptions}"/> for <see cref="GatewayOptions"/> that keeps the last valid value.
/// The framework's monitor rebuilds options on every configuration change and, when the new values fail
/// validation, caches the exception: every later <c>CurrentValue</c> throws, so one typo in a reloaded file
/// would fail every request. Here a change that fails validation is refused whole and logged, and the previous
/// options stay in force, as they do for the backend list (<see cref="BackendRegistry"/>). At start-up an
/// invalid configuration still stops the process with the failures, each naming its key.
/// </summary>
internal sealed partial class GatewayOptionsMonitor : IOptionsMonitor<GatewayOptions>, IDisposable
{
    private readonly IOptionsFactory<GatewayOptions> _factory;
    private readonly ILogger<GatewayOptionsMonitor> _logger;
    private readonly List<IDisposable> _registrations = [];
    private readonly Lock _listenersLock = new();
    private Action<GatewayOptions, string?>[] _listeners = [];
    private volatile GatewayOptions _current;

    public GatewayOptionsMonitor(IOptionsFactory<GatewayOptions> factory, IEnumerable<IOptionsChangeTokenSource<GatewayOptions>> sources, ILogger<GatewayOptionsMonitor> logger)
    {
        _factory = factory;
        _logger = logger;
        _current = factory.Create(Options.DefaultName);
        foreach (var source in sources)
        {
            _registrations.Add(ChangeToken.OnChange(source.GetChangeToken, Reload));
        }
    }

    public GatewayOptions CurrentValue => _current;

    /// <summary>The gateway uses unnamed options only; every name gets the current value.</summary>
    public GatewayOptions Get(string? name) => _current;

    public IDisposable OnChange(Action<GatewayOptions, string?> listener)
    {
        lock (_listenersLock)
        {
            _listeners = [.. _listeners, listener];
        }
        return new Registration(this, listener);
    }

    private void Reload()
    {
        GatewayOptions next;
        try
        {
            next = _factory.Create(Options.DefaultName);
        }
        catch (OptionsValidationException ex)
        {
            LogChangeRefused(_logger, string.Join(" ", ex.Failures));
            return;
        }
        _current = next;
        foreach (var listener in _listeners)
        {
            listener(next, Options.DefaultName);
        }
    }

    private void Remove(Action<GatewayOptions, string?> listener)
    {
        lock (_listenersLock)
        {
            _listeners = [.. _listeners.Where(l => l != listener)];
        }
    }

    public void Dispose()
    {
        foreach (var registration in _registrations)
        {
            registration.Dispose();
        }
    }

    private sealed class Registration(GatewayOptionsMonitor monitor, Action<GatewayOptions, string?> listener) : IDisposable
    {
        public void Dispose() => monitor.Remove(listener);
    }

    [LoggerMessage(1103, LogLevel.Error, "Gateway configuration change refused, the previous settings stay in force: {Reason}")]
    private static partial void LogChangeRefused(ILogger logger, string reason);
}
