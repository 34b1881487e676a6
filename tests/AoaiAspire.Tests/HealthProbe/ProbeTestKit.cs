using AoaiAspire.Backends.Upstream;
using AoaiAspire.Backends.Configuration;
using AoaiAspire.Backends.State;
using AoaiAspire.HealthProbe.Configuration;
using AoaiAspire.HealthProbe.Probing;
using AoaiAspire.Simulator;
using Azure.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace AoaiAspire.Tests.HealthProbe;

/// <summary>Builds the probe's parts without a host: backends, prober, round, stores.</summary>
internal static class ProbeTestKit
{
    public static BackendDefinition Backend(string name, Uri endpoint, string? apiKey)
        => new(name, endpoint, name, 1, 1, apiKey, new Dictionary<string, string> { ["chat"] = "chat" });

    public static BackendDefinition Backend(SimulatedAccount account, string? apiKey = null)
        => Backend(account.Name, account.Endpoint, apiKey ?? account.Options.ApiKey);

    /// <summary>An endpoint on loopback where nothing listens.</summary>
    public static Uri NothingListening() => new($"http://127.0.0.1:{Common.RedisServerFixture.GetFreePort()}/");

    public static HealthProbeOptions Options(Action<HealthProbeOptions>? configure = null)
    {
        var options = new HealthProbeOptions { Interval = TimeSpan.FromMinutes(1), Timeout = TimeSpan.FromSeconds(5) };
        configure?.Invoke(options);
        return options;
    }

    public static ProbeParts Create(IBackendStateStore store, HealthProbeOptions? options = null, TokenCredential? credential = null, TimeProvider? time = null)
    {
        options ??= Options();
        time ??= TimeProvider.System;
        // The client as the probe process gets it: ServiceDefaults (standard handler and service discovery on every
        // factory client), then the probe's own registration, which tunes the handler for probing.
        var builder = Microsoft.Extensions.Hosting.Host.CreateEmptyApplicationBuilder(new Microsoft.Extensions.Hosting.HostApplicationBuilderSettings());
        builder.AddServiceDefaults();
        builder.Services.AddSingleton(Microsoft.Extensions.Options.Options.Create(options));
        ProbeHttpClient.Register(builder.Services);
        var services = builder.Services.BuildServiceProvider();
        var http = new ProbeHttpClient(services.GetRequiredService<IHttpClientFactory>());
        var monitor = new FixedOptionsMonitor<HealthProbeOptions>(options);
        var credentials = new UpstreamCredentials(new Lazy<TokenCredential>(() => credential ?? new FailingCredential()), time, NullLogger<UpstreamCredentials>.Instance);
        var prober = new BackendProber(http, credentials, store, monitor, time);
        var verdicts = new ProbeVerdicts(time);
        var round = new ProbeRound(prober, store, verdicts, monitor, NullLogger<ProbeRound>.Instance);
        return new ProbeParts(services, credentials, prober, verdicts, round);
    }

    /// <summary>A Redis backend state store on a connection of its own (as a probe process has), not waiting for it to be up.</summary>
    public static TestRedisStore RedisStore(string connectionString) => new(TestRedis.Create(connectionString));

    public static async Task<TestRedisStore> ConnectedRedisStoreAsync(string connectionString)
    {
        var handle = new TestRedisStore(await TestRedis.ConnectAsync(connectionString));
        await handle.Store.StartAsync(CancellationToken.None);
        return handle;
    }

    public static SimulatedAccountOptions Account(string name, FaultOptions? faults = null)
    {
        var account = Common.Simulators.Account(name);
        if (faults is not null)
        {
            account.Faults = faults;
        }
        return account;
    }
}

internal sealed class ProbeParts(ServiceProvider services, UpstreamCredentials credentials, BackendProber prober, ProbeVerdicts verdicts, ProbeRound round) : IDisposable
{
    public BackendProber Prober { get; } = prober;
    public ProbeVerdicts Verdicts { get; } = verdicts;
    public ProbeRound Round { get; } = round;

    public void Dispose()
    {
        services.Dispose();
        credentials.Dispose();
    }
}

internal sealed class FixedOptionsMonitor<T>(T value) : IOptionsMonitor<T>
{
    public T CurrentValue => value;

    public T Get(string? name) => value;

    public IDisposable? OnChange(Action<T, string?> listener) => null;
}

/// <summary>A token source that hands out a fixed token and counts the calls.</summary>
internal sealed class CountingCredential(string token) : TokenCredential
{
    private int _calls;

    public int Calls => Volatile.Read(ref _calls);

    public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _calls);
        return new AccessToken(token, DateTimeOffset.UtcNow.AddHours(1));
    }

    public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken)
        => ValueTask.FromResult(GetToken(requestContext, cancellationToken));
}

/// <summary>No Entra ID here: what a machine without a managed identity gets.</summary>
internal sealed class FailingCredential : TokenCredential
{
    public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken)
        => throw new Azure.Identity.CredentialUnavailableException("No identity in tests.");

    public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken)
        => throw new Azure.Identity.CredentialUnavailableException("No identity in tests.");
}

/// <summary>A <see cref="RedisBackendStateStore"/> and the connection it lives on; disposing disposes both.</summary>
internal sealed class TestRedisStore(TestRedis redis) : IAsyncDisposable
{
    public TestRedis Redis { get; } = redis;

    public RedisBackendStateStore Store { get; } = new(redis.Shared, TimeProvider.System, NullLogger<RedisBackendStateStore>.Instance);

    public async ValueTask DisposeAsync()
    {
        await Store.DisposeAsync();
        await Redis.DisposeAsync();
    }
}
