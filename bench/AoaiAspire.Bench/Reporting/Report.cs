using System.Text;

namespace AoaiAspire.Bench.Reporting;

/// <summary>
/// What a scenario prints and writes: Markdown sections (each table followed by the load average when it was
/// taken) to the console and to <c>bench/results/{scenario}.md</c>, and its charts to <c>bench/results/{scenario}.svg</c>.
/// </summary>
internal sealed class Report(string scenario, string command)
{
    private readonly StringBuilder _markdown = new();

    public List<SvgChart> Charts { get; } = [];

    public string Scenario { get; } = scenario;

    public void Heading(string text) => Append($"### {text}\n");

    public void Text(string text) => Append(text.TrimEnd() + "\n");

    /// <summary>A table and, under it, the load average at the moment it was complete.</summary>
    public void Table(MarkdownTable table) => Append($"{table}\n_load average (1/5/15 min) when this table was complete: {Machine.LoadAverage()}_\n");

    public async Task WriteAsync(string directory)
    {
        Directory.CreateDirectory(directory);
        var header = new StringBuilder()
            .Append("## ").Append(Scenario).Append("\n\n")
            .Append('`').Append(command).Append("`\n\n")
            .Append("Run at ").Append(DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm", System.Globalization.CultureInfo.InvariantCulture)).Append(" UTC on ")
            .Append(Machine.Describe()).Append(". The load generator, the simulators and the proxy share these cores.\n\n");
        var markdown = header.Append(_markdown).ToString();
        await File.WriteAllTextAsync(Path.Combine(directory, Scenario + ".md"), markdown);
        if (Charts.Count > 0)
        {
            await File.WriteAllTextAsync(Path.Combine(directory, Scenario + ".svg"), SvgChart.Render(Charts));
        }
        Console.WriteLine($"wrote {Path.Combine(directory, Scenario + ".md")}{(Charts.Count > 0 ? " and .svg" : "")}");
    }

    private void Append(string text)
    {
        _markdown.Append(text).Append('\n');
        Console.WriteLine(text);
    }
}
