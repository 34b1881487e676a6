using System.Globalization;
using System.Net;
using System.Text;

namespace AoaiAspire.Bench.Reporting;

/// <summary>One line on a chart.</summary>
internal sealed record Series(string Name, IReadOnlyList<(double X, double Y)> Points);

/// <summary>A vertical line with a label (an event in a timeline).</summary>
internal sealed record Marker(double X, string Label);

/// <summary>
/// A line chart written as plain SVG (no plotting library is in the feed): axes with round ticks, one
/// coloured polyline with dots per series, optional vertical markers, a legend. Several panels stack in one file.
/// </summary>
internal sealed class SvgChart(string title, string xLabel, string yLabel)
{
    private const int Width = 760, Height = 300, Left = 70, Right = 170, Top = 34, Bottom = 46;
    private static readonly string[] Colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];

    public List<Series> Series { get; } = [];
    public List<Marker> Markers { get; } = [];

    /// <summary>Plot Y on a log scale (latencies spanning decades).</summary>
    public bool LogY { get; init; }

    public static int PanelHeight => Height;

    /// <summary>Writes the panels one under the other into one SVG document.</summary>
    public static string Render(IReadOnlyList<SvgChart> panels)
    {
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height * panels.Count}\" viewBox=\"0 0 {Width} {Height * panels.Count}\" font-family=\"sans-serif\" font-size=\"11\">\n");
        svg.Append(CultureInfo.InvariantCulture, $"<rect width=\"{Width}\" height=\"{Height * panels.Count}\" fill=\"white\"/>\n");
        for (var i = 0; i < panels.Count; i++)
        {
            svg.Append(CultureInfo.InvariantCulture, $"<g transform=\"translate(0,{i * Height})\">\n");
            panels[i].RenderPanel(svg);
            svg.Append("</g>\n");
        }
        svg.Append("</svg>\n");
        return svg.ToString();
    }

    private void RenderPanel(StringBuilder svg)
    {
        var points = Series.SelectMany(s => s.Points).Where(p => double.IsFinite(p.X) && double.IsFinite(p.Y) && (!LogY || p.Y > 0)).ToList();
        var plotW = Width - Left - Right;
        var plotH = Height - Top - Bottom;
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left}\" y=\"18\" font-size=\"13\" font-weight=\"bold\">{Esc(title)}</text>\n");
        if (points.Count == 0)
        {
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left + 10}\" y=\"{Top + 20}\">no data</text>\n");
            return;
        }

        var (xMin, xMax) = Range(points.Select(p => p.X).Concat(Markers.Select(m => m.X)), includeZero: false);
        var yValues = points.Select(p => LogY ? Math.Log10(p.Y) : p.Y);
        var (yMin, yMax) = LogY ? (Math.Floor(yValues.Min()), Math.Ceiling(yValues.Max() + 1e-9)) : Range(yValues, includeZero: true);
        double Sx(double x) => Left + ((x - xMin) / (xMax - xMin) * plotW);
        double Sy(double y) => Top + plotH - (((LogY ? Math.Log10(y) : y) - yMin) / (yMax - yMin) * plotH);

        // Axes and grid.
        svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{Left}\" y=\"{Top}\" width=\"{plotW}\" height=\"{plotH}\" fill=\"none\" stroke=\"#999\"/>\n");
        foreach (var tick in Ticks(xMin, xMax))
        {
            var x = Sx(tick);
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{x:0.#}\" y1=\"{Top}\" x2=\"{x:0.#}\" y2=\"{Top + plotH}\" stroke=\"#eee\"/><text x=\"{x:0.#}\" y=\"{Top + plotH + 14}\" text-anchor=\"middle\">{Fmt.Number(tick)}</text>\n");
        }
        var yTicks = LogY ? Enumerable.Range((int)yMin, (int)(yMax - yMin) + 1).Select(e => (double)e).ToList() : Ticks(yMin, yMax);
        foreach (var tick in yTicks)
        {
            var value = LogY ? Math.Pow(10, tick) : tick;
            var y = Sy(value);
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{Left}\" y1=\"{y:0.#}\" x2=\"{Left + plotW}\" y2=\"{y:0.#}\" stroke=\"#eee\"/><text x=\"{Left - 5}\" y=\"{y + 4:0.#}\" text-anchor=\"end\">{Fmt.Number(value)}</text>\n");
        }
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left + (plotW / 2)}\" y=\"{Height - 10}\" text-anchor=\"middle\">{Esc(xLabel)}</text>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<text transform=\"translate(16,{Top + (plotH / 2)}) rotate(-90)\" text-anchor=\"middle\">{Esc(yLabel)}{(LogY ? " (log)" : "")}</text>\n");

        foreach (var marker in Markers)
        {
            var x = Sx(marker.X);
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{x:0.#}\" y1=\"{Top}\" x2=\"{x:0.#}\" y2=\"{Top + plotH}\" stroke=\"#555\" stroke-dasharray=\"4 3\"/><text x=\"{x + 3:0.#}\" y=\"{Top + 10}\" font-size=\"10\" fill=\"#555\">{Esc(marker.Label)}</text>\n");
        }

        for (var i = 0; i < Series.Count; i++)
        {
            var color = Colors[i % Colors.Length];
            var visible = Series[i].Points.Where(p => double.IsFinite(p.X) && double.IsFinite(p.Y) && (!LogY || p.Y > 0)).ToList();
            if (visible.Count > 0)
            {
                var path = string.Join(" ", visible.Select(p => string.Create(CultureInfo.InvariantCulture, $"{Sx(p.X):0.#},{Sy(p.Y):0.#}")));
                svg.Append(CultureInfo.InvariantCulture, $"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.8\" points=\"{path}\"/>\n");
                if (visible.Count <= 40)
                {
                    foreach (var p in visible)
                    {
                        svg.Append(CultureInfo.InvariantCulture, $"<circle cx=\"{Sx(p.X):0.#}\" cy=\"{Sy(p.Y):0.#}\" r=\"2.8\" fill=\"{color}\"/>\n");
                    }
                }
            }
            var ly = Top + 8 + (i * 16);
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{Left + plotW + 12}\" y1=\"{ly}\" x2=\"{Left + plotW + 30}\" y2=\"{ly}\" stroke=\"{color}\" stroke-width=\"3\"/><text x=\"{Left + plotW + 35}\" y=\"{ly + 4}\">{Esc(Series[i].Name)}</text>\n");
        }
    }

    private static (double Min, double Max) Range(IEnumerable<double> values, bool includeZero)
    {
        var list = values.ToList();
        var min = list.Min();
        var max = list.Max();
        if (includeZero)
        {
            min = Math.Min(0, min);
        }
        if (max - min < 1e-9)
        {
            max = min + 1;
        }
        var step = Step(min, max);
        return (Math.Floor(min / step) * step, Math.Ceiling(max / step) * step);
    }

    private static double Step(double min, double max)
    {
        var raw = (max - min) / 5;
        var magnitude = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        var normalized = raw / magnitude;
        return (normalized < 1.5 ? 1 : normalized < 3 ? 2 : normalized < 7 ? 5 : 10) * magnitude;
    }

    private static List<double> Ticks(double min, double max)
    {
        var step = Step(min, max);
        var ticks = new List<double>();
        for (var t = Math.Ceiling(min / step) * step; t <= max + (step / 1000); t += step)
        {
            ticks.Add(Math.Round(t, 10));
        }
        return ticks;
    }

    private static string Esc(string text) => WebUtility.HtmlEncode(text);
}
