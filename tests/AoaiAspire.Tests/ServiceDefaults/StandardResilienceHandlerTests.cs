using System.Collections.Concurrent;
using System.Net;
using AoaiAspire.ServiceDefaults.Resilience;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;

namespace AoaiAspire.Tests.ServiceDefaults;

public sealed class StandardResilienceHandlerTests
{
    private const string Client = "upstream";

    [Fact]
    public async Task ServiceUnavailableIsRetriedUntilSuccess()
    {
        var statuses = new ConcurrentQueue<HttpStatusCode>([HttpStatusCode.ServiceUnavailable, HttpStatusCode.OK]);
        var hits = 0;
        await using var server = await LoopbackApp.StartAsync(app => app.MapGet("/", () =>
        {
            Interlocked.Increment(ref hits);
            return Results.StatusCode((int)(statuses.TryDequeue(out var s) ? s : HttpStatusCode.OK));
        }));
        var retries = new ConcurrentBag<OnRetryArguments<HttpResponseMessage>>();
        using var services = BuildServices(o =>
        {
            o.Retry.Delay = TimeSpan.Zero;
            o.Retry.OnRetry = args => { retries.Add(args); return ValueTask.CompletedTask; };
        });

        using var response = await services.GetRequiredService<IHttpClientFactory>().CreateClient(Client).GetAsync(server.Address);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, hits);
        var retry = Assert.Single(retries);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, retry.Outcome.Result!.StatusCode);
    }

    [Fact]
    public async Task TooManyRequestsWaitsForRetryAfter()
    {
        var stub = new StubHandler(
            _ => new HttpResponseMessage(HttpStatusCode.TooManyRequests) { Headers = { RetryAfter = new(TimeSpan.FromSeconds(7)) } },
            _ => new HttpResponseMessage(HttpStatusCode.OK));
        var time = new ManualTimeProvider();
        var delays = new ConcurrentQueue<TimeSpan>();
        using var services = BuildServices(o => o.Retry.OnRetry = args => { delays.Enqueue(args.RetryDelay); return ValueTask.CompletedTask; }, stub, time);

        var pending = services.GetRequiredService<IHttpClientFactory>().CreateClient(Client).GetAsync("http://upstream.test/");
        await TestWait.UntilAsync(() => time.HasTimerDueIn(TimeSpan.FromSeconds(7)), TimeSpan.FromSeconds(10), "the retry delay timer");
        Assert.Equal(1, stub.Calls);

        time.Advance(TimeSpan.FromSeconds(7));
        using var response = await pending.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, stub.Calls);
        Assert.Equal([TimeSpan.FromSeconds(7)], delays);
    }

    [Fact]
    public void RetryAfterMsHeaderTakesPrecedence()
    {
        using var response = new HttpResponseMessage(HttpStatusCode.TooManyRequests) { Headers = { RetryAfter = new(TimeSpan.FromSeconds(7)) } };
        response.Headers.Add("retry-after-ms", "1500");

        Assert.Equal(TimeSpan.FromMilliseconds(1500), HttpTransientOutcome.GetRetryAfter(response, TimeProvider.System));
    }

    [Fact]
    public void RetryAfterDateIsMeasuredFromTheInjectedClock()
    {
        var time = new ManualTimeProvider();
        using var response = new HttpResponseMessage(HttpStatusCode.ServiceUnavailable) { Headers = { RetryAfter = new(time.GetUtcNow().AddSeconds(12)) } };

        Assert.Equal(TimeSpan.FromSeconds(12), HttpTransientOutcome.GetRetryAfter(response, time));
    }

    [Fact]
    public async Task BadRequestIsNotRetried()
    {
        var stub = new StubHandler(_ => new HttpResponseMessage(HttpStatusCode.BadRequest));
        using var services = BuildServices(o => o.Retry.Delay = TimeSpan.Zero, stub);

        using var response = await services.GetRequiredService<IHttpClientFactory>().CreateClient(Client).GetAsync("http://upstream.test/");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(1, stub.Calls);
    }

    [Fact]
    public async Task StreamBodyIsSentOnceEvenWhenTransient()
    {
        var stub = new StubHandler(_ => new HttpResponseMessage(HttpStatusCode.ServiceUnavailable));
        using var services = BuildServices(o => o.Retry.Delay = TimeSpan.Zero, stub);
        var client = services.GetRequiredService<IHttpClientFactory>().CreateClient(Client);

        using var streamed = await client.PostAsync("http://upstream.test/", new StreamContent(new MemoryStream([1, 2, 3])));
        Assert.Equal(1, stub.Calls);

        using var buffered = await client.PostAsync("http://upstream.test/", new ByteArrayContent([1, 2, 3]));
        Assert.Equal(1 + 4, stub.Calls);
    }

    [Fact]
    public async Task CircuitOpensAfterFailuresAndStopsCallingUpstream()
    {
        var stub = new StubHandler(_ => new HttpResponseMessage(HttpStatusCode.InternalServerError));
        var opened = 0;
        using var services = BuildServices(o =>
        {
            o.Retry.MaxRetryAttempts = 0;
            o.CircuitBreaker.MinimumThroughput = 2;
            o.CircuitBreaker.FailureRatio = 0.5;
            o.CircuitBreaker.OnOpened = _ => { Interlocked.Increment(ref opened); return ValueTask.CompletedTask; };
        }, stub, new ManualTimeProvider());
        var client = services.GetRequiredService<IHttpClientFactory>().CreateClient(Client);

        for (var i = 0; i < 2; i++)
        {
            using var failed = await client.GetAsync("http://upstream.test/");
            Assert.Equal(HttpStatusCode.InternalServerError, failed.StatusCode);
        }

        await Assert.ThrowsAsync<BrokenCircuitException>(() => client.GetAsync("http://upstream.test/"));
        Assert.Equal(2, stub.Calls);
        Assert.Equal(1, opened);
    }

    [Fact]
    public async Task CircuitStateSurvivesHandlerRecycling()
    {
        var stub = new StubHandler(_ => new HttpResponseMessage(HttpStatusCode.InternalServerError));
        using var services = BuildServices(o =>
        {
            o.Retry.MaxRetryAttempts = 0;
            o.CircuitBreaker.MinimumThroughput = 2;
            o.CircuitBreaker.FailureRatio = 0.5;
        }, stub, new ManualTimeProvider());
        var handlers = services.GetRequiredService<IHttpMessageHandlerFactory>();

        // Two separate handler chains for the same name, as IHttpClientFactory builds after a recycle.
        using (var first = new HttpClient(handlers.CreateHandler(Client), disposeHandler: false))
        {
            (await first.GetAsync("http://upstream.test/")).Dispose();
            (await first.GetAsync("http://upstream.test/")).Dispose();
        }

        var pipelines = services.GetRequiredService<StandardResiliencePipelines>();
        using var second = new HttpClient(new StandardResilienceHandler(pipelines.Get(Client)) { InnerHandler = stub }, disposeHandler: false);
        await Assert.ThrowsAsync<BrokenCircuitException>(() => second.GetAsync("http://upstream.test/"));
    }

    [Fact]
    public async Task TotalTimeoutEndsTheRequestAcrossAttempts()
    {
        var stub = new StubHandler(async (_, cancellationToken) =>
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken);
            return new HttpResponseMessage(HttpStatusCode.OK);
        });
        var time = new ManualTimeProvider();
        using var services = BuildServices(o =>
        {
            o.TotalRequestTimeout = TimeSpan.FromSeconds(5);
            o.AttemptTimeout = TimeSpan.FromSeconds(2);
            o.CircuitBreaker.SamplingDuration = TimeSpan.FromSeconds(30);
            o.Retry.Delay = TimeSpan.Zero;
            o.Retry.MaxRetryAttempts = 10;
        }, stub, time);

        var pending = services.GetRequiredService<IHttpClientFactory>().CreateClient(Client).GetAsync("http://upstream.test/");
        await TestWait.UntilAsync(() => time.HasTimerDueIn(TimeSpan.FromSeconds(2)), TimeSpan.FromSeconds(10), "the first attempt's timeout");
        time.Advance(TimeSpan.FromSeconds(2));
        await TestWait.UntilAsync(() => stub.Calls == 2 && time.HasTimerDueIn(TimeSpan.FromSeconds(2)), TimeSpan.FromSeconds(10), "the second attempt");
        time.Advance(TimeSpan.FromSeconds(2));
        await TestWait.UntilAsync(() => stub.Calls == 3 && time.HasTimerDueIn(TimeSpan.FromSeconds(1)), TimeSpan.FromSeconds(10), "the third attempt");
        time.Advance(TimeSpan.FromSeconds(1));

        await Assert.ThrowsAsync<TimeoutRejectedException>(() => pending.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(3, stub.Calls);
    }

    [Fact]
    public async Task ConcurrencyLimitRejectsTheRequestOverTheLimit()
    {
        var release = new TaskCompletionSource();
        var stub = new StubHandler(async (_, _) =>
        {
            await release.Task;
            return new HttpResponseMessage(HttpStatusCode.OK);
        });
        using var services = BuildServices(o => o.MaxConcurrentRequests = 1, stub);
        var client = services.GetRequiredService<IHttpClientFactory>().CreateClient(Client);

        var first = client.GetAsync("http://upstream.test/");
        await TestWait.UntilAsync(() => stub.Calls == 1, TimeSpan.FromSeconds(10), "the first request to be in flight");
        await Assert.ThrowsAsync<ConcurrencyLimitRejectedException>(() => client.GetAsync("http://upstream.test/"));

        release.SetResult();
        using var response = await first;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1, stub.Calls);
    }

    [Fact]
    public void OptionsDefaultsMatchTheStandardHandler()
    {
        var o = new HttpStandardResilienceOptions();

        Assert.Equal(1000, o.MaxConcurrentRequests);
        Assert.Equal(TimeSpan.FromSeconds(30), o.TotalRequestTimeout);
        Assert.Equal(3, o.Retry.MaxRetryAttempts);
        Assert.Equal(TimeSpan.FromSeconds(2), o.Retry.Delay);
        Assert.Equal(Polly.DelayBackoffType.Exponential, o.Retry.BackoffType);
        Assert.True(o.Retry.UseJitter);
        Assert.True(o.Retry.ShouldRetryAfterHeader);
        Assert.Equal(0.1, o.CircuitBreaker.FailureRatio);
        Assert.Equal(TimeSpan.FromSeconds(30), o.CircuitBreaker.SamplingDuration);
        Assert.Equal(100, o.CircuitBreaker.MinimumThroughput);
        Assert.Equal(TimeSpan.FromSeconds(5), o.CircuitBreaker.BreakDuration);
        Assert.Equal(TimeSpan.FromSeconds(10), o.AttemptTimeout);
    }

    [Fact]
    public void OptionsAreBoundFromConfigurationForEveryClient()
    {
        using var services = BuildServices(configure: null, settings: new Dictionary<string, string?>
        {
            ["ServiceDefaults:Http:Resilience:Retry:MaxRetryAttempts"] = "5",
            ["ServiceDefaults:Http:Resilience:AttemptTimeout"] = "00:00:04",
        });

        var options = services.GetRequiredService<IOptionsMonitor<HttpStandardResilienceOptions>>().Get(Client);

        Assert.Equal(5, options.Retry.MaxRetryAttempts);
        Assert.Equal(TimeSpan.FromSeconds(4), options.AttemptTimeout);
    }

    [Fact]
    public void InvalidOptionsFailNamingTheKey()
    {
        using var services = BuildServices(o => o.AttemptTimeout = TimeSpan.FromMinutes(1));

        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptionsMonitor<HttpStandardResilienceOptions>>().Get(Client));

        Assert.Contains("ServiceDefaults:Http:Resilience:AttemptTimeout", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NamedClientCanOptOutOfTheDefaultHandler()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.AddServiceDefaults();
        builder.Services.AddHttpClient("upstream-forwarder").RemoveStandardResilienceHandler();
        using var host = builder.Build();
        var handlers = host.Services.GetRequiredService<IHttpMessageHandlerFactory>();

        Assert.Contains(Chain(handlers.CreateHandler("any")), h => h is StandardResilienceHandler);
        Assert.DoesNotContain(Chain(handlers.CreateHandler("upstream-forwarder")), h => h is StandardResilienceHandler);
        Assert.DoesNotContain(Chain(handlers.CreateHandler("OtlpTraceExporter")), h => h is StandardResilienceHandler);
    }

    internal static IEnumerable<HttpMessageHandler> Chain(HttpMessageHandler handler)
    {
        for (HttpMessageHandler? h = handler; h is not null; h = (h as DelegatingHandler)?.InnerHandler)
        {
            yield return h;
        }
    }

    private static ServiceProvider BuildServices(
        Action<HttpStandardResilienceOptions>? configure,
        StubHandler? primary = null,
        TimeProvider? time = null,
        IDictionary<string, string?>? settings = null)
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(settings ?? new Dictionary<string, string?>()).Build());
        if (time is not null)
        {
            services.AddSingleton(time);
        }

        var client = services.AddHttpClient(Client).AddStandardResilienceHandler(configure);
        if (primary is not null)
        {
            client.ConfigurePrimaryHttpMessageHandler(() => primary);
        }

        return services.BuildServiceProvider();
    }

    /// <summary>Answers each call with the next responder (the last one repeats) and counts the calls.</summary>
    private sealed class StubHandler : HttpMessageHandler
    {
        private readonly Func<HttpRequestMessage, CancellationToken, Task<HttpResponseMessage>>[] _responders;
        private int _calls;

        public StubHandler(params Func<HttpRequestMessage, HttpResponseMessage>[] responders) =>
            _responders = [.. responders.Select(r => (Func<HttpRequestMessage, CancellationToken, Task<HttpResponseMessage>>)((request, _) => Task.FromResult(r(request))))];

        public StubHandler(Func<HttpRequestMessage, CancellationToken, Task<HttpResponseMessage>> responder) => _responders = [responder];

        public int Calls => Volatile.Read(ref _calls);

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var call = Interlocked.Increment(ref _calls);
            if (request.Content is not null)
            {
                await request.Content.LoadIntoBufferAsync(cancellationToken);
            }

            return await _responders[Math.Min(call, _responders.Length) - 1](request, cancellationToken);
        }
    }
}
