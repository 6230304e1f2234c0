using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Generative.Autoregressive;
using Microsoft.ML.Generative.Training;

/// <summary>The example's pictures, drawn with ScottPlot.</summary>
public static class Plots
{
    /// <summary>Training and test NLL per character, per epoch.</summary>
    public static void WriteLossCurve(string path, IReadOnlyList<EpochSummary> history)
    {
        var plot = new ScottPlot.Plot();
        double[] epochs = history.Select(h => (double)h.Epoch).ToArray();
        plot.Add.Scatter(epochs, history.Select(h => h.TrainingLosses["Nll"]).ToArray()).LegendText = "training";
        plot.Add.Scatter(epochs, history.Select(h => h.ValidationLosses?["Nll"] ?? double.NaN).ToArray()).LegendText = "test";
        plot.Title("Character Transformer on first names");
        plot.XLabel("epoch");
        plot.YLabel("NLL (nats per character, end included)");
        plot.ShowLegend(ScottPlot.Alignment.UpperRight);
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericFixedInterval(1);
        plot.SavePng(path, 640, 420);
    }

    /// <summary>
    /// p(next character | prefix) along <paramref name="name"/>: one row per prefix (⟨s⟩, ⟨s⟩m, ⟨s⟩ma, …), one column
    /// per token (the end token "." first); the character that actually comes next is outlined.
    /// </summary>
    public static void WriteNextTokenHeatMap(string path, AutoregressiveModelTransformer model, string name)
    {
        var probabilities = model.NextTokenProbabilities(name);     // [n + 1][V]
        string[] labels = new[] { "." }.Concat(model.Tokens).ToArray();
        int[] columns = new[] { 0 }.Concat(Enumerable.Range(2, model.VocabularySize - 2)).ToArray();   // ⟨unk⟩ left out
        int rows = probabilities.Length;
        var values = new double[rows, columns.Length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < columns.Length; c++)
                values[r, c] = probabilities[r][columns[c]];
        var plot = new ScottPlot.Plot();
        var heatmap = plot.Add.Heatmap(values);
        heatmap.Colormap = new ScottPlot.Colormaps.Viridis();
        plot.Add.ColorBar(heatmap).Label = "probability";
        // Heatmap cells are centred on integer coordinates; row 0 is drawn at the top.
        for (int r = 0; r < rows; r++)
        {
            char next = r < name.Length ? name[r] : '.';
            int c = Array.IndexOf(labels, next.ToString());
            if (c < 0) continue;
            var box = plot.Add.Rectangle(c - 0.5, c + 0.5, rows - 1 - r - 0.5, rows - 1 - r + 0.5);
            box.FillStyle.Color = ScottPlot.Colors.Transparent;
            box.LineStyle.Color = ScottPlot.Colors.Red;
            box.LineStyle.Width = 2;
        }
        plot.Axes.Bottom.SetTicks(Enumerable.Range(0, labels.Length).Select(i => (double)i).ToArray(), labels);
        var prefixes = Enumerable.Range(0, rows).Select(r => "." + name[..r]).ToArray();
        plot.Axes.Left.SetTicks(Enumerable.Range(0, rows).Select(r => (double)(rows - 1 - r)).ToArray(), prefixes);
        plot.Title($"p(next character | prefix) for \"{name}\" (red: the actual next character; '.' = end)");
        plot.XLabel("next character");
        plot.YLabel("prefix");
        plot.SavePng(path, 900, 420);
    }
}
