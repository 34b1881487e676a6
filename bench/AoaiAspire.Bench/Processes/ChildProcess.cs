using System.Diagnostics;

namespace AoaiAspire.Bench.Processes;

/// <summary>
/// A process the bench starts (simulator, gateway, nginx) and always stops: killed with its children on
/// dispose. Its output is drained (a full pipe would stall it) and the last lines kept for error messages.
/// </summary>
internal sealed class ChildProcess : IAsyncDisposable
{
    private const int KeptLines = 40;
    private readonly Process _process;
    private readonly Queue<string> _lastLines = new();

    private ChildProcess(Process process, string name)
    {
        _process = process;
        Name = name;
    }

    public string Name { get; }
    public int Id => _process.Id;
    public bool HasExited => _process.HasExited;

    public string RecentOutput
    {
        get
        {
            lock (_lastLines)
            {
                return string.Join(Environment.NewLine, _lastLines);
            }
        }
    }

    public static ChildProcess Start(string name, string fileName, IEnumerable<string> arguments, string workingDirectory, IDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        info.Environment["DOTNET_ENVIRONMENT"] = "Production";
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        var process = new Process { StartInfo = info };
        var child = new ChildProcess(process, name);
        process.OutputDataReceived += (_, e) => child.Keep(e.Data);
        process.ErrorDataReceived += (_, e) => child.Keep(e.Data);
        if (!process.Start())
        {
            throw new InvalidOperationException($"Could not start {name} ({fileName}).");
        }
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>Polls <paramref name="probe"/> until it answers; fails with the process's output if it exits or never answers.</summary>
    public async Task WaitUntilReadyAsync(Uri probe, TimeSpan timeout)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < deadline)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"{Name} exited with code {_process.ExitCode} before it was ready:{Environment.NewLine}{RecentOutput}");
            }
            try
            {
                using var response = await LoadGeneration.LoadClient.Control.GetAsync(probe);
                if ((int)response.StatusCode < 500)
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
            }
            await Task.Delay(100);
        }
        throw new InvalidOperationException($"{Name} did not answer {probe} within {timeout.TotalSeconds} s:{Environment.NewLine}{RecentOutput}");
    }

    /// <summary>
    /// Stops the process (SIGSTOP) without closing anything: its sockets stay open and the kernel keeps
    /// accepting and buffering, but nothing answers, as when a machine freezes. <see cref="ResumeAsync"/> undoes it.
    /// </summary>
    public async Task FreezeAsync()
    {
        await SignalAsync("-STOP");
        Frozen = true;
    }

    /// <summary>Continues a frozen process (SIGCONT).</summary>
    public async Task ResumeAsync()
    {
        await SignalAsync("-CONT");
        Frozen = false;
    }

    public bool Frozen { get; private set; }

    private async Task SignalAsync(string signal)
    {
        var info = new ProcessStartInfo(BenchPaths.FindExecutable("kill") ?? "kill") { UseShellExecute = false };
        info.ArgumentList.Add(signal);
        info.ArgumentList.Add(Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var kill = Process.Start(info) ?? throw new InvalidOperationException($"Could not run kill {signal} {Id}.");
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await kill.WaitForExitAsync(wait.Token);
        if (kill.ExitCode != 0)
        {
            throw new InvalidOperationException($"kill {signal} {Id} ({Name}) exited with {kill.ExitCode}.");
        }
    }

    /// <summary>Kills the process at once (SIGKILL): connections reset, as when a machine dies. A frozen process is continued first.</summary>
    public async Task KillAsync()
    {
        try
        {
            if (Frozen && !_process.HasExited)
            {
                try
                {
                    await ResumeAsync();
                }
                catch (InvalidOperationException)
                {
                }
            }
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _process.WaitForExitAsync(wait.Token);
        }
        catch (Exception ex) when (ex is InvalidOperationException or OperationCanceledException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process.Dispose();
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_lastLines)
        {
            _lastLines.Enqueue(line);
            while (_lastLines.Count > KeptLines)
            {
                _lastLines.Dequeue();
            }
        }
    }
}
