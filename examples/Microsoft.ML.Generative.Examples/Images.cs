using System;
using System.Collections.Generic;
using System.IO;
using SkiaSharp;

namespace Microsoft.ML.Generative.Examples;

/// <summary>Writes grids of 28×28 grey images as PNG with SkiaSharp, and loss curves with ScottPlot.</summary>
public static class Images
{
    /// <summary>Lays <paramref name="images"/> (intensities in [0, 1]) out in a grid, each pixel drawn scale×scale.</summary>
    public static void WriteGrid(string path, IReadOnlyList<float[]> images, int columns, int scale = 3, int gap = 2)
    {
        int side = Digit.Side;
        int rows = (images.Count + columns - 1) / columns;
        int cell = side * scale + gap;
        using var bitmap = new SKBitmap(columns * cell + gap, rows * cell + gap, SKColorType.Gray8, SKAlphaType.Opaque);
        bitmap.Erase(new SKColor(40, 40, 40));
        for (int k = 0; k < images.Count; k++)
        {
            int ox = gap + (k % columns) * cell, oy = gap + (k / columns) * cell;
            for (int y = 0; y < side; y++)
                for (int x = 0; x < side; x++)
                {
                    // White background, dark ink: easier on the eye than white on black.
                    byte v = (byte)(255 - Math.Clamp(images[k][y * side + x], 0f, 1f) * 255f);
                    var color = new SKColor(v, v, v);
                    for (int dy = 0; dy < scale; dy++)
                        for (int dx = 0; dx < scale; dx++)
                            bitmap.SetPixel(ox + x * scale + dx, oy + y * scale + dy, color);
                }
        }
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        using var file = File.Create(path);
        data.SaveTo(file);
    }

    /// <summary>Training and test negative ELBO per epoch.</summary>
    public static void WriteLossCurve(string path, IReadOnlyList<Microsoft.ML.Generative.Training.EpochSummary> history)
    {
        var plot = new ScottPlot.Plot();
        double[] epochs = new double[history.Count], train = new double[history.Count], test = new double[history.Count];
        for (int i = 0; i < history.Count; i++)
        {
            epochs[i] = history[i].Epoch;
            train[i] = history[i].TrainingLoss;
            test[i] = history[i].ValidationLoss ?? double.NaN;
        }
        plot.Add.Scatter(epochs, train).LegendText = "training";
        plot.Add.Scatter(epochs, test).LegendText = "test";
        plot.Title("VAE on handwritten digits");
        plot.XLabel("epoch");
        plot.YLabel("negative ELBO (nats per digit)");
        plot.ShowLegend(ScottPlot.Alignment.UpperRight);
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericFixedInterval(1);
        plot.SavePng(path, 640, 420);
    }
}
