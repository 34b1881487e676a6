namespace AoaiAspire.Bench.Processes;

/// <summary>Where things are: the built programs next to the bench, the repository, a scratch directory per run.</summary>
internal static class BenchPaths
{
    /// <summary>The gateway and the simulator are project references, so their builds sit next to the bench's.</summary>
    public static string Program(string assemblyName)
    {
        var path = Path.Combine(AppContext.BaseDirectory, assemblyName + ".dll");
        return File.Exists(path) ? path : throw new FileNotFoundException($"{assemblyName}.dll is not next to the bench; build with 'dotnet build -c Release bench/AoaiAspire.Bench'.", path);
    }

    /// <summary>The repository root (the directory holding AoaiAspire.sln), else the current directory.</summary>
    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "AoaiAspire.sln")))
            {
                return dir.FullName;
            }
        }
        return Directory.GetCurrentDirectory();
    }

    /// <summary>An empty directory under the system temp directory, used as content root (so no appsettings.json is read) and for nginx.</summary>
    public static string Scratch(string name)
    {
        var path = Path.Combine(Path.GetTempPath(), "aoai-bench", $"{name}-{Environment.ProcessId}-{Guid.NewGuid():N}"[..(name.Length + 20)]);
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>The full path of an executable on PATH (plus /usr/sbin, where Debian puts nginx), or null.</summary>
    public static string? FindExecutable(string name)
    {
        var dirs = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/sbin", "/usr/local/sbin", "/sbin"]);
        return dirs.Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);
    }
}
