using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using ScottPlot;
using SkiaSharp;

namespace Microsoft.ML.Generative.Evaluation;

/// <summary>The PNGs of <see cref="GenerativeMetrics.SavePlots"/>: ScottPlot panels composed on one SkiaSharp canvas.</summary>
internal static class EvaluationPlots
{
    private static readonly Color RealColor = new(31, 119, 180);       // blue
    private static readonly Color GeneratedColor = new(255, 127, 14);  // orange

    public static IReadOnlyList<string> Save(GenerativeMetrics metrics, PlotData data, string directory)
    {
        Directory.CreateDirectory(directory);
        var written = new List<string>
        {
            Marginals(metrics, data, Path.Combine(directory, "marginals.png")),
            Correlations(metrics, data, Path.Combine(directory, "correlations.png")),
            Pca(data, Path.Combine(directory, "pca.png")),
        };
        return written;
    }

    private static string Marginals(GenerativeMetrics metrics, PlotData data, string path)
    {
        int count = data.HistogramFeatures.Length;
        int columns = Math.Min(4, count), rows = (count + columns - 1) / columns;
        const int width = 360, height = 260;
        var panels = new List<Plot>();
        for (int p = 0; p < count; p++)
        {
            int feature = data.HistogramFeatures[p];
            var real = data.RealColumns[p];
            var generated = data.GeneratedColumns[p];
            bool discrete = metrics.DiscreteFeatures[feature];
            var plot = new Plot();
            double low = Math.Min(real.Min(), generated.Min()), high = Math.Max(real.Max(), generated.Max());
            if (discrete)
            {
                // One bar pair per real value; generated values that are no real value share an "other" bar.
                var levels = real.Distinct().OrderBy(v => v).ToArray();
                var known = levels.ToHashSet();
                var bars = new List<Bar>();
                for (int i = 0; i <= levels.Length; i++)
                {
                    bool other = i == levels.Length;
                    double pr = other ? 0 : real.Count(v => v == levels[i]) / (double)real.Length;
                    double pg = (other ? generated.Count(v => !known.Contains(v)) : generated.Count(v => v == levels[i])) / (double)generated.Length;
                    bars.Add(new Bar { Position = i - 0.2, Value = pr, Size = 0.4, FillColor = RealColor });
                    bars.Add(new Bar { Position = i + 0.2, Value = pg, Size = 0.4, FillColor = GeneratedColor });
                }
                plot.Add.Bars(bars);
                plot.Axes.Bottom.SetTicks(Enumerable.Range(0, levels.Length + 1).Select(i => (double)i).ToArray(),
                    levels.Select(v => v.ToString(CultureInfo.InvariantCulture)).Append("other").ToArray());
                plot.YLabel("share of rows");
            }
            else
            {
                if (!(high > low)) { low -= 0.5; high += 0.5; }
                const int bins = 40;
                double binWidth = (high - low) / bins;
                AddStep(plot, Density(real, low, binWidth, bins), low, binWidth, RealColor, "real");
                AddStep(plot, Density(generated, low, binWidth, bins), low, binWidth, GeneratedColor, "generated");
                plot.YLabel("density");
            }
            plot.Title(string.Format(CultureInfo.InvariantCulture, "{0}: {1} {2:F3}", metrics.FeatureNames[feature],
                discrete ? "TV" : "KS", metrics.MarginalDistances[feature]), size: 13);
            if (p == 0)
                plot.ShowLegend(Alignment.UpperRight);
            panels.Add(plot);
        }
        Compose(path, panels, columns, rows, width, height,
            $"Marginals, real (blue) vs generated (orange): the {count} features that differ most (features constant in the real rows last)");
        return path;
    }

    private static string Correlations(GenerativeMetrics metrics, PlotData data, string path)
    {
        int n = data.HeatMapFeatures.Length;
        var difference = new double[n, n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                difference[i, j] = data.GeneratedCorrelation[i, j] - data.RealCorrelation[i, j];
        // Few features (a table's columns): their names on both axes; many (pixels): positions only.
        string[]? names = n <= MaximumNamedHeatMapFeatures ? data.HeatMapFeatures.Select(j => metrics.FeatureNames[j]).ToArray() : null;
        var panels = new List<Plot>
        {
            HeatMap(data.RealCorrelation, "real Pearson correlation", names),
            HeatMap(data.GeneratedCorrelation, "generated Pearson correlation", names),
            HeatMap(difference, string.Format(CultureInfo.InvariantCulture, "generated − real (mean |Δ| {0:F3})", metrics.CorrelationDistance), names),
        };
        string subset = n == metrics.FeatureCount ? $"all {n} features" : $"the {n} most variable of {metrics.FeatureCount} features";
        Compose(path, panels, 3, 1, 480, 430, names is null ? $"Correlation matrices ({subset}; row and column i = i-th of them)" : $"Correlation matrices ({subset})");
        return path;
    }

    /// <summary>Heat maps of at most this many features label their rows and columns with the features' names.</summary>
    private const int MaximumNamedHeatMapFeatures = 24;

    private static Plot HeatMap(double[,] values, string title, string[]? names)
    {
        var plot = new Plot();
        var heat = plot.Add.Heatmap(values);
        heat.Colormap = new ScottPlot.Colormaps.Balance();
        heat.ManualRange = new ScottPlot.Range(-1, 1);
        heat.FlipVertically = names is null;   // (as before for many features; with names, row 0 on top)
        plot.Add.ColorBar(heat);
        plot.Title(title, size: 13);
        plot.Axes.Margins(0, 0);
        if (names is not null)
        {
            // Cell (i, j) is centred on x = j and y = n − 1 − i: row 0 on top, the diagonal from top left to bottom right.
            int n = names.Length;
            plot.Axes.Bottom.SetTicks(Enumerable.Range(0, n).Select(j => (double)j).ToArray(), names);
            plot.Axes.Left.SetTicks(Enumerable.Range(0, n).Select(i => (double)(n - 1 - i)).ToArray(), names);
            plot.Axes.Bottom.TickLabelStyle.Rotation = 45;
            plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleLeft;
            plot.Axes.Bottom.MinimumSize = 10 + 6 * names.Max(name => name.Length);
        }
        return plot;
    }

    private static string Pca(PlotData data, string path)
    {
        var plot = new Plot();
        var real = plot.Add.ScatterPoints(data.RealPoints[0], data.RealPoints[1], RealColor.WithAlpha(0.45));
        real.MarkerSize = 3;
        real.LegendText = $"real ({data.RealPoints[0].Length:N0})";
        var generated = plot.Add.ScatterPoints(data.GeneratedPoints[0], data.GeneratedPoints[1], GeneratedColor.WithAlpha(0.45));
        generated.MarkerSize = 3;
        generated.LegendText = $"generated ({data.GeneratedPoints[0].Length:N0})";
        plot.XLabel(string.Format(CultureInfo.InvariantCulture, "PC1 ({0:P1} of the real variance)", data.ExplainedVariance.ElementAtOrDefault(0)));
        plot.YLabel(string.Format(CultureInfo.InvariantCulture, "PC2 ({0:P1})", data.ExplainedVariance.ElementAtOrDefault(1)));
        plot.Title("Real and generated rows on the real rows' first two principal components");
        plot.ShowLegend(Alignment.UpperRight);
        Compose(path, new List<Plot> { plot }, 1, 1, 760, 600, null);
        return path;
    }

    private static double[] Density(double[] values, double low, double binWidth, int bins)
    {
        var counts = new double[bins];
        foreach (var v in values)
            counts[Math.Clamp((int)((v - low) / binWidth), 0, bins - 1)]++;
        for (int i = 0; i < bins; i++)
            counts[i] /= values.Length * binWidth;
        return counts;
    }

    private static void AddStep(Plot plot, double[] density, double low, double binWidth, Color color, string label)
    {
        // Outline of the histogram: (edge_i, 0) … up and down each bin.
        var xs = new List<double> { low };
        var ys = new List<double> { 0 };
        for (int i = 0; i < density.Length; i++)
        {
            xs.Add(low + i * binWidth); ys.Add(density[i]);
            xs.Add(low + (i + 1) * binWidth); ys.Add(density[i]);
        }
        xs.Add(low + density.Length * binWidth); ys.Add(0);
        var line = plot.Add.ScatterLine(xs.ToArray(), ys.ToArray(), color);
        line.LineWidth = 1.8f;
        line.LegendText = label;
    }

    private static void Compose(string path, List<Plot> panels, int columns, int rows, int width, int height, string? title)
    {
        int top = title is null ? 0 : 34;
        using var surface = SKSurface.Create(new SKImageInfo(columns * width, rows * height + top, SKColorType.Rgba8888, SKAlphaType.Premul));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        if (title is not null)
        {
            using var font = new SKFont(SKTypeface.Default, 18);
            using var paint = new SKPaint { Color = SKColors.Black, IsAntialias = true };
            canvas.DrawText(title, 12, 24, SKTextAlign.Left, font, paint);
        }
        for (int i = 0; i < panels.Count; i++)
        {
            // Each panel is rendered on its own (ScottPlot clears the whole canvas it renders on), then placed.
            using var panel = SKBitmap.Decode(panels[i].GetImageBytes(width, height, ImageFormat.Png));
            canvas.DrawBitmap(panel, (i % columns) * width, top + (i / columns) * height);
        }
        using var image = surface.Snapshot();
        using var png = image.Encode(SKEncodedImageFormat.Png, 100);
        using var file = File.Create(path);
        png.SaveTo(file);
    }
}
