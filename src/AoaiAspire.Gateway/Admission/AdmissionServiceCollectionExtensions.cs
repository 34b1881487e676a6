using AoaiAspire.Gateway.Configuration;
using Microsoft.Extensions.Options;

namespace AoaiAspire.Gateway.Admission;

internal static class AdmissionServiceCollectionExtensions
{
    /// <summary>
    /// Registers the admission queue (<c>Gateway:Admission</c>, validated at start-up with the consumers' <c>Priority</c> and
    /// <c>MaxQueueWait</c>); its waiting callers are answered 503 as the application stops.
    /// </summary>
    public static IServiceCollection AddAdmission(this IServiceCollection services)
    {
        services.AddOptions<AdmissionOptions>()
            .BindConfiguration(AdmissionOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddSingleton<AdmissionOptionsValidator>();
        services.AddSingleton<IValidateOptions<AdmissionOptions>>(sp => sp.GetRequiredService<AdmissionOptionsValidator>());
        services.AddSingleton<IValidateOptions<GatewayOptions>>(sp => sp.GetRequiredService<AdmissionOptionsValidator>());
        services.AddSingleton<AdmissionMetrics>();
        services.AddSingleton<AdmissionQueue>();
        services.AddHostedService<AdmissionShutdown>();
        return services;
    }
}

/// <summary>Answers the queue's waiting callers as soon as the application begins to stop, before Kestrel waits for open requests.</summary>
internal sealed class AdmissionShutdown(AdmissionQueue queue, IHostApplicationLifetime lifetime) : IHostedService
{
    private CancellationTokenRegistration _stopping;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _stopping = lifetime.ApplicationStopping.Register(static q => ((AdmissionQueue)q!).Stop(), queue);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _stopping.Dispose();
        queue.Stop();
        return Task.CompletedTask;
    }
}
