using AoaiAspire.Gateway.Configuration;
using AoaiAspire.Gateway.Quotas;
using AoaiAspire.Tests.Common;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace AoaiAspire.Tests.Quotas;

/// <summary>One replica, no Redis, a clock that moves only when told: the counting and its answers.</summary>
public sealed class ConsumerQuotasTests
{
    // 12:00:15 — 45 s of the minute left.
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 1, 12, 0, 15, TimeSpan.Zero));

    private ConsumerQuotas Quotas(params (string Name, ConsumerOptions Options)[] consumers) => Quotas(new ConsumerQuotaOptions(), consumers);

    private ConsumerQuotas Quotas(ConsumerQuotaOptions quotaOptions, params (string Name, ConsumerOptions Options)[] consumers)
    {
        var options = new GatewayOptions();
        foreach (var (name, consumer) in consumers)
        {
            options.Consumers[name] = consumer;
        }
        return new ConsumerQuotas(options, quotaOptions, _time);
    }

    private static ConsumerOptions Limits(long? tokens = null, int? requests = null, Dictionary<string, DeploymentQuotaOptions>? deployments = null)
        => new()
        {
            Keys = ["test-key-123456"],
            TokensPerMinute = tokens,
            RequestsPerMinute = requests,
            DeploymentLimits = deployments ?? new(StringComparer.OrdinalIgnoreCase),
        };

    [Fact]
    public void TryAdmit_TokenLimitWouldBeExceeded_RefusesWithRestOfMinuteAndRemainingTokens()
    {
        var quotas = Quotas(("team", Limits(tokens: 1_000)));

        var first = quotas.TryAdmit("team", "chat", 600);
        var refused = quotas.TryAdmit("team", "chat", 500);
        var last = quotas.TryAdmit("team", "chat", 400);

        Assert.True(first.Admitted);
        Assert.Equal(400, first.RemainingTokens);
        Assert.Null(first.RemainingRequests);
        Assert.False(refused.Admitted);
        Assert.Equal(TimeSpan.FromSeconds(45), refused.RetryAfter);
        Assert.Equal(400, refused.RemainingTokens);
        Assert.Equal(default, refused.Reservation);
        Assert.True(last.Admitted);
        Assert.Equal(0, last.RemainingTokens);
        Assert.False(quotas.TryAdmit("team", "chat", 1).Admitted);
    }

    [Fact]
    public void TryAdmit_RequestLimitReached_RefusesWithRestOfMinuteAndRemainingRequests()
    {
        var quotas = Quotas(("team", Limits(requests: 3)));
        _time.Advance(TimeSpan.FromSeconds(20));

        var remaining = Enumerable.Range(0, 3).Select(_ => quotas.TryAdmit("team", "chat", 10)).Select(d => (d.Admitted, d.RemainingRequests)).ToList();
        var refused = quotas.TryAdmit("team", "chat", 10);

        Assert.Equal([(true, 2L), (true, 1L), (true, 0L)], remaining.Select(r => (r.Admitted, r.RemainingRequests!.Value)));
        Assert.False(refused.Admitted);
        Assert.Equal(TimeSpan.FromSeconds(25), refused.RetryAfter);
        Assert.Equal(0, refused.RemainingRequests);
        Assert.Null(refused.RemainingTokens);
    }

    [Fact]
    public void TryAdmit_NextMinute_StartsFromZero()
    {
        var quotas = Quotas(("team", Limits(tokens: 1_000, requests: 2)));
        Assert.True(quotas.TryAdmit("team", "chat", 900).Admitted);
        Assert.True(quotas.TryAdmit("team", "chat", 100).Admitted);
        Assert.False(quotas.TryAdmit("team", "chat", 1).Admitted);

        _time.Advance(TimeSpan.FromSeconds(44.9));
        Assert.False(quotas.TryAdmit("team", "chat", 1).Admitted);
        _time.Advance(TimeSpan.FromSeconds(0.1)); // 12:01:00, a new window

        var decision = quotas.TryAdmit("team", "chat", 1_000);
        Assert.True(decision.Admitted);
        Assert.Equal(0, decision.RemainingTokens);
        Assert.Equal(1, decision.RemainingRequests);
    }

    [Fact]
    public void Correct_UsageBelowEstimate_GivesTheDifferenceBack()
    {
        var quotas = Quotas(("team", Limits(tokens: 1_000)));
        var decision = quotas.TryAdmit("team", "chat", 800);

        quotas.Correct(decision.Reservation, 300);

        Assert.True(quotas.TryGetUsage("team", null, out var usage));
        Assert.Equal(300, usage.UsedTokens);
        Assert.True(quotas.TryAdmit("team", "chat", 700).Admitted);
    }

    [Fact]
    public void Correct_UsageAboveEstimate_ChargesTheDifference()
    {
        var quotas = Quotas(("team", Limits(tokens: 1_000)));
        var decision = quotas.TryAdmit("team", "chat", 100);

        quotas.Correct(decision.Reservation, 950);

        var next = quotas.TryAdmit("team", "chat", 100);
        Assert.False(next.Admitted);
        Assert.Equal(50, next.RemainingTokens);
    }

    [Fact]
    public void Correct_ReservationFromAnEndedWindow_IsDropped()
    {
        var quotas = Quotas(("team", Limits(tokens: 1_000)));
        var decision = quotas.TryAdmit("team", "chat", 100);
        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.True(quotas.TryAdmit("team", "chat", 200).Admitted);

        quotas.Correct(decision.Reservation, 900);

        Assert.True(quotas.TryGetUsage("team", null, out var usage));
        Assert.Equal(200, usage.UsedTokens);
    }

    [Fact]
    public void Correct_DefaultReservation_DoesNothing()
    {
        var quotas = Quotas(("team", Limits(tokens: 1_000)));
        quotas.Correct(QuotaDecision.Unlimited.Reservation, 5_000);
        quotas.Correct(quotas.TryAdmit("other", "chat", 10).Reservation, 5_000);
        Assert.True(quotas.TryGetUsage("team", null, out var usage));
        Assert.Equal(0, usage.UsedTokens);
    }

    [Fact]
    public void TryAdmit_DeploymentLimits_AreIndependentAndTheConsumerLimitCountsTheirSum()
    {
        var quotas = Quotas(("team", Limits(tokens: 1_500, deployments: new(StringComparer.OrdinalIgnoreCase)
        {
            ["gpt-4o"] = new() { TokensPerMinute = 500 },
            ["embeddings"] = new() { TokensPerMinute = 800, RequestsPerMinute = 1 },
        })));

        Assert.True(quotas.TryAdmit("team", "gpt-4o", 500).Admitted);
        var gpt4o = quotas.TryAdmit("team", "GPT-4o", 1); // deployment names compare ignoring case
        Assert.False(gpt4o.Admitted);
        Assert.Equal(0, gpt4o.RemainingTokens);

        // Another deployment has its own budget...
        var embeddings = quotas.TryAdmit("team", "embeddings", 700);
        Assert.True(embeddings.Admitted);
        Assert.Equal(100, embeddings.RemainingTokens); // the tighter of 800 − 700 and 1,500 − 1,200
        Assert.Equal(0, embeddings.RemainingRequests);
        Assert.False(quotas.TryAdmit("team", "embeddings", 10).Admitted); // its request limit

        // ...and a deployment without limits of its own only meets the consumer-wide one, which counts them all.
        var chat = quotas.TryAdmit("team", "chat", 301);
        Assert.False(chat.Admitted);
        Assert.Equal(300, chat.RemainingTokens);
        Assert.True(quotas.TryAdmit("team", "chat", 300).Admitted);
        Assert.True(quotas.TryGetUsage("team", "gpt-4o", out var usage));
        Assert.Equal((500L, 500L), (usage.UsedTokens, usage.TokenLimit!.Value));
    }

    [Fact]
    public void TryAdmit_RefusedByTheConsumerLimit_ChargesNoCounter()
    {
        var quotas = Quotas(("team", Limits(tokens: 1_000, deployments: new(StringComparer.OrdinalIgnoreCase) { ["gpt-4o"] = new() { TokensPerMinute = 900 } })));
        Assert.True(quotas.TryAdmit("team", "chat", 500).Admitted);

        Assert.False(quotas.TryAdmit("team", "gpt-4o", 600).Admitted);

        Assert.True(quotas.TryGetUsage("team", "gpt-4o", out var usage));
        Assert.Equal(0, usage.UsedTokens);
    }

    [Fact]
    public void TryAdmit_OnlyADeploymentLimit_OtherDeploymentsAreUnlimited()
    {
        var quotas = Quotas(("team", Limits(deployments: new(StringComparer.OrdinalIgnoreCase) { ["gpt-4o"] = new() { RequestsPerMinute = 1 } })));
        Assert.True(quotas.TryAdmit("team", "gpt-4o", 10).Admitted);
        Assert.False(quotas.TryAdmit("team", "gpt-4o", 10).Admitted);
        Assert.Equal(QuotaDecision.Unlimited, quotas.TryAdmit("team", "chat", 1_000_000));
    }

    [Fact]
    public void TryAdmit_ConsumerWithoutLimits_IsUnlimited()
    {
        var quotas = Quotas(("free", Limits()), ("team", Limits(tokens: 10)));
        Assert.Equal(QuotaDecision.Unlimited, quotas.TryAdmit("free", "chat", 1_000_000));
        Assert.Equal(QuotaDecision.Unlimited, quotas.TryAdmit("unknown", "chat", 1_000_000));
        Assert.False(quotas.TryGetUsage("free", null, out _));
    }

    [Fact]
    public void TryAdmit_TwoConsumers_CountSeparately()
    {
        var quotas = Quotas(("a", Limits(tokens: 1_000)), ("b", Limits(tokens: 1_000)));
        Assert.True(quotas.TryAdmit("a", "chat", 1_000).Admitted);
        Assert.False(quotas.TryAdmit("a", "chat", 1).Admitted);

        var b = quotas.TryAdmit("B", "chat", 1_000); // consumer names compare ignoring case, as in configuration
        Assert.True(b.Admitted);
        Assert.Equal(0, b.RemainingTokens);
    }

    [Fact]
    public void TryAdmit_EstimateLargerThanTheLimit_IsRefusedEvenInAFreshMinute()
    {
        var quotas = Quotas(("team", Limits(tokens: 1_000)));
        var decision = quotas.TryAdmit("team", "chat", 1_001);
        Assert.False(decision.Admitted);
        Assert.Equal(1_000, decision.RemainingTokens);
    }

    [Fact]
    public void TryAdmit_SharedAndUnsyncedShareSpent_RefusesUntilTheNextSync()
    {
        var quotas = Quotas(new ConsumerQuotaOptions { MaxUnsyncedShare = 0.1 }, ("team", Limits(tokens: 10_000)));
        quotas.IsShared = true;

        Assert.True(quotas.TryAdmit("team", "chat", 5_000).Admitted); // the first request after a sync always passes
        var refused = quotas.TryAdmit("team", "chat", 1);
        Assert.False(refused.Admitted);
        Assert.Equal(TimeSpan.FromMilliseconds(100), refused.RetryAfter);
        Assert.Equal(5_000, refused.RemainingTokens);

        quotas.IsShared = false; // Redis lost: counts are local, no cap
        Assert.True(quotas.TryAdmit("team", "chat", 1).Admitted);
    }

    [Fact]
    public void TryAdmit_ManyCalls_AllocateNothing()
    {
        var quotas = Quotas(("team", Limits(tokens: 1_000_000_000, requests: 1_000_000_000, deployments: new(StringComparer.OrdinalIgnoreCase) { ["chat"] = new() { TokensPerMinute = 1_000_000_000 } })));
        for (var i = 0; i < 100; i++)
        {
            quotas.Correct(quotas.TryAdmit("team", "chat", 10).Reservation, 5);
            quotas.TryAdmit("free", "chat", 10);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 10_000; i++)
        {
            var decision = quotas.TryAdmit("team", "chat", 10);
            quotas.Correct(decision.Reservation, 5);
            quotas.TryAdmit("team", "embeddings", 10);
        }
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
    }

    [Fact]
    public void Reload_KeepsTheCountsOfCountersThatRemain()
    {
        var quotas = Quotas(("team", Limits(tokens: 1_000)));
        Assert.True(quotas.TryAdmit("team", "chat", 800).Admitted);

        var options = new GatewayOptions();
        options.Consumers["team"] = Limits(tokens: 2_000);
        quotas.Reload(options);

        var decision = quotas.TryAdmit("team", "chat", 1_000);
        Assert.True(decision.Admitted);
        Assert.Equal(200, decision.RemainingTokens);
    }

    [Fact]
    public async Task AddConsumerQuotas_BadLimits_FailWithTheKeyToFix()
    {
        await using var services = Services(new()
        {
            ["Gateway:Consumers:team:Keys:0"] = "test-key-123456",
            ["Gateway:Consumers:team:TokensPerMinute"] = "0",
            ["Gateway:Consumers:team:DeploymentLimits:gpt-4o:RequestsPerMinute"] = "-5",
            ["Gateway:Quotas:SyncInterval"] = "00:00:00",
        });

        var gateway = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptions<GatewayOptions>>().Value);
        Assert.Contains(gateway.Failures, f => f.Contains("Gateway:Consumers:team:TokensPerMinute must be a positive number", StringComparison.Ordinal));
        Assert.Contains(gateway.Failures, f => f.Contains("Gateway:Consumers:team:DeploymentLimits:gpt-4o:RequestsPerMinute must be a positive number", StringComparison.Ordinal));
        var quotas = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptions<ConsumerQuotaOptions>>().Value);
        Assert.Contains(quotas.Failures, f => f.Contains("Gateway:Quotas:SyncInterval", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AddConsumerQuotas_BindsLimitsFromConfiguration()
    {
        await using var services = Services(new()
        {
            ["Gateway:Consumers:team:Keys:0"] = "test-key-123456",
            ["Gateway:Consumers:team:TokensPerMinute"] = "1000",
            ["Gateway:Consumers:team:RequestsPerMinute"] = "6",
            ["Gateway:Consumers:team:DeploymentLimits:gpt-4o:TokensPerMinute"] = "300",
            ["Gateway:Quotas:SyncInterval"] = "00:00:00.250",
        });

        var quotas = services.GetRequiredService<IConsumerQuotas>();
        var decision = quotas.TryAdmit("team", "gpt-4o", 200);

        Assert.True(decision.Admitted);
        Assert.Equal(100, decision.RemainingTokens);
        Assert.Equal(5, decision.RemainingRequests);
        Assert.Equal(TimeSpan.FromMilliseconds(250), services.GetRequiredService<IOptions<ConsumerQuotaOptions>>().Value.SyncInterval);
        Assert.NotNull(services.GetRequiredService<QuotaSynchronizer>());
    }

    private ServiceProvider Services(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddSingleton<TimeProvider>(_time);
        services.AddLogging();
        services.AddOptions<GatewayOptions>().Bind(configuration.GetSection(GatewayOptions.SectionName));
        services.AddConsumerQuotas();
        return services.BuildServiceProvider();
    }
}
