using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Evaluation;
using Microsoft.ML.Generative.Gan;

namespace Microsoft.ML.Generative.Benchmarks;

/// <summary>
/// The GAN issue's tabular measure: the GAN family (default options, its own output map, so the rows stay in their
/// units) on the numeric columns of two real tables (vega-datasets: penguins' four measurements, complete rows;
/// Seattle weather's precipitation, temperatures and wind), a sample as large as the held-out real rows, and
/// <c>Evaluate</c>'s per-column KS distance and correlation-matrix distance against those held-out rows. Baseline:
/// independent Gaussians per column with the training rows' means and standard deviations (right marginal moments,
/// no correlations, no shape), the floor a generative model has to beat; and real training rows vs held-out rows,
/// the noise floor of the measure itself.
/// </summary>
internal static class GanTabular
{
    private sealed class Row
    {
        [VectorType] public float[] Features { get; set; } = Array.Empty<float>();
    }

    public static void Run(string root, int epochs)
    {
        var report = new Report("gan-tabular");
        string data = Path.Combine(root, "examples", "data");
        Measure(report, "penguins", Read(Path.Combine(data, "penguins.csv"), new[] { "BeakLength", "BeakDepth", "FlipperLength", "BodyMass" }), epochs);
        Measure(report, "seattle-weather", Read(Path.Combine(data, "seattle-weather.csv"), new[] { "Precipitation", "TemperatureMax", "TemperatureMin", "Wind" }), epochs);
        report.Write(root);
    }

    /// <summary>The named columns of a CSV file, rows with a missing value among them dropped.</summary>
    private static float[][] Read(string path, string[] columns)
    {
        var lines = File.ReadAllLines(path);
        var header = lines[0].Split(',');
        var index = columns.Select(c => Array.IndexOf(header, c)).ToArray();
        var rows = new List<float[]>();
        foreach (var line in lines.Skip(1))
        {
            var cells = line.Split(',');
            var values = new float[index.Length];
            bool complete = true;
            for (int j = 0; j < index.Length && complete; j++)
                complete = float.TryParse(cells[index[j]], NumberStyles.Float, CultureInfo.InvariantCulture, out values[j]);
            if (complete) rows.Add(values);
        }
        return rows.ToArray();
    }

    private static void Measure(Report report, string name, float[][] rows, int epochs)
    {
        var random = new Random(42);
        rows = rows.OrderBy(_ => random.Next()).ToArray();
        int test = rows.Length / 4;
        var heldOut = rows.Take(test).ToArray();
        var train = rows.Skip(test).ToArray();
        var ml = new MLContext(seed: 1);
        IDataView View(IEnumerable<float[]> r) => ml.Data.LoadFromEnumerable(r.Select(v => new Row { Features = v }),
            SchemaDefinition.Create(typeof(Row)).Also(s => s[0].ColumnType = new VectorDataViewType(NumberDataViewType.Single, rows[0].Length)));
        var realView = View(heldOut);
        var options = new GenerativeEvaluationOptions { Seed = 1, DetectionFolds = 5 };

        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var gan = ml.Generative().GenerativeAdversarialNetwork(new GenerativeAdversarialNetworkOptions { NumberOfEpochs = epochs, Seed = 1 }).Fit(View(train));
        double fitSeconds = clock.Elapsed.TotalSeconds;
        var ganMetrics = ml.Generative().Evaluate(realView, gan.Sample(heldOut.Length, seed: 7), options: options);

        // Independent Gaussians with the training rows' moments.
        int d = rows[0].Length;
        var mean = Enumerable.Range(0, d).Select(j => train.Average(r => (double)r[j])).ToArray();
        var std = Enumerable.Range(0, d).Select(j => Math.Sqrt(train.Average(r => (r[j] - mean[j]) * (r[j] - mean[j])))).ToArray();
        var gaussian = Enumerable.Range(0, heldOut.Length).Select(_ => Enumerable.Range(0, d)
            .Select(j => (float)(mean[j] + std[j] * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()))).ToArray());
        var baseline = ml.Generative().Evaluate(realView, View(gaussian.ToArray()), options: options);
        var floor = ml.Generative().Evaluate(realView, View(train.Take(heldOut.Length)), options: options);

        Console.WriteLine($"{name}: {train.Length} training rows, {heldOut.Length} held out, {d} columns; GAN fit {fitSeconds:F1} s ({epochs} epochs)");
        foreach (var (what, m) in new[] { ("GAN", ganMetrics), ("independent Gaussians", baseline), ("real training rows", floor) })
        {
            report.Add(new Figure($"{name}: {what}: mean KS", "", m.MeanMarginalDistance, m.MeanMarginalDistance, m.MeanMarginalDistance, 1));
            report.Add(new Figure($"{name}: {what}: worst KS", "", m.WorstMarginalDistance, m.WorstMarginalDistance, m.WorstMarginalDistance, 1));
            report.Add(new Figure($"{name}: {what}: correlation distance", "", m.CorrelationDistance, m.CorrelationDistance, m.CorrelationDistance, 1));
            report.Add(new Figure($"{name}: {what}: detection AUC", "", m.DetectionAuc, m.DetectionAuc, m.DetectionAuc, 1));
            report.Note($"{name}.{what}.perColumnKs", string.Join(", ", m.MarginalDistances.Select(v => v.ToString("F3", CultureInfo.InvariantCulture))));
        }
        report.Note($"{name}.fitSeconds", fitSeconds);
    }

    private static T Also<T>(this T value, Action<T> act)
    {
        act(value);
        return value;
    }
}
