using System.Diagnostics;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AoaiAspire.AppHost.Redis;

/// <summary>How Redis runs: <c>AoaiAspire:Redis:Mode</c>.</summary>
internal enum RedisMode
{
    /// <summary>A container when a healthy container runtime answers, else redis-server as a process.</summary>
    Auto,

    /// <summary>Always <c>AddRedis</c> (a container); publish mode always uses this.</summary>
    Container,

    /// <summary>Always redis-server as a process (<see cref="RedisServerResource"/>).</summary>
    Process,
}

/// <summary>Adds the <c>redis</c> resource, choosing between a container and a local redis-server process.</summary>
internal static partial class RedisHosting
{
    public const string ResourceName = "redis";

    private static readonly TimeSpan s_runtimeCheckTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Decides how Redis runs. Returns false with one message saying what to install when nothing can run it.
    /// The decision is logged once the app starts (event 1101).
    /// </summary>
    public static bool TryChoose(IDistributedApplicationBuilder builder, RedisOptions options, out RedisChoice choice, out string error)
    {
        error = "";
        var runtime = ContainerRuntimeName(builder.Configuration);
        if (builder.ExecutionContext.IsPublishMode || options.Mode == RedisMode.Container)
        {
            choice = new RedisChoice(RedisMode.Container, runtime, ServerPath: null, Reason: builder.ExecutionContext.IsPublishMode ? "publish mode" : $"{RedisOptions.Key}:Mode=Container");
            return true;
        }

        var serverPath = FindRedisServer(options.ServerPath);
        if (options.Mode == RedisMode.Process)
        {
            choice = new RedisChoice(RedisMode.Process, runtime, serverPath, $"{RedisOptions.Key}:Mode=Process");
            if (serverPath is null)
            {
                error = $"{RedisOptions.Key}:Mode is Process but redis-server was not found{(options.ServerPath is null ? " on PATH" : $" at {options.ServerPath}")}. Install it (Debian/Ubuntu: apt-get install redis-server) or set {RedisOptions.Key}:ServerPath.";
                return false;
            }

            return true;
        }

        if (ContainerRuntimeIsHealthy(runtime))
        {
            choice = new RedisChoice(RedisMode.Container, runtime, null, $"container runtime '{runtime}' is healthy");
            return true;
        }

        choice = new RedisChoice(RedisMode.Process, runtime, serverPath, $"container runtime '{runtime}' is missing or unhealthy");
        if (serverPath is null)
        {
            error = $"Redis cannot run: no healthy container runtime ('{runtime}' did not answer 'container ls') and no redis-server on PATH. Install one of them: Docker or Podman (running), or redis-server (Debian/Ubuntu: apt-get install redis-server).";
            return false;
        }

        return true;
    }

    /// <summary>Adds <c>redis</c> as chosen, with the <c>redis-password</c> parameter (generated when not set).</summary>
    public static IResourceBuilder<IResourceWithConnectionString> AddAppRedis(this IDistributedApplicationBuilder builder, RedisChoice choice)
    {
        // Generated once and kept in the AppHost's user secrets when not configured; no commas (the client's separator).
        var password = builder.AddParameter(
            $"{ResourceName}-password", new GenerateParameterDefault { MinLength = 24, Special = false }, secret: true, persist: true);

        builder.Eventing.Subscribe<BeforeStartEvent>((e, _) =>
        {
            var logger = e.Services.GetRequiredService<ILoggerFactory>().CreateLogger("AoaiAspire.AppHost");
            LogRedisChoice(logger, choice.Mode == RedisMode.Container ? "a container" : $"the process {choice.ServerPath}", choice.Reason);
            return Task.CompletedTask;
        });

        if (choice.Mode == RedisMode.Container)
        {
            return builder.AddRedis(ResourceName, password: password);
        }

        return builder.AddRedisServerProcess(choice.ServerPath!, password);
    }

    private static IResourceBuilder<IResourceWithConnectionString> AddRedisServerProcess(
        this IDistributedApplicationBuilder builder, string serverPath, IResourceBuilder<ParameterResource> password)
    {
        // One private directory per AppHost run: redis-server's working directory and its configuration file.
        var directory = Path.Combine(Path.GetTempPath(), $"aoai-aspire-redis-{Environment.ProcessId}-{Guid.NewGuid():N}");
        var redis = new RedisServerResource(ResourceName, serverPath, directory, password.Resource);

        string? connectionString = null;
        builder.Eventing.Subscribe<ConnectionStringAvailableEvent>(redis, async (_, ct) =>
            connectionString = await ((IResourceWithConnectionString)redis).GetConnectionStringAsync(ct).ConfigureAwait(false));

        builder.Eventing.Subscribe<BeforeResourceStartedEvent>(redis, async (_, ct) =>
        {
            var secret = await redis.Password.GetValueAsync(ct).ConfigureAwait(false)
                ?? throw new DistributedApplicationException($"Parameter '{redis.Password.Name}' has no value.");
            WriteConfigFile(redis, secret);
        });

        // Read once at start; no reason to leave the password on disk after that.
        builder.Eventing.Subscribe<ResourceReadyEvent>(redis, (_, _) =>
        {
            File.Delete(redis.ConfigFile);
            return Task.CompletedTask;
        });

        var healthCheckKey = $"{ResourceName}_check";
        builder.Services.AddHealthChecks().AddRedis(
            _ => connectionString ?? throw new InvalidOperationException("The redis connection string is not available yet."),
            name: healthCheckKey);

        return builder.AddResource(redis)
            .WithEndpoint(name: RedisServerResource.EndpointName, scheme: "tcp", env: null)
            .WithArgs(context =>
            {
                // The configuration file first (it holds requirepass), then what may be seen: port, loopback, no persistence.
                context.Args.Add(redis.ConfigFile);
                context.Args.Add("--port");
                context.Args.Add(redis.Endpoint.Property(EndpointProperty.TargetPort));
                context.Args.Add("--bind");
                context.Args.Add("127.0.0.1");
                context.Args.Add("--save");
                context.Args.Add("");
                context.Args.Add("--appendonly");
                context.Args.Add("no");
            })
            .WithIconName("Database")
            .WithHealthCheck(healthCheckKey);
    }

    private static void WriteConfigFile(RedisServerResource redis, string password)
    {
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(redis.WorkingDirectory);
        }
        else
        {
            // Only this user may list the directory or read the file.
            Directory.CreateDirectory(redis.WorkingDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using var writer = new StreamWriter(redis.ConfigFile, options);
        // Quoted: redis.conf arguments may contain anything but a double quote and a backslash escape.
        writer.Write("requirepass \"");
        writer.Write(password.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal));
        writer.WriteLine('"');
    }

    /// <summary>The runtime Aspire itself would use: <c>ASPIRE_CONTAINER_RUNTIME</c>, or DcpPublisher:ContainerRuntime, else docker.</summary>
    private static string ContainerRuntimeName(IConfiguration configuration)
        => configuration["ASPIRE_CONTAINER_RUNTIME"] ?? configuration["DOTNET_ASPIRE_CONTAINER_RUNTIME"]
            ?? configuration["DcpPublisher:ContainerRuntime"] ?? "docker";

    /// <summary>The same check Aspire makes: <c>{runtime} container ls -n 1</c> answers with exit code 0, within 10 s.</summary>
    private static bool ContainerRuntimeIsHealthy(string runtime)
    {
        if (FindOnPath(runtime) is not { } executable)
        {
            return false;
        }

        try
        {
            using var process = Process.Start(new ProcessStartInfo(executable, ["container", "ls", "-n", "1"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            });
            if (process is null)
            {
                return false;
            }

            _ = process.StandardOutput.ReadToEndAsync();
            _ = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(s_runtimeCheckTimeout))
            {
                process.Kill(entireProcessTree: true);
                return false;
            }

            return process.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }

    private static string? FindRedisServer(string? configured)
        => configured is null ? FindOnPath("redis-server") : File.Exists(configured) ? Path.GetFullPath(configured) : null;

    private static string? FindOnPath(string name)
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        foreach (var directory in path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries).Append("/usr/bin").Append("/usr/sbin"))
        {
            var candidate = Path.Combine(directory, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    [LoggerMessage(1101, LogLevel.Information, "Redis runs as {How}: {Reason}. Set AoaiAspire:Redis:Mode to Container or Process to force either.")]
    private static partial void LogRedisChoice(ILogger logger, string how, string reason);
}

/// <summary>The decision of <see cref="RedisHosting.TryChoose"/>.</summary>
internal sealed record RedisChoice(RedisMode Mode, string ContainerRuntime, string? ServerPath, string Reason);

/// <summary><c>AoaiAspire:Redis</c>.</summary>
internal sealed class RedisOptions
{
    public const string Key = "AoaiAspire:Redis";

    /// <summary><c>Auto</c> (default), <c>Container</c> or <c>Process</c>.</summary>
    public RedisMode Mode { get; set; } = RedisMode.Auto;

    /// <summary>Path of redis-server for <c>Process</c>; default: found on PATH.</summary>
    public string? ServerPath { get; set; }
}
