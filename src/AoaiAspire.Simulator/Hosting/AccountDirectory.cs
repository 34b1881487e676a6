using Microsoft.AspNetCore.Http;

namespace AoaiAspire.Simulator.Hosting;

/// <summary>
/// Finds the account a request is for by the local port it arrived on. Accounts with a fixed port own
/// that port; the account with port 0 (standalone) or the only account (in-process) takes the rest.
/// </summary>
internal sealed class AccountDirectory
{
    private readonly Dictionary<int, SimulatedAccount> _byPort = [];
    private readonly SimulatedAccount? _default;

    public AccountDirectory(IReadOnlyList<SimulatedAccount> accounts, bool routeByPort)
    {
        Accounts = accounts;
        if (!routeByPort)
        {
            _default = accounts.Single();
            return;
        }

        foreach (var account in accounts)
        {
            if (account.Options.Port == 0)
            {
                _default = account;
            }
            else
            {
                _byPort[account.Options.Port] = account;
            }
        }
    }

    public IReadOnlyList<SimulatedAccount> Accounts { get; }

    /// <summary>The account listening on the app's own URLs, if any.</summary>
    public SimulatedAccount? Default => _default;

    public SimulatedAccount? Resolve(HttpContext context)
        => _byPort.Count > 0 && _byPort.TryGetValue(context.Connection.LocalPort, out var account) ? account : _default;
}
