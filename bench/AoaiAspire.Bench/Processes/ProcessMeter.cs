using System.Globalization;

namespace AoaiAspire.Bench.Processes;

/// <summary>
/// CPU time and memory of one process and its children (nginx's workers), read from Linux's /proc:
/// <c>/proc/{pid}/stat</c> utime + stime in clock ticks, <c>/proc/{pid}/status</c> VmRSS and VmHWM (peak RSS).
/// Writing 5 to <c>/proc/{pid}/clear_refs</c> restarts the peak, so each load step gets its own.
/// </summary>
internal sealed class ProcessMeter(int rootPid)
{
    /// <summary>USER_HZ: 100 on every mainstream Linux build.</summary>
    private const double ClockTicksPerSecond = 100;

    public static bool IsSupported => File.Exists("/proc/self/stat");

    public double CpuSeconds => Pids().Sum(pid => ReadCpuTicks(pid)) / ClockTicksPerSecond;

    public long RssBytes => Pids().Sum(pid => ReadStatusKb(pid, "VmRSS:")) * 1024;

    public long PeakRssBytes => Pids().Sum(pid => ReadStatusKb(pid, "VmHWM:")) * 1024;

    /// <summary>Restarts the peak-RSS counter; false when the kernel refuses (then the peak covers the process's life).</summary>
    public bool ResetPeak()
    {
        var ok = true;
        foreach (var pid in Pids())
        {
            try
            {
                File.WriteAllText($"/proc/{pid}/clear_refs", "5");
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                ok = false;
            }
        }
        return ok;
    }

    private List<int> Pids()
    {
        var pids = new List<int> { rootPid };
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && pid != rootPid && ReadParent(pid) == rootPid)
            {
                pids.Add(pid);
            }
        }
        return pids;
    }

    private static string[]? StatFields(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // The command name is in parentheses and may hold spaces: split after the last ')'.
            return stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static int ReadParent(int pid)
        => StatFields(pid) is { } f ? int.Parse(f[1], CultureInfo.InvariantCulture) : -1;

    private static long ReadCpuTicks(int pid)
        => StatFields(pid) is { } f ? long.Parse(f[11], CultureInfo.InvariantCulture) + long.Parse(f[12], CultureInfo.InvariantCulture) : 0;

    private static long ReadStatusKb(int pid, string key)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith(key, StringComparison.Ordinal))
                {
                    return long.Parse(line[key.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
        return 0;
    }
}
