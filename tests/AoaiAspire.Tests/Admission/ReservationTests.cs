using AoaiAspire.Gateway.Admission;
using AoaiAspire.Gateway.Availability;
using AoaiAspire.Gateway.Configuration;
using AoaiAspire.Gateway.LoadBalancing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace AoaiAspire.Tests.Admission;

/// <summary>
/// What lower classes leave of each backend's token minute for higher ones (<c>ReserveFactor</c>), on a fake clock:
/// the demand meter, the learned minute, and the reservation built from them.
/// </summary>
public sealed class ReservationTests
{
    private static readonly long Second = TimeSpan.TicksPerSecond;

    [Fact]
    public void ClassDemand_IsTokensPerSecondOverTheLastMinute_AndForgetsOlderBuckets()
    {
        var start = new DateTimeOffset(2026, 12, 2, 12, 0, 0, TimeSpan.Zero).UtcTicks;
        var demand = new ClassDemand(2);
        Assert.Equal(0, demand.PerTick(0, start));

        // 600 tokens a second for a minute, one add per second.
        for (var s = 0; s < 60; s++)
        {
            demand.Add(0, 600, start + (s * Second));
        }
        var perSecond = demand.PerTick(0, start + (60 * Second)) * Second;
        Assert.InRange(perSecond, 500, 700);
        Assert.Equal(0, demand.PerTick(1, start + (60 * Second))); // another class asked for nothing

        // Its first seconds are divided by the time since its first request (at least 10 s), not by a whole minute.
        var fresh = new ClassDemand(1);
        fresh.Add(0, 1000, start);
        Assert.Equal(100, fresh.PerTick(0, start + Second) * Second, precision: 6);

        // Two minutes of silence: nothing is left of it.
        Assert.Equal(0, demand.PerTick(0, start + (180 * Second)));
        demand.Add(0, 50, start + (180 * Second));
        Assert.InRange(demand.PerTick(0, start + (181 * Second)) * Second, 0.1, 10);
    }

    [Fact]
    public void DeploymentCapacity_LearnsItsMinuteFromARisingReading_AndIgnoresOlderNews()
    {
        var capacity = new DeploymentCapacity();
        var t0 = new DateTimeOffset(2026, 12, 2, 12, 0, 0, TimeSpan.Zero).UtcTicks;
        Assert.Equal(0, capacity.WindowEndsAt(t0));

        // The first reading opens a minute at the time its request was sent.
        capacity.Observe(9000, 50, now: t0 + (5 * Second), sentAt: t0);
        Assert.Equal(t0 + DeploymentCapacity.Window, capacity.WindowEndsAt(t0 + (5 * Second)));

        // Lower readings of later requests: the same minute.
        capacity.Observe(7000, 40, now: t0 + (20 * Second), sentAt: t0 + (15 * Second));
        Assert.Equal(t0 + DeploymentCapacity.Window, capacity.WindowEndsAt(t0 + (20 * Second)));

        // A higher reading of a request sent earlier than the last one read is older news, not a reset.
        capacity.Observe(8000, 45, now: t0 + (21 * Second), sentAt: t0 + (10 * Second));
        Assert.Equal(t0 + DeploymentCapacity.Window, capacity.WindowEndsAt(t0 + (21 * Second)));

        // Past its end no minute is known; a higher reading of a later request opens the next one at its send time.
        Assert.Equal(0, capacity.WindowEndsAt(t0 + (61 * Second)));
        capacity.Observe(9500, 55, now: t0 + (40 * Second), sentAt: t0 + (30 * Second));
        Assert.Equal(t0 + (30 * Second) + DeploymentCapacity.Window, capacity.WindowEndsAt(t0 + (40 * Second)));
    }

    [Fact]
    public void DeploymentCapacity_ReadingOfASlowAnswer_LosesWhatWasSentAfterIt()
    {
        var capacity = new DeploymentCapacity();
        var t0 = new DateTimeOffset(2026, 12, 2, 12, 0, 0, TimeSpan.Zero).UtcTicks;
        capacity.Observe(10_000, 50, now: t0, sentAt: t0);
        var first = capacity.Charge(300); // sent; its answer takes 5 s
        capacity.Charge(200);             // two more sent meanwhile
        capacity.Charge(250);

        // The first's reading is as of its arrival: 9,700. The 450 sent after it are not handed back.
        capacity.Observe(9_700, 49, now: t0 + (5 * Second), sentAt: t0 + 1, chargedThrough: first);
        Assert.Equal(9_250, capacity.RemainingTokens(t0 + (5 * Second)));
    }

    [Fact]
    public void Reserved_HoldsBatchOffABackendWhoseRemainderInteractiveWillNeed_AndShrinksWithTheMinute()
    {
        using var kit = Kit();
        var t0 = kit.Now;
        var (ptu, paygo) = (kit.Route.Candidates[0], kit.Route.Candidates[1]);
        // Both backends read in the same minute, opened now: ptu has 1,000 tokens left, paygo 100,000.
        kit.Updater.OnRemainingCapacity(ptu.Capacity, 1000, 100, sentAt: t0);
        kit.Updater.OnRemainingCapacity(paygo.Capacity, 100_000, 100, sentAt: t0);

        // Without interactive demand nothing is kept back.
        Assert.Equal(default, kit.Queue.Reserved(kit.Route, kit.Queue.ClassOf("batch")));

        // Interactive asks for 100 tokens a second (1,000 in its first 10 s): with factor 1.25 and two backends, each
        // keeps 62.5 tokens a second of what is left in its minute. ptu's 1,000 cover 16 s, 50 s remain: batch stays off it.
        kit.Queue.RecordDemand(kit.Route, kit.Queue.ClassOf("interactive"), 1000);
        kit.Clock.Advance(TimeSpan.FromSeconds(10));
        var reserved = kit.Queue.Reserved(kit.Route, kit.Queue.ClassOf("batch"));
        Assert.Equal(1UL << 0, reserved.Mask);
        // 60 s - 1,000 / 62.5 s: from then on what ptu has left is not needed.
        Assert.InRange(reserved.Until, t0 + (44 * Second) - TimeSpan.TicksPerMillisecond, t0 + (44 * Second) + TimeSpan.TicksPerMillisecond);
        Assert.Equal(default, kit.Queue.Reserved(kit.Route, kit.Queue.ClassOf("interactive"))); // the first class leaves nothing to anyone

        // Selection passes over ptu for batch; with paygo throttled past that time, batch hears "throttled until the
        // reservation ends" (a 429 with that Retry-After, or a wait in the queue).
        Assert.Equal(1, kit.Selector.Select(kit.Route, 0, kit.Now, out _, 10, reserved: reserved));
        Assert.Equal(0, kit.Selector.Select(kit.Route, 0, kit.Now, out _, 10)); // interactive: ptu, the first group
        kit.Updater.OnThrottled(paygo.State, "chat", TimeSpan.FromSeconds(50));
        Assert.Equal(-1, kit.Selector.Select(kit.Route, 0, kit.Now, out var none, 10, reserved: reserved));
        Assert.True(none.AllThrottled);
        Assert.Equal(reserved.Until, none.RetryAt);

        // The dispatcher sees the same: batch cannot go yet, and knows when it may.
        var soonest = long.MaxValue;
        Assert.False(AdmissionQueue.AnyAvailable(kit.Route, 0, kit.Now, ref soonest, kit.Queue.Reserved(kit.Route, kit.Queue.ClassOf("batch"), kit.Now)));
        Assert.Equal(reserved.Until, soonest);

        // Near the minute's end (45 s in), interactive's share of the rest fits in what ptu has: batch may have it.
        kit.Clock.Advance(TimeSpan.FromSeconds(35));
        Assert.Equal(0UL, kit.Queue.Reserved(kit.Route, kit.Queue.ClassOf("batch")).Mask & 1);
    }

    [Fact]
    public void Reserved_IsNothing_WithReserveFactor0_OrWhileTheMinuteIsUnknown()
    {
        var options = new AdmissionOptions { MaxQueueWait = TimeSpan.FromSeconds(30) };
        options.Classes["interactive"] = new PriorityClassOptions { Order = 0, ReserveFactor = 0 };
        options.Classes["batch"] = new PriorityClassOptions { Order = 1 };
        using (var off = new AdmissionKit(options))
        {
            off.Updater.OnRemainingCapacity(off.Route.Candidates[0].Capacity, 10, 100, sentAt: off.Now);
            off.Queue.RecordDemand(off.Route, off.Queue.ClassOf("interactive"), 1_000_000);
            off.Clock.Advance(TimeSpan.FromSeconds(10));
            Assert.Equal(default, off.Queue.Reserved(off.Route, off.Queue.ClassOf("batch")));
            Assert.Null(off.Route.Demand); // nothing is even counted
        }

        using var kit = Kit();
        kit.Queue.RecordDemand(kit.Route, kit.Queue.ClassOf("interactive"), 1_000_000);
        kit.Clock.Advance(TimeSpan.FromSeconds(10));
        // No backend has said what it has left: nothing to keep back from.
        Assert.Equal(default, kit.Queue.Reserved(kit.Route, kit.Queue.ClassOf("batch")));
        // A reading without the time its request was sent opens no minute either.
        kit.Updater.OnRemainingCapacity(kit.Route.Candidates[0].Capacity, 10, 100);
        Assert.Equal(default, kit.Queue.Reserved(kit.Route, kit.Queue.ClassOf("batch")));
    }

    [Fact]
    public void ReserveFactor_OutOfRange_IsRefusedAtStartUp()
    {
        var configuration = new ConfigurationBuilder().Build();
        var options = new AdmissionOptions();
        options.Classes["interactive"] = new PriorityClassOptions { Order = 0, ReserveFactor = -1 };
        options.Classes["batch"] = new PriorityClassOptions { Order = 1 };
        var failures = new AdmissionOptionsValidator(configuration).Validate(null, options).Failures!;
        Assert.Contains(failures, f => f.Contains("Gateway:Admission:Classes:interactive:ReserveFactor", StringComparison.Ordinal));
    }

    /// <summary>The two built-in classes, with no group kept off: the reservation alone decides.</summary>
    private static AdmissionKit Kit() => new(new AdmissionOptions
    {
        MaxQueueWait = TimeSpan.FromSeconds(30),
        Classes = { ["interactive"] = new() { Order = 0 }, ["batch"] = new() { Order = 1 } },
    });
}
