using System.Globalization;
using System.Text;

namespace AoaiAspire.Bench.Reporting;

/// <summary>A Markdown table, columns padded so it reads in a terminal too.</summary>
internal sealed class MarkdownTable(params string[] headers)
{
    private readonly List<string[]> _rows = [];

    public MarkdownTable Add(params object?[] cells)
    {
        _rows.Add([.. cells.Select(Format)]);
        return this;
    }

    public override string ToString()
    {
        var widths = headers.Select((h, i) => Math.Max(h.Length, _rows.Count == 0 ? 0 : _rows.Max(r => i < r.Length ? r[i].Length : 0))).ToArray();
        var text = new StringBuilder();
        Line(headers);
        text.Append('|');
        foreach (var w in widths)
        {
            text.Append(' ').Append('-', w).Append(" |");
        }
        text.AppendLine();
        foreach (var row in _rows)
        {
            Line(row);
        }
        return text.ToString();

        void Line(string[] cells)
        {
            text.Append('|');
            for (var i = 0; i < widths.Length; i++)
            {
                text.Append(' ').Append((i < cells.Length ? cells[i] : "").PadRight(widths[i])).Append(" |");
            }
            text.AppendLine();
        }
    }

    private static string Format(object? value) => value switch
    {
        null => "–",
        double d when double.IsNaN(d) || double.IsInfinity(d) => "–",
        double d => Fmt.Number(d),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };
}

/// <summary>Number formats shared by tables and charts.</summary>
internal static class Fmt
{
    /// <summary>Three significant figures, at most one decimal above 100: 0.123, 1.23, 12.3, 123, 1234.</summary>
    public static string Number(double d)
    {
        var abs = Math.Abs(d);
        var format = abs >= 100 || abs == 0 ? "0" : abs >= 10 ? "0.0" : abs >= 1 ? "0.00" : "0.000";
        return d.ToString(format, CultureInfo.InvariantCulture);
    }

    public static string Ms(double ms) => double.IsNaN(ms) ? "–" : Number(ms);

    public static string Ratio(double value, double baseline)
        => double.IsNaN(value) || double.IsNaN(baseline) || baseline == 0 ? "–" : (value / baseline).ToString("0.00", CultureInfo.InvariantCulture) + "×";

    public static string Percent(double share) => double.IsNaN(share) ? "–" : (share * 100).ToString("0.0", CultureInfo.InvariantCulture) + " %";

    public static string MiB(long bytes) => (bytes / (1024.0 * 1024.0)).ToString("0.0", CultureInfo.InvariantCulture);
}
