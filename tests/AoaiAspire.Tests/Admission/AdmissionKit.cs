using AoaiAspire.Gateway.Admission;
using AoaiAspire.Gateway.Availability;
using AoaiAspire.Gateway.Configuration;
using AoaiAspire.Gateway.LoadBalancing;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace AoaiAspire.Tests.Admission;

/// <summary>
/// An admission queue on a fake clock over two backends that are never called: ptu (priority group 1) and paygo
/// (group 2), deployment "chat". Without configured classes: interactive (0) above batch (1), batch kept off group 1.
/// </summary>
internal sealed class AdmissionKit : IDisposable
{
    public AdmissionKit(AdmissionOptions? options = null)
    {
        Clock = TestClock.Create();
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(GatewayTestHost.Backends(("ptu", new Uri("http://ptu.invalid/"), "k", 1), ("paygo", new Uri("http://paygo.invalid/"), "k", 2)))
            .Build();
        Registry = new BackendRegistry(configuration, NullLogger<BackendRegistry>.Instance);
        Updater = new BackendStateUpdater(Clock, new HealthProbe.FixedOptionsMonitor<GatewayOptions>(new GatewayOptions()), NullLogger<BackendStateUpdater>.Instance);
        _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var admission = options ?? new AdmissionOptions { MaxQueueWait = TimeSpan.FromSeconds(30), WakeJitter = TimeSpan.FromMilliseconds(50) };
        if (admission.Classes.Count == 0)
        {
            admission.Classes["interactive"] = new PriorityClassOptions { Order = 0 };
            admission.Classes["batch"] = new PriorityClassOptions { Order = 1, ExcludedPriorityGroups = [1] };
        }
        Queue = new AdmissionQueue(Microsoft.Extensions.Options.Options.Create(admission), Registry, Updater,
            new AdmissionMetrics(_services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>()), Clock, NullLogger<AdmissionQueue>.Instance, new Random(5));
        Route = Registry.Catalog.Routes["chat"];
        Selector = new BackendSelector(new WeightedPolicy(new Random(1)));
    }

    private readonly ServiceProvider _services;
    public System.Diagnostics.Metrics.IMeterFactory Meters => _services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>();
    public FakeTimeProvider Clock { get; }
    public BackendRegistry Registry { get; }
    public BackendStateUpdater Updater { get; }
    public AdmissionQueue Queue { get; }
    public DeploymentRoute Route { get; }
    public BackendSelector Selector { get; }
    public long Now => Clock.GetUtcNow().UtcTicks;

    /// <summary>Every candidate throttled for <paramref name="wait"/>; the answer the selector would give.</summary>
    public NoBackend ThrottleAll(TimeSpan wait)
    {
        foreach (var candidate in Route.Candidates)
        {
            Updater.OnThrottled(candidate.State, "chat", wait);
        }
        return new NoBackend(true, Now + wait.Ticks);
    }

    public WaitingRequest Wait(string consumer, string priorityClass, NoBackend none, CancellationToken aborted = default)
    {
        var context = new DefaultHttpContext { RequestAborted = aborted };
        var waiter = Queue.CreateWaiter(context, Route, consumer, priorityClass, TimeSpan.FromSeconds(30), 1000)!;
        Assert.True(Queue.TryEnqueue(waiter, context, none));
        return waiter;
    }

    public void Dispose()
    {
        Queue.Dispose();
        Registry.Dispose();
        _services.Dispose();
    }
}
