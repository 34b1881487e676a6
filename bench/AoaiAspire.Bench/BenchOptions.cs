using System.Globalization;

namespace AoaiAspire.Bench;

/// <summary>Command-line options; every duration and level a scenario uses can be changed here.</summary>
internal sealed class BenchOptions
{
    public const string Usage = """
        usage: dotnet run -c Release --project bench/AoaiAspire.Bench -- <scenario> [options]

        scenarios:
          overhead    what the gateway adds to one backend: saturation throughput and latency, then fixed loads
          quota       three regions with TPM/RPM limits, offered load 50-150 % of their summed capacity
          failover    steady load while a region goes down, comes back, turns slow, answers 500s
          streaming   many concurrent SSE streams: time to first chunk, memory per stream, a backend dying mid-stream
          freeze      steady load while one priority-1 region's process is stopped (SIGSTOP) for a few seconds
          noisy       streaming calls while one region's first bytes are slow for a share of every second
          priority    the quota regions shared by an interactive consumer (30 % of capacity) and two batch consumers (60 % each)
          all         all seven, one after the other

        options (seconds unless said):
          --contenders a,b,c   who to measure (default per scenario); known: direct, gateway-<policy>, nginx-rr, yarp-rr, client-retry
          --duration 10        overhead: length of the saturation run and of each fixed-load step
          --warmup 10          closed-loop warm-up before measuring a contender (long enough for the JIT's tier-1 code)
          --rounds 1           overhead: saturation rounds, contenders interleaved; the median round is reported
          --workers 64         closed-loop concurrency for saturation
          --loads 0.25,0.5,0.75    overhead: fixed loads as shares of the gateway's saturation figure
          --quota-loads 0.5,1,1.5   quota: offered loads as shares of the enforced capacity
          --step 60            quota, priority: length of each load step, whole minutes (60, 120, ...)
          --phase 8            failover: length of each phase (baseline, down, back, slow, back, 500s, back)
          --rate 20            failover: steady offered load, requests per second
          --streams 100,400,1000   streaming: concurrent streams per run
          --freeze-rate 150    freeze: steady offered load, requests per second
          --freeze-before 10   freeze: seconds of load before the region is stopped
          --freeze-for 6       freeze: seconds the region stays stopped
          --freeze-after 10    freeze: seconds of load after it is continued
          --replicas 2         freeze: gateway replicas sharing one redis-server
          --noisy-rate 20      noisy: streaming calls per second
          --noisy-duration 30  noisy: length of the measured run
          --noisy-share 0.2    noisy: share of every second the noisy region's first bytes are slow
          --noisy-delay 2      noisy: how slow (seconds before the first byte)
          --max-in-flight 4000 open-loop cap on requests in flight (more are recorded as dropped)
          --timeout 60         per-request timeout
          --out <dir>          where <scenario>.md and .svg go (default bench/results)
          --baseline <dir>     another gateway build (e.g. an older commit's src/AoaiAspire.Gateway/bin/Release/net10.0),
                               measured as contender baseline-<policy> in the same run as gateway-<policy>
        """;

    public required string Scenario { get; init; }
    public IReadOnlyList<string>? Contenders { get; init; }
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>
    /// 10 s: with 3 s the gateway's measured seconds still held its tier-1 JIT compilation (about 2.5 s of JIT per 5 s,
    /// seen with dotnet-counters on a loaded machine), so it was charged for warming up rather than for serving.
    /// </summary>
    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(10);
    public int Workers { get; init; } = 64;
    public int Rounds { get; init; } = 1;
    public IReadOnlyList<double> Loads { get; init; } = [0.25, 0.5, 0.75];
    public IReadOnlyList<double> QuotaLoads { get; init; } = [0.5, 1.0, 1.5];
    public TimeSpan Step { get; init; } = TimeSpan.FromSeconds(60);
    public TimeSpan Phase { get; init; } = TimeSpan.FromSeconds(8);
    public double Rate { get; init; } = 20;
    public IReadOnlyList<int> Streams { get; init; } = [100, 400, 1000];
    public double FreezeRate { get; init; } = 150;
    public TimeSpan FreezeBefore { get; init; } = TimeSpan.FromSeconds(10);
    public TimeSpan FreezeFor { get; init; } = TimeSpan.FromSeconds(6);
    public TimeSpan FreezeAfter { get; init; } = TimeSpan.FromSeconds(10);
    public int Replicas { get; init; } = 2;
    public double NoisyRate { get; init; } = 20;
    public TimeSpan NoisyDuration { get; init; } = TimeSpan.FromSeconds(30);
    public double NoisyShare { get; init; } = 0.2;
    public TimeSpan NoisyDelay { get; init; } = TimeSpan.FromSeconds(2);
    public int MaxInFlight { get; init; } = 4000;
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(60);
    public required string OutputDirectory { get; init; }

    /// <summary>The directory of another gateway build, run as the <c>baseline-&lt;policy&gt;</c> contenders (before/after in one run).</summary>
    public string? BaselineGateway { get; init; }
    public required string CommandLine { get; init; }

    /// <summary>Parses <c>scenario --name value …</c>; null with a message when the arguments are wrong.</summary>
    public static BenchOptions? Parse(string[] args, string defaultOutput, out string? error)
    {
        error = null;
        if (args.Length == 0 || args[0].StartsWith('-'))
        {
            error = "name a scenario";
            return null;
        }
        var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 1; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
            {
                error = $"expected '--name value' at '{args[i]}'";
                return null;
            }
            values[args[i][2..]] = args[++i];
        }

        try
        {
            var options = new BenchOptions
            {
                Scenario = args[0].ToLowerInvariant(),
                CommandLine = "dotnet run -c Release --project bench/AoaiAspire.Bench -- " + string.Join(' ', args),
                OutputDirectory = Take("out") ?? defaultOutput,
                BaselineGateway = Take("baseline"),
                Contenders = Take("contenders")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
                Duration = Seconds("duration") ?? TimeSpan.FromSeconds(10),
                Warmup = Seconds("warmup") ?? TimeSpan.FromSeconds(10),
                Workers = Int("workers") ?? 64,
                Rounds = Math.Max(1, Int("rounds") ?? 1),
                Loads = Doubles("loads") ?? [0.25, 0.5, 0.75],
                QuotaLoads = Doubles("quota-loads") ?? [0.5, 1.0, 1.5],
                Step = Seconds("step") ?? TimeSpan.FromSeconds(60),
                Phase = Seconds("phase") ?? TimeSpan.FromSeconds(8),
                Rate = Doubles("rate")?[0] ?? 20,
                Streams = Doubles("streams")?.Select(d => (int)d).ToList() ?? [100, 400, 1000],
                FreezeRate = Doubles("freeze-rate")?[0] ?? 150,
                FreezeBefore = Seconds("freeze-before") ?? TimeSpan.FromSeconds(10),
                FreezeFor = Seconds("freeze-for") ?? TimeSpan.FromSeconds(6),
                FreezeAfter = Seconds("freeze-after") ?? TimeSpan.FromSeconds(10),
                Replicas = Int("replicas") ?? 2,
                NoisyRate = Doubles("noisy-rate")?[0] ?? 20,
                NoisyDuration = Seconds("noisy-duration") ?? TimeSpan.FromSeconds(30),
                NoisyShare = Doubles("noisy-share")?[0] ?? 0.2,
                NoisyDelay = Seconds("noisy-delay") ?? TimeSpan.FromSeconds(2),
                MaxInFlight = Int("max-in-flight") ?? 4000,
                RequestTimeout = Seconds("timeout") ?? TimeSpan.FromSeconds(60),
            };
            if (values.Count > 0)
            {
                error = $"unknown option(s): {string.Join(", ", values.Keys.Select(k => "--" + k))}";
                return null;
            }
            return options;
        }
        catch (FormatException ex)
        {
            error = ex.Message;
            return null;
        }

        string? Take(string name) => values.Remove(name, out var value) ? value : null;
        TimeSpan? Seconds(string name) => Take(name) is { } v ? TimeSpan.FromSeconds(double.Parse(v, CultureInfo.InvariantCulture)) : null;
        int? Int(string name) => Take(name) is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : null;
        List<double>? Doubles(string name) => Take(name)?.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(s => double.Parse(s, CultureInfo.InvariantCulture)).ToList();
    }
}
