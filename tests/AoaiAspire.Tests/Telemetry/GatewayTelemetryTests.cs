using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using AoaiAspire.Gateway.Telemetry;
using AoaiAspire.Simulator;
using AoaiAspire.Tests.Common;
using AoaiAspire.Tests.Gateway;

namespace AoaiAspire.Tests.Telemetry;

/// <summary>What a proxied request leaves in metrics and traces (listeners see every process-wide instrument; filtered by this test's backend names).</summary>
public sealed class GatewayTelemetryTests
{
    private sealed record Measurement(string Instrument, double Value, Dictionary<string, object?> Tags);

    private static MeterListener ListenToGatewayMeter(ConcurrentBag<Measurement> measurements)
    {
        var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == TelemetryNames.Meter)
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((i, v, tags, _) => measurements.Add(new(i.Name, v, ToDictionary(tags))));
        listener.SetMeasurementEventCallback<double>((i, v, tags, _) => measurements.Add(new(i.Name, v, ToDictionary(tags))));
        listener.Start();
        return listener;
    }

    private static Dictionary<string, object?> ToDictionary(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var d = new Dictionary<string, object?>();
        foreach (var tag in tags)
        {
            d[tag.Key] = tag.Value;
        }
        return d;
    }

    [Fact]
    public async Task FailoverLeavesOneTraceWithCallerSpanAttemptSpansAndGenAiMetrics()
    {
        var activities = new ConcurrentBag<Activity>();
        using var activityListener = new ActivityListener
        {
            ShouldListenTo = s => s.Name is TelemetryNames.ActivitySource or "Microsoft.AspNetCore",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activities.Add,
        };
        ActivitySource.AddActivityListener(activityListener);
        var measurements = new ConcurrentBag<Measurement>();
        using var meterListener = ListenToGatewayMeter(measurements);

        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("tel-primary"), Simulators.Account("tel-fallback")]);
        await using var gateway = await GatewayTestHost.StartAsync(Simulators.GatewaySettings(sims, 1, 2));
        sims["tel-primary"].Faults = new FaultOptions { ForceThrottle = TimeSpan.FromSeconds(60) };

        using var response = await gateway.Client.PostAsync("/openai/deployments/chat/chat/completions?api-version=2024-10-21", GatewayRoutingTests.Chat(maxTokens: 6));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        // Traces: the caller's server span, and under it one span per upstream attempt.
        await Wait.UntilAsync(() => activities.Any(a => a.OperationName == TelemetryNames.AttemptSpan && Equals(a.GetTagItem(TelemetryNames.Backend), "tel-fallback"))
            && activities.Any(a => a.Kind == ActivityKind.Server && Equals(a.GetTagItem(TelemetryNames.Backend), "tel-fallback")));
        var server = activities.Single(a => a.Kind == ActivityKind.Server && Equals(a.GetTagItem(TelemetryNames.Backend), "tel-fallback"));
        var attempts = activities.Where(a => a.OperationName == TelemetryNames.AttemptSpan && a.TraceId == server.TraceId).OrderBy(a => a.GetTagItem(TelemetryNames.Attempt)).ToList();
        Assert.Equal(2, attempts.Count);
        Assert.All(attempts, a => Assert.Equal(server.SpanId, a.ParentSpanId));
        Assert.Equal("tel-primary", attempts[0].GetTagItem(TelemetryNames.Backend));
        Assert.Equal(AttemptOutcomes.Throttled, attempts[0].GetTagItem(TelemetryNames.Outcome));
        Assert.Equal(AttemptOutcomes.Throttled, attempts[0].GetTagItem(TelemetryNames.RetryReason));
        Assert.Equal(429, attempts[0].GetTagItem(TelemetryNames.ResponseStatus));
        Assert.Equal(ActivityStatusCode.Error, attempts[0].Status);
        Assert.Equal(AttemptOutcomes.Success, attempts[1].GetTagItem(TelemetryNames.Outcome));
        Assert.Equal("tel-fallback", attempts[1].GetTagItem(TelemetryNames.Region));
        Assert.Equal(6L, attempts[1].GetTagItem(TelemetryNames.OutputTokens));
        Assert.Equal("chat", server.GetTagItem(TelemetryNames.RequestModel));
        Assert.Equal(6L, server.GetTagItem(TelemetryNames.OutputTokens));

        // Metrics.
        var output = measurements.Single(m => m.Instrument == TelemetryNames.TokenUsage && Equals(m.Tags[TelemetryNames.Backend], "tel-fallback") && Equals(m.Tags[TelemetryNames.TokenType], "output"));
        Assert.Equal(6, output.Value);
        Assert.Equal("chat", output.Tags[TelemetryNames.OperationName]);
        Assert.Equal("chat", output.Tags[TelemetryNames.RequestModel]);
        Assert.Equal("anonymous", output.Tags[TelemetryNames.Consumer]);
        Assert.Contains(measurements, m => m.Instrument == TelemetryNames.TokenUsage && Equals(m.Tags[TelemetryNames.Backend], "tel-fallback") && Equals(m.Tags[TelemetryNames.TokenType], "input") && m.Value > 0);
        Assert.Contains(measurements, m => m.Instrument == TelemetryNames.OperationDuration && Equals(m.Tags[TelemetryNames.Backend], "tel-fallback") && Equals(m.Tags[TelemetryNames.ResponseStatus], 200));
        Assert.Contains(measurements, m => m.Instrument == TelemetryNames.UpstreamThrottles && Equals(m.Tags[TelemetryNames.Backend], "tel-primary"));
        Assert.Contains(measurements, m => m.Instrument == TelemetryNames.Retries && Equals(m.Tags[TelemetryNames.Backend], "tel-primary") && Equals(m.Tags[TelemetryNames.RetryReason], AttemptOutcomes.Throttled));
        Assert.Contains(measurements, m => m.Instrument == TelemetryNames.BackendStateChanges && Equals(m.Tags[TelemetryNames.Backend], "tel-primary") && Equals(m.Tags[TelemetryNames.StateChange], "throttled"));
        Assert.Contains(measurements, m => m.Instrument == TelemetryNames.AddedLatency && m.Value >= 0);
        Assert.Equal(2, measurements.Count(m => m.Instrument == TelemetryNames.Attempts && (Equals(m.Tags[TelemetryNames.Backend], "tel-primary") || Equals(m.Tags[TelemetryNames.Backend], "tel-fallback"))));
    }

    [Fact]
    public async Task RejectionsAndStreamsAreMeasured()
    {
        var measurements = new ConcurrentBag<Measurement>();
        using var meterListener = ListenToGatewayMeter(measurements);
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("tel-stream")]);
        await using var gateway = await GatewayTestHost.StartAsync(Simulators.GatewaySettings(sims));

        using var bad = await gateway.Client.PostAsync("/openai/deployments/tel-missing/chat/completions?api-version=2024-10-21", GatewayRoutingTests.Chat());
        Assert.Equal(HttpStatusCode.NotFound, bad.StatusCode);
        using var stream = await gateway.Client.PostAsync("/openai/deployments/chat/chat/completions?api-version=2024-10-21", GatewayRoutingTests.Chat(maxTokens: 4, stream: true));
        await stream.Content.ReadAsStringAsync(TestDeadline.Token);

        Assert.Contains(measurements, m => m.Instrument == TelemetryNames.Rejected && Equals(m.Tags[TelemetryNames.RejectReason], "unknown_deployment"));
        await Wait.UntilAsync(() => measurements.Any(m => m.Instrument == TelemetryNames.TimeToFirstChunk && Equals(m.Tags[TelemetryNames.Backend], "tel-stream")));
    }

    [Fact]
    public async Task EmittedNamesFollowGenAiConventions()
    {
        // Literal names on purpose: this is what a dashboard or an OpenTelemetry GenAI view looks for, whatever
        // the constants in code say.
        var activities = new ConcurrentBag<Activity>();
        using var activityListener = new ActivityListener
        {
            ShouldListenTo = s => s.Name is TelemetryNames.ActivitySource or "Microsoft.AspNetCore",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activities.Add,
        };
        ActivitySource.AddActivityListener(activityListener);
        var measurements = new ConcurrentBag<Measurement>();
        using var meterListener = ListenToGatewayMeter(measurements);
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("tel-names")]);
        await using var gateway = await GatewayTestHost.StartAsync(Simulators.GatewaySettings(sims));

        using var response = await gateway.Client.PostAsync("/openai/deployments/chat/chat/completions?api-version=2024-10-21", GatewayRoutingTests.Chat(maxTokens: 3));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        await Wait.UntilAsync(() => measurements.Any(m => m.Instrument == "gen_ai.client.operation.duration" && Equals(m.Tags.GetValueOrDefault("aoai.backend"), "tel-names")));
        var usage = measurements.Where(m => m.Instrument == "gen_ai.client.token.usage" && Equals(m.Tags.GetValueOrDefault("aoai.backend"), "tel-names")).ToList();
        Assert.Contains(usage, m => Equals(m.Tags["gen_ai.token.type"], "input"));
        Assert.Contains(usage, m => Equals(m.Tags["gen_ai.token.type"], "output") && m.Value == 3);
        Assert.All(usage, m => Assert.Equal("chat", m.Tags["gen_ai.request.model"]));
        Assert.All(usage, m => Assert.Equal("chat", m.Tags["gen_ai.operation.name"]));

        await Wait.UntilAsync(() => activities.Any(a => a.Kind == ActivityKind.Server && Equals(a.GetTagItem("aoai.backend"), "tel-names")));
        var server = activities.Single(a => a.Kind == ActivityKind.Server && Equals(a.GetTagItem("aoai.backend"), "tel-names"));
        Assert.Equal("chat", server.GetTagItem("gen_ai.request.model"));
        Assert.Equal(3L, server.GetTagItem("gen_ai.usage.output_tokens"));
        Assert.True(server.GetTagItem("gen_ai.usage.input_tokens") is long input && input > 0);
    }
}
