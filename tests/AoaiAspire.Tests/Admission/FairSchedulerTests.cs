using AoaiAspire.Gateway.Admission;
using AoaiAspire.Gateway.Configuration;
using AoaiAspire.Gateway.Availability;
using AoaiAspire.Gateway.LoadBalancing;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace AoaiAspire.Tests.Admission;

/// <summary>The admission queue's logic without sockets: the scheduler's order and fairness, dispatch on a fake clock.</summary>
public sealed class FairSchedulerTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly PriorityClass[] Classes =
    [
        new("interactive", 0, 0, []),
        new("batch", 1, 1, [1]),
    ];

    /// <summary>How the wait ended, or null while it goes on (never blocks).</summary>
    private static async Task<WaitOutcome?> Ended(WaitingRequest waiter) => waiter.Outcome.IsCompleted ? await waiter.Outcome : null;

    private static WaitingRequest Request(string consumer, PriorityClass priorityClass, long cost) => new(consumer, priorityClass, cost, long.MaxValue, null!);

    [Fact]
    public void TakeNext_InteractiveWaiting_IsTakenBeforeEarlierBatch()
    {
        var scheduler = new FairScheduler(Classes);
        scheduler.Enqueue(Request("jobs", Classes[1], 100), front: false);
        scheduler.Enqueue(Request("jobs", Classes[1], 100), front: false);
        scheduler.Enqueue(Request("web", Classes[0], 100), front: false);

        Assert.Equal("web", scheduler.TakeNext()!.Consumer);
        Assert.Equal("jobs", scheduler.TakeNext()!.Consumer);
        // A class whose backends cannot serve is passed over; the next class that can is served.
        scheduler.Enqueue(Request("web", Classes[0], 100), front: false);
        Assert.Equal("jobs", scheduler.TakeNext(servableClasses: 1UL << 1)!.Consumer);
        Assert.Equal("web", scheduler.TakeNext()!.Consumer);
        Assert.Null(scheduler.TakeNext());
        Assert.Equal(0, scheduler.Count);
    }

    [Fact]
    public void TakeNext_TwoEqualBatchConsumers_Alternate()
    {
        var scheduler = new FairScheduler(Classes);
        for (var i = 0; i < 6; i++)
        {
            scheduler.Enqueue(Request("a", Classes[1], 1000), front: false); // "a" queues all of its requests first
        }
        for (var i = 0; i < 6; i++)
        {
            scheduler.Enqueue(Request("b", Classes[1], 1000), front: false);
        }

        var order = string.Concat(Enumerable.Range(0, 12).Select(_ => scheduler.TakeNext()!.Consumer));

        Assert.Equal("abababababab", order);
    }

    [Fact]
    public void TakeNext_HeavyConsumer_GetsTheSameTokensNotTheSameRequests()
    {
        var scheduler = new FairScheduler(Classes);
        for (var i = 0; i < 40; i++)
        {
            scheduler.Enqueue(Request("heavy", Classes[1], 4000), front: false);
            scheduler.Enqueue(Request("light", Classes[1], 500), front: false);
        }

        var tokens = new Dictionary<string, long> { ["heavy"] = 0, ["light"] = 0 };
        for (var i = 0; i < 36; i++)
        {
            var next = scheduler.TakeNext()!;
            tokens[next.Consumer] += next.Cost;
            // At every point the two have had the same tokens, give or take one big request and a quantum.
            Assert.InRange(tokens["heavy"] - tokens["light"], -(4000 + FairScheduler.Quantum), 4000 + FairScheduler.Quantum);
        }
        Assert.True(tokens["light"] > 0 && tokens["heavy"] > 0);
    }

    [Fact]
    public void Enqueue_AtFront_KeepsThePlaceOfARequestThatFoundNoBackend()
    {
        var scheduler = new FairScheduler(Classes);
        var first = Request("a", Classes[1], 1000);
        scheduler.Enqueue(first, front: false);
        scheduler.Enqueue(Request("a", Classes[1], 1000), front: false);
        scheduler.Enqueue(Request("b", Classes[1], 1000), front: false);

        Assert.Same(first, scheduler.TakeNext());
        scheduler.Enqueue(first, front: true); // dispatched, found every backend throttled again: back where it was

        Assert.Same(first, scheduler.TakeNext());
        Assert.Equal("b", scheduler.TakeNext()!.Consumer);
    }

    [Fact]
    public void Remove_WaitingRequest_LeavesTheQueue()
    {
        var scheduler = new FairScheduler(Classes);
        var gone = Request("a", Classes[0], 10);
        scheduler.Enqueue(gone, front: false);
        scheduler.Enqueue(Request("b", Classes[0], 10), front: false);

        Assert.True(scheduler.Remove(gone));
        Assert.False(scheduler.Remove(gone));
        Assert.Equal(1, scheduler.Count);
        Assert.Equal("b", scheduler.TakeNext()!.Consumer);
    }

    [Fact]
    public void Validator_BadSettings_NameTheKey()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Gateway:Admission:Classes:gold:Order"] = "0",
            ["Gateway:Admission:Classes:silver:Order"] = "0",
        }).Build();
        var validator = new AdmissionOptionsValidator(configuration);
        var admission = configuration.GetSection(AdmissionOptions.SectionName).Get<AdmissionOptions>()!;
        admission.MaxQueueWait = TimeSpan.FromMinutes(11);
        admission.DefaultClass = "interactive";

        var failures = validator.Validate(null, admission).Failures!.ToList();
        Assert.Contains(failures, f => f.Contains("Gateway:Admission:MaxQueueWait", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("Gateway:Admission:DefaultClass 'interactive'", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("Gateway:Admission:Classes:gold:Order", StringComparison.Ordinal));

        var gateway = new GatewayOptions();
        gateway.Consumers["jobs"] = new ConsumerOptions { Keys = ["key-of-jobs"], Priority = "batch", MaxQueueWait = TimeSpan.FromSeconds(-1) };
        var consumerFailures = validator.Validate(null, gateway).Failures!.ToList();
        Assert.Contains(consumerFailures, f => f.Contains("Gateway:Consumers:jobs:Priority 'batch'", StringComparison.Ordinal));
        Assert.Contains(consumerFailures, f => f.Contains("Gateway:Consumers:jobs:MaxQueueWait", StringComparison.Ordinal));

        // Without configured classes the two built-in ones exist.
        var builtIn = new AdmissionOptionsValidator(new ConfigurationBuilder().Build());
        Assert.True(builtIn.Validate(null, new AdmissionOptions()).Succeeded);
        gateway.Consumers["jobs"].MaxQueueWait = TimeSpan.FromSeconds(30);
        Assert.True(builtIn.Validate(null, gateway).Succeeded);
    }

    // ---- dispatch on a fake clock ----

    [Fact]
    public async Task Pump_ThrottleEnds_GrantsOneAtATimeAfterTheJitter()
    {
        using var kit = new AdmissionKit();
        var none = kit.ThrottleAll(TimeSpan.FromSeconds(2));
        var a = kit.Wait("a", "interactive", none);
        var b = kit.Wait("b", "interactive", none);
        Assert.Equal(2, kit.Queue.Queued);

        kit.Clock.Advance(TimeSpan.FromSeconds(2) - TimeSpan.FromMilliseconds(1));
        Assert.False(a.Outcome.IsCompleted);
        kit.Clock.Advance(TimeSpan.FromMilliseconds(52)); // past the end and the largest jitter
        Assert.True(a.Outcome.IsCompletedSuccessfully);
        Assert.Equal(WaitOutcome.Granted, await Ended(a));
        Assert.False(b.Outcome.IsCompleted); // one at a time: b goes once a has selected its backend

        a.Queue.Dispatched(a);
        Assert.Equal(WaitOutcome.Granted, await Ended(b));
        Assert.Equal(0, kit.Queue.Queued);
    }

    [Fact]
    public async Task Selected_WithDispatchHold_NextGoesWhenAnsweredOrWhenTheHoldEnds()
    {
        using var kit = new AdmissionKit(new AdmissionOptions { MaxQueueWait = TimeSpan.FromSeconds(30), WakeJitter = TimeSpan.Zero, DispatchHold = TimeSpan.FromMilliseconds(200) });
        var none = kit.ThrottleAll(TimeSpan.FromSeconds(1));
        var a = kit.Wait("a", "interactive", none);
        var b = kit.Wait("b", "interactive", none);
        var c = kit.Wait("c", "interactive", none);
        kit.Clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(WaitOutcome.Granted, await Ended(a));

        kit.Queue.Selected(a, picked: true);
        Assert.Null(await Ended(b)); // a holds the slot while its backend may still refuse it
        kit.Clock.Advance(TimeSpan.FromMilliseconds(200));
        Assert.Equal(WaitOutcome.Granted, await Ended(b));

        kit.Queue.Selected(b, picked: true);
        b.Queue.Dispatched(b); // b was answered before its hold ran out
        Assert.Equal(WaitOutcome.Granted, await Ended(c));
        kit.Queue.Leave(a);
        kit.Queue.Leave(b);
    }

    [Fact]
    public void Pump_TwoBatchConsumersWaiting_AreDispatchedInTurn()
    {
        using var kit = new AdmissionKit();
        var none = kit.ThrottleAll(TimeSpan.FromSeconds(1));
        var waiting = new List<WaitingRequest>();
        for (var i = 0; i < 4; i++)
        {
            waiting.Add(kit.Wait("a", "batch", none));
        }
        for (var i = 0; i < 4; i++)
        {
            waiting.Add(kit.Wait("b", "batch", none));
        }

        kit.Clock.Advance(TimeSpan.FromSeconds(1.1));
        var order = "";
        for (var i = 0; i < 8; i++)
        {
            var granted = waiting.Single(w => w.HoldsGrant);
            order += granted.Consumer;
            waiting.Remove(granted);
            granted.Queue.Dispatched(granted);
        }
        Assert.Equal("abababab", order);
    }

    [Fact]
    public async Task Pump_BatchExcludedFromGroup1_WaitsWhileOnlyThePtuIsFree()
    {
        using var kit = new AdmissionKit();
        var paygo = kit.Route.Candidates.Single(c => c.Backend.Priority == 2);
        var ptu = kit.Route.Candidates.Single(c => c.Backend.Priority == 1);
        kit.Updater.OnThrottled(paygo.State, "chat", TimeSpan.FromSeconds(3));
        kit.Updater.OnThrottled(ptu.State, "chat", TimeSpan.FromSeconds(1));
        var batch = kit.Wait("jobs", "batch", new NoBackend(true, kit.Now + TimeSpan.FromSeconds(3).Ticks));

        kit.Clock.Advance(TimeSpan.FromSeconds(2)); // the PTU is free; batch may not use it
        Assert.False(batch.Outcome.IsCompleted);
        kit.Clock.Advance(TimeSpan.FromSeconds(1.1));
        Assert.Equal(WaitOutcome.Granted, await Ended(batch));
    }

    [Fact]
    public void RequestPathChecks_NothingWaiting_AllocateNothingAndArePrinted()
    {
        // What a request that never waits pays for the queue: its class's exclusions, the "anyone waiting ahead?" read,
        // and the completion signal (README "Admission", "What it costs a request that does not wait").
        using var kit = new AdmissionKit();
        var route = kit.Route;
        var withoutExclusions = new AdmissionKit(new AdmissionOptions { MaxQueueWait = TimeSpan.FromSeconds(30), Classes = { ["interactive"] = new() { Order = 0 } } });
        ulong sink = 0;
        void OneRequest(AdmissionQueue queue, string className)
        {
            var priorityClass = queue.ClassOf(className); // as the forwarder does: once per request
            queue.RecordDemand(route, priorityClass, 300);
            sink += queue.Excluded(route, priorityClass);
            sink += queue.MustWaitBehind(route, priorityClass) ? 1UL : 0;
            sink += queue.Reserved(route, priorityClass).Mask;
            queue.OnCompleted(route);
        }
        const int Iterations = 100_000;
        TimeSpan Measure(AdmissionQueue queue, string priorityClass)
        {
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            for (var i = 0; i < Iterations; i++)
            {
                OneRequest(queue, priorityClass);
            }
            return System.Diagnostics.Stopwatch.GetElapsedTime(started);
        }
        Measure(kit.Queue, "batch"); // warm up (JIT tiers, statics)
        Measure(kit.Queue, "interactive"); // also makes the route's demand meter, as the first request does
        Measure(withoutExclusions.Queue, "interactive");

        // Five rounds each, interleaved; the fastest round is the cost with the least interference from other work.
        var before = GC.GetAllocatedBytesForCurrentThread();
        var plain = TimeSpan.MaxValue;
        var excluding = TimeSpan.MaxValue;
        var counted = TimeSpan.MaxValue;
        for (var round = 0; round < 5; round++)
        {
            var p = Measure(withoutExclusions.Queue, "interactive");
            var e = Measure(kit.Queue, "batch");
            var c = Measure(kit.Queue, "interactive");
            plain = p < plain ? p : plain;
            excluding = e < excluding ? e : excluding;
            counted = c < counted ? c : counted;
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.NotEqual(0UL, sink); // batch is kept off group 1: the mask is not empty
        output.WriteLine($"fastest of 5 rounds of {Iterations:N0}: no class excludes a group: {plain.TotalNanoseconds / Iterations:F1} ns per request; " +
            $"a class that excludes one (2 candidates), with interactive demand to keep back for: {excluding.TotalNanoseconds / Iterations:F1} ns per request; " +
            $"interactive above batch (its demand counted): {counted.TotalNanoseconds / Iterations:F1} ns per request; 0 bytes");
        withoutExclusions.Dispose();
    }

    [Fact]
    public void TryEnqueue_ThrottleEndsAfterPatience_IsRefused()
    {
        using var kit = new AdmissionKit();
        var none = kit.ThrottleAll(TimeSpan.FromSeconds(31));
        var context = new DefaultHttpContext();
        var waiter = kit.Queue.CreateWaiter(context, kit.Route, "a", null, TimeSpan.FromSeconds(30), 1000)!;

        Assert.False(kit.Queue.TryEnqueue(waiter, context, none));
        Assert.Equal(0, kit.Queue.Queued);
    }

    [Fact]
    public void CreateWaiter_HeaderLowersPatienceButNeverRaisesIt()
    {
        using var kit = new AdmissionKit();
        var lowered = new DefaultHttpContext();
        lowered.Request.Headers[AdmissionQueue.MaxWaitHeader] = "500";
        var raised = new DefaultHttpContext();
        raised.Request.Headers[AdmissionQueue.MaxWaitHeader] = "600000";
        var zero = new DefaultHttpContext();
        zero.Request.Headers[AdmissionQueue.MaxWaitHeader] = "not a number";

        Assert.Equal(kit.Now + TimeSpan.FromMilliseconds(500).Ticks, kit.Queue.CreateWaiter(lowered, kit.Route, "a", null, TimeSpan.FromSeconds(30), 1)!.Deadline);
        Assert.Equal(kit.Now + TimeSpan.FromSeconds(30).Ticks, kit.Queue.CreateWaiter(raised, kit.Route, "a", null, TimeSpan.FromSeconds(30), 1)!.Deadline);
        Assert.Null(kit.Queue.CreateWaiter(zero, kit.Route, "a", null, TimeSpan.FromSeconds(30), 1));
    }

    [Fact]
    public async Task Patience_RunsOut_TimedOutAndOutOfTheQueue()
    {
        using var kit = new AdmissionKit();
        var none = kit.ThrottleAll(TimeSpan.FromSeconds(10));
        var context = new DefaultHttpContext();
        context.Request.Headers[AdmissionQueue.MaxWaitHeader] = "10000";
        var waiter = kit.Queue.CreateWaiter(context, kit.Route, "a", null, TimeSpan.FromSeconds(30), 1000)!;
        Assert.True(kit.Queue.TryEnqueue(waiter, context, none));
        // Another replica extends the throttle beyond the caller's patience.
        kit.Updater.OnPeerThrottled(kit.Route.Candidates[0].State, "chat", kit.Now + TimeSpan.FromSeconds(60).Ticks);
        kit.Updater.OnPeerThrottled(kit.Route.Candidates[1].State, "chat", kit.Now + TimeSpan.FromSeconds(60).Ticks);

        kit.Clock.Advance(TimeSpan.FromSeconds(10.1));

        Assert.Equal(WaitOutcome.TimedOut, await Ended(waiter));
        Assert.Equal(0, kit.Queue.Queued);
    }

    [Fact]
    public async Task CallerLeaves_OutOfTheQueueAtOnce()
    {
        using var kit = new AdmissionKit();
        using var aborted = new CancellationTokenSource();
        var waiter = kit.Wait("a", null!, kit.ThrottleAll(TimeSpan.FromSeconds(5)), aborted.Token);
        Assert.Equal(1, kit.Queue.Queued);

        aborted.Cancel();

        Assert.Equal(WaitOutcome.CallerGone, await Ended(waiter));
        Assert.Equal(0, kit.Queue.Queued);
    }

    [Fact]
    public async Task Metrics_QueueLengthPerClassAndWaitTimeWithOutcome()
    {
        using var kit = new AdmissionKit();
        using var length = new Microsoft.Extensions.Diagnostics.Metrics.Testing.MetricCollector<int>(kit.Meters, AoaiAspire.Gateway.Telemetry.TelemetryNames.Meter, AoaiAspire.Gateway.Telemetry.TelemetryNames.AdmissionQueueLength);
        using var waits = new Microsoft.Extensions.Diagnostics.Metrics.Testing.MetricCollector<double>(kit.Meters, AoaiAspire.Gateway.Telemetry.TelemetryNames.Meter, AoaiAspire.Gateway.Telemetry.TelemetryNames.AdmissionWait);
        var none = kit.ThrottleAll(TimeSpan.FromSeconds(2));
        var batch = kit.Wait("jobs", "batch", none);

        length.RecordObservableInstruments();
        var queued = length.GetMeasurementSnapshot();
        Assert.Equal(1, queued.Single(m => (string?)m.Tags[AoaiAspire.Gateway.Telemetry.TelemetryNames.PriorityClass] == "batch").Value);
        Assert.Equal(0, queued.Single(m => (string?)m.Tags[AoaiAspire.Gateway.Telemetry.TelemetryNames.PriorityClass] == "interactive").Value);

        kit.Clock.Advance(TimeSpan.FromSeconds(2.1));
        Assert.Equal(WaitOutcome.Granted, await Ended(batch));
        batch.Queue.Dispatched(batch);
        kit.Queue.Leave(batch);

        var wait = Assert.Single(waits.GetMeasurementSnapshot());
        Assert.Equal("batch", wait.Tags[AoaiAspire.Gateway.Telemetry.TelemetryNames.PriorityClass]);
        Assert.Equal("served", wait.Tags[AoaiAspire.Gateway.Telemetry.TelemetryNames.Outcome]);
        Assert.InRange(wait.Value, 2.0, 2.2); // seconds on the fake clock
        Assert.Equal(1, kit.Queue.Report().Classes.Single(c => c.Name == "batch").Served);
    }

    [Fact]
    public async Task Stop_AnswersEveryWaiterShuttingDown()
    {
        using var kit = new AdmissionKit();
        var none = kit.ThrottleAll(TimeSpan.FromSeconds(5));
        var a = kit.Wait("a", "interactive", none);
        var b = kit.Wait("b", "batch", none);

        kit.Queue.Stop();

        Assert.Equal(WaitOutcome.ShuttingDown, await Ended(a));
        Assert.Equal(WaitOutcome.ShuttingDown, await Ended(b));
        Assert.Equal(0, kit.Queue.Queued);
    }
}
