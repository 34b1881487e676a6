using System.Net;
using AoaiAspire.Simulator.Endpoints;
using AoaiAspire.Simulator.Hosting;
using AoaiAspire.Simulator.Latency;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AoaiAspire.Simulator;

/// <summary>Hosts simulated accounts in-process on loopback (tests, benchmarks, the gateway's demo mode).</summary>
/// <remarks>
/// Each account gets its own small <see cref="WebApplication"/> (an empty builder: Kestrel, routing and
/// the simulator's endpoints, nothing else) so that each can ask for a free port and read back the one it got.
/// They start in parallel; starting a host costs a few milliseconds per account.
/// </remarks>
public sealed class SimulatorHost : IAsyncDisposable
{
    private readonly IReadOnlyList<WebApplication> _apps;
    private int _disposed;

    private SimulatorHost(IReadOnlyList<SimulatedAccount> accounts, IReadOnlyList<WebApplication> apps)
    {
        Accounts = accounts;
        _apps = apps;
    }

    /// <summary>The running accounts, in the order given.</summary>
    public IReadOnlyList<SimulatedAccount> Accounts { get; }

    public SimulatedAccount this[string name] => Accounts.First(a => string.Equals(a.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>Starts one Kestrel listener per account on 127.0.0.1 and returns when all accept connections.</summary>
    /// <exception cref="ArgumentException">An account's options are invalid (the message names the setting).</exception>
    public static async Task<SimulatorHost> StartAsync(
        IEnumerable<SimulatedAccountOptions> accounts,
        ILoggerFactory? loggerFactory = null,
        TimeProvider? timeProvider = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(accounts);
        var options = accounts.ToList();
        var errors = SimulatorOptionsValidator.ValidateAccounts(options, "accounts", standalone: false);
        if (errors.Count > 0)
        {
            throw new ArgumentException("Invalid simulator options: " + string.Join(" ", errors), nameof(accounts));
        }

        var time = timeProvider ?? TimeProvider.System;
        var simulated = options.Select(o => new SimulatedAccount(o, new Uri("http://127.0.0.1/"), time)).ToList();
        var apps = simulated.Select(a => Build(a, loggerFactory ?? NullLoggerFactory.Instance)).ToList();
        var host = new SimulatorHost(simulated, apps);
        try
        {
            await Task.WhenAll(apps.Select(app => app.StartAsync(cancellationToken)));
        }
        catch
        {
            await host.DisposeAsync();
            throw;
        }

        var logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger(SimulatorLog.Category);
        for (var i = 0; i < apps.Count; i++)
        {
            var address = apps[i].Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
            simulated[i].Endpoint = new Uri(address.TrimEnd('/') + "/");
            SimulatorLog.AccountListening(logger, simulated[i].Name, simulated[i].Region, simulated[i].Endpoint, simulated[i].DeploymentNames);
        }

        return host;
    }

    /// <summary>Stops the listeners; requests in flight (streams, hanging faults) are cancelled, not awaited.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await Task.WhenAll(_apps.Select(StopAsync));

        static async Task StopAsync(WebApplication app)
        {
            try
            {
                // ApplicationStopping cancels every simulated delay, so in-flight requests end at once.
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await app.StopAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
            }
            catch (InvalidOperationException)
            {
                // Never started (a sibling failed to bind).
            }

            await app.DisposeAsync();
        }
    }

    private static WebApplication Build(SimulatedAccount account, ILoggerFactory loggerFactory)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = typeof(SimulatorHost).Assembly.GetName().Name });
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Listen(IPAddress.Loopback, account.Options.Port);
        });
        builder.Services.AddRoutingCore();
        builder.Services.AddLogging();
        builder.Services.Replace(ServiceDescriptor.Singleton(loggerFactory));
        var app = builder.Build();
        app.UseWebSockets();
        app.MapSimulator(new AccountDirectory([account], routeByPort: false));
        return app;
    }
}

/// <summary>A running simulated account.</summary>
public sealed class SimulatedAccount
{
    internal SimulatedAccount(SimulatedAccountOptions options, Uri endpoint)
        : this(options, endpoint, TimeProvider.System)
    {
    }

    internal SimulatedAccount(SimulatedAccountOptions options, Uri endpoint, TimeProvider time)
    {
        Options = options;
        Endpoint = endpoint;
        Faults = options.Faults;
        Time = time;
        Random = new RandomSource(options.Seed);
        var deployments = options.Deployments.Count > 0 ? options.Deployments : SimulatorDefaults.Deployments();
        Deployments = deployments.ToDictionary(
            d => d.Key, d => new SimulatedDeployment(d.Key, d.Value, time), StringComparer.OrdinalIgnoreCase);
    }

    public SimulatedAccountOptions Options { get; }
    public string Name => Options.Name;
    public string Region => Options.Region;

    /// <summary>Base address, e.g. <c>http://127.0.0.1:5101/</c>.</summary>
    public Uri Endpoint { get; internal set; }

    /// <summary>The faults in force; replace to change them at run time.</summary>
    public FaultOptions Faults { get; set; }

    /// <summary>What the account has seen (requests received, throttled, failed, tokens).</summary>
    public SimulatorStats Stats { get; } = new();

    /// <summary>What the account's realtime WebSocket has seen (sessions, events, turns, tokens).</summary>
    public Realtime.SimulatorRealtimeStats Realtime { get; } = new();
    /// <summary>The Responses API objects this account stores (responses, conversations) and their counters.</summary>
    public Responses.ResponseStore Responses { get; } = new();

    /// <summary>The deployment names served (the configured ones, or <c>chat</c> and <c>embeddings</c> when none are).</summary>
    public IReadOnlyCollection<string> DeploymentNames => [.. Deployments.Keys];

    /// <summary>Counters of one deployment (requests that named it).</summary>
    public SimulatorStats GetDeploymentStats(string deployment) => Deployments[deployment].Stats;

    /// <summary>Clears the counters and the rate-limit windows (what <c>POST /admin/reset</c> does); faults stay.</summary>
    public void Reset()
    {
        Stats.Reset();
        Realtime.Reset();
        Responses.ResetCounters();
        foreach (var deployment in Deployments.Values)
        {
            deployment.Stats.Reset();
            deployment.Limiter.Reset();
        }
    }

    internal IReadOnlyDictionary<string, SimulatedDeployment> Deployments { get; }

    internal TimeProvider Time { get; }

    internal RandomSource Random { get; }
}

/// <summary>Counters an account keeps; thread-safe reads.</summary>
public sealed class SimulatorStats
{
    private long _requests, _succeeded, _throttled, _failed, _promptTokens, _completionTokens;
    /// <summary>Requests that reached the account (every path but /admin), faults included.</summary>
    public long Requests => Interlocked.Read(ref _requests);
    public long Succeeded => Interlocked.Read(ref _succeeded);
    /// <summary>Requests answered 429.</summary>
    public long Throttled => Interlocked.Read(ref _throttled);
    /// <summary>Requests answered 5xx, hung or dropped.</summary>
    public long Failed => Interlocked.Read(ref _failed);
    public long PromptTokens => Interlocked.Read(ref _promptTokens);
    public long CompletionTokens => Interlocked.Read(ref _completionTokens);

    internal void OnRequest() => Interlocked.Increment(ref _requests);
    internal void OnSucceeded(int prompt, int completion)
    {
        Interlocked.Increment(ref _succeeded);
        Interlocked.Add(ref _promptTokens, prompt);
        Interlocked.Add(ref _completionTokens, completion);
    }
    internal void OnThrottled() => Interlocked.Increment(ref _throttled);
    internal void OnFailed() => Interlocked.Increment(ref _failed);

    internal void Reset()
    {
        Interlocked.Exchange(ref _requests, 0);
        Interlocked.Exchange(ref _succeeded, 0);
        Interlocked.Exchange(ref _throttled, 0);
        Interlocked.Exchange(ref _failed, 0);
        Interlocked.Exchange(ref _promptTokens, 0);
        Interlocked.Exchange(ref _completionTokens, 0);
    }
}
