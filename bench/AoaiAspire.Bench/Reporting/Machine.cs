using System.Runtime.InteropServices;

namespace AoaiAspire.Bench.Reporting;

/// <summary>What the numbers were measured on.</summary>
internal static class Machine
{
    /// <summary>The 1, 5 and 15 minute load averages, as <c>/proc/loadavg</c> gives them.</summary>
    public static string LoadAverage()
    {
        try
        {
            var fields = File.ReadAllText("/proc/loadavg").Split(' ');
            return $"{fields[0]} {fields[1]} {fields[2]}";
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    public static string Describe()
        => $"{Environment.ProcessorCount} logical CPUs (nproc), {TotalMemory()}, {RuntimeInformation.OSDescription.Trim()}, .NET {Environment.Version}, {RuntimeInformation.ProcessArchitecture}";

    private static string TotalMemory()
    {
        try
        {
            var line = File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
            var kb = long.Parse(line["MemTotal:".Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
            return $"{kb / (1024.0 * 1024.0):0} GiB RAM";
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or FormatException)
        {
            return "unknown RAM";
        }
    }
}
