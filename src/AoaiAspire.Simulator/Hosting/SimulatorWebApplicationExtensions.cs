using System.Globalization;
using AoaiAspire.Simulator.Endpoints;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.CommandLine;
using Microsoft.Extensions.Configuration.EnvironmentVariables;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AoaiAspire.Simulator.Hosting;

/// <summary>The standalone program's wiring: section <c>Simulator</c>, one Kestrel, one port per account.</summary>
internal static class SimulatorWebApplicationExtensions
{
    private const string DefaultAppUrl = "http://localhost:5000";
    private const string AccountsKey = SimulatorOptions.SectionName + ":Accounts";

    /// <summary>
    /// Binds and validates <see cref="SimulatorOptions"/> (failing fast with the key at fault) and makes Kestrel
    /// listen on 127.0.0.1 at each account's port, plus the app's own URLs (<c>ASPNETCORE_URLS</c>, <c>--urls</c>,
    /// <c>ASPNETCORE_HTTP_PORTS</c>, Aspire's injected port) when an account has port 0 or none is configured.
    /// </summary>
    public static WebApplicationBuilder AddSimulator(this WebApplicationBuilder builder)
    {
        var options = AccountsSource(builder.Configuration).GetSection(SimulatorOptions.SectionName).Get<SimulatorOptions>() ?? new SimulatorOptions();
        if (options.Accounts.Count == 0)
        {
            options.Accounts.Add(SimulatorDefaults.Account());
        }

        var result = new SimulatorOptionsValidator().Validate(Options.DefaultName, options);
        if (result.Failed)
        {
            throw new OptionsValidationException(SimulatorOptions.SectionName, typeof(SimulatorOptions), result.Failures);
        }

        var urls = new List<string>();
        if (options.Accounts.Any(a => a.Port == 0))
        {
            urls.AddRange(AppUrls(builder.WebHost));
        }

        urls.AddRange(options.Accounts.Where(a => a.Port != 0).Select(a => string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{a.Port}")));
        builder.WebHost.UseUrls([.. urls]);

        var accounts = options.Accounts
            .Select(a => new SimulatedAccount(a, new Uri(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{a.Port}/")), TimeProvider.System))
            .ToList();
        builder.Services.AddSingleton(new AccountDirectory(accounts, routeByPort: true));
        return builder;
    }

    /// <summary>
    /// The configuration to bind: normally all of it; but when environment variables or the command line
    /// name an account (<c>Simulator__Accounts__0__Name</c>, as the Aspire AppHost does), only those sources,
    /// so their accounts replace the list in appsettings.json instead of merging into it index by index
    /// (which would give Aspire's one account the file's port and add the file's other accounts).
    /// </summary>
    private static IConfiguration AccountsSource(IConfiguration configuration)
    {
        if (configuration is not IConfigurationRoot root)
        {
            return configuration;
        }

        var overriding = root.Providers
            .Where(p => p is EnvironmentVariablesConfigurationProvider or CommandLineConfigurationProvider)
            .Where(p => p.GetChildKeys([], AccountsKey).Distinct().Any(index => p.TryGet($"{AccountsKey}:{index}:Name", out _)))
            .ToList();
        return overriding.Count == 0 ? configuration : new ConfigurationRoot(overriding);
    }

    /// <summary>Maps the simulator for the accounts <see cref="AddSimulator"/> registered and logs where each listens.</summary>
    public static WebApplication MapSimulator(this WebApplication app)
    {
        var accounts = app.Services.GetRequiredService<AccountDirectory>();
        app.UseWebSockets();
        app.MapSimulator(accounts);
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            if (accounts.Default is { } onAppUrls && app.Urls.FirstOrDefault() is { } url)
            {
                onAppUrls.Endpoint = new Uri(url.TrimEnd('/') + "/");
            }

            var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(SimulatorLog.Category);
            foreach (var account in accounts.Accounts)
            {
                SimulatorLog.AccountListening(logger, account.Name, account.Region, account.Endpoint, account.DeploymentNames);
            }
        });
        return app;
    }

    /// <summary>The URLs the host would have used on its own: <c>urls</c>, else <c>http_ports</c>/<c>https_ports</c>, else Kestrel's default.</summary>
    private static IEnumerable<string> AppUrls(ConfigureWebHostBuilder webHost)
    {
        var urls = webHost.GetSetting(WebHostDefaults.ServerUrlsKey);
        if (!string.IsNullOrWhiteSpace(urls))
        {
            return urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        }

        var fromPorts = Ports(webHost.GetSetting(WebHostDefaults.HttpPortsKey), "http")
            .Concat(Ports(webHost.GetSetting(WebHostDefaults.HttpsPortsKey), "https"))
            .ToList();
        return fromPorts.Count > 0 ? fromPorts : [DefaultAppUrl];

        static IEnumerable<string> Ports(string? ports, string scheme)
            => (ports ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(p => $"{scheme}://*:{p}");
    }
}
