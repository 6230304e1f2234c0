using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Evaluation;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Benchmarks;

/// <summary>
/// The "evaluation" suite: <c>Evaluate</c> on 10,000 × 64 real vs 10,000 × 64 generated rows (plus 10,000 training
/// rows for memorization), whole and stage by stage, interleaved with a PyTorch twin of the tensor stages
/// (<c>evaluation_twin.py</c>: the same algorithms in float64) when <c>/usr/bin/python3</c> can import torch.
/// </summary>
public static class EvaluationBenchmarks
{
    private const int Rows = 10_000, Width = 64, Repeats = 3;

    private sealed class VectorRow
    {
        public float[] Features { get; set; } = Array.Empty<float>();
    }

    public static void Run(string root)
    {
        Console.WriteLine($"evaluation: Evaluate on {Rows:N0} × {Width} real vs {Rows:N0} × {Width} generated (+ {Rows:N0} training rows)");
        var report = new Report("evaluation");
        // Correlated Gaussian features (a random mixing matrix), generated rows slightly shifted and rescaled.
        var random = new Random(1);
        var mixing = Enumerable.Range(0, Width * Width).Select(_ => Normal(random) / Math.Sqrt(Width)).ToArray();
        float[][] Make(int n, double shift, double scale) => Enumerable.Range(0, n).Select(_ =>
        {
            var z = Enumerable.Range(0, Width).Select(_ => Normal(random)).ToArray();
            return Enumerable.Range(0, Width).Select(j => (float)(shift + scale * Enumerable.Range(0, Width).Sum(i => mixing[j * Width + i] * z[i]))).ToArray();
        }).ToArray();
        var real = Make(Rows, 0, 1);
        var generated = Make(Rows, 0.05, 1.1);
        var training = Make(Rows, 0, 1);

        var ml = new MLContext(1);
        var realView = View(ml, real);
        var generatedView = View(ml, generated);
        var options = new GenerativeEvaluationOptions { Seed = 1, Training = View(ml, training) };
        // Warm-up: JIT, libtorch and FastTree initialization.
        ml.Generative().Evaluate(View(ml, real.Take(500).ToArray()), View(ml, generated.Take(500).ToArray()), "Features",
            new GenerativeEvaluationOptions { Seed = 1, Training = View(ml, training.Take(500).ToArray()) });

        string dataDir = Path.Combine(root, "artifacts", "bench", "evaluation-data");
        bool twin = PrepareTwin(dataDir, real, generated, training);
        var stages = new Dictionary<string, List<double>>();
        void Time(string stage, double seconds) => (stages.TryGetValue(stage, out var l) ? l : stages[stage] = new List<double>()).Add(seconds);
        GenerativeMetrics? metrics = null;
        Dictionary<string, JsonElement>? twinResult = null;
        var r = Matrix(real);
        var g = Matrix(generated);
        var t = Matrix(training);
        for (int repeat = 0; repeat < Repeats; repeat++)
        {
            Time("Evaluate, whole (defaults + Training)", Measure.Seconds(() => metrics = ml.Generative().Evaluate(realView, generatedView, "Features", options)));
            using (var scope = NewDisposeScope())
            {
                var x = r.ToFloat64();
                var y = g.ToFloat64();
                Time("Fréchet distance (64 features, float64)", Measure.Seconds(() => FrechetDistance.Compute(real, generated)));
                Time("MMD² + 200 permutations, 2,000 + 2,000 rows", Measure.Seconds(() =>
                    MaximumMeanDiscrepancy.Compute(x.narrow(0, 0, 2000), y.narrow(0, 0, 2000), 200, new Random(1))));
                Time("precision/recall/density/coverage, 10k vs 10k", Measure.Seconds(() => Distances.PrecisionRecallDensityCoverage(x, y, 5)));
                Time("DCR of 10k generated + 10k held-out vs 10k training", Measure.Seconds(() =>
                {
                    var tt = t.ToFloat64();
                    Distances.ClosestDistances(y, tt);
                    Distances.ClosestDistances(x, tt);
                }));
            }
            Time("marginals (KS/TV, 64 features)", Measure.Seconds(() => Marginals.Compute(r, g, 20)));
            Time("correlation distance", Measure.Seconds(() => Correlations.Compute(r, g, new bool[Width], new bool[Width])));
            Time("detection AUC (FastTree, 5-fold CV, 5k + 5k rows)", Measure.Seconds(() =>
                DetectionTest.Compute(r.Subsample(5000, new Random(1)), g.Subsample(5000, new Random(2)), 5, 50, 1)));
            if (twin)
            {
                twinResult = RunTwin(dataDir);
                if (twinResult is not null)
                {
                    Time("pytorch: Fréchet distance", twinResult["frechet_seconds"].GetDouble());
                    Time("pytorch: MMD² + 200 permutations", twinResult["mmd_seconds"].GetDouble());
                    Time("pytorch: precision/recall/density/coverage", twinResult["prdc_seconds"].GetDouble());
                    Time("pytorch: DCR", twinResult["dcr_seconds"].GetDouble());
                }
            }
        }
        foreach (var (stage, values) in stages)
            report.Add(Figure.Of(stage, "s", values));
        if (stages.ContainsKey("pytorch: DCR"))
        {
            Ratio(report, stages, "Fréchet distance (64 features, float64)", "pytorch: Fréchet distance");
            Ratio(report, stages, "MMD² + 200 permutations, 2,000 + 2,000 rows", "pytorch: MMD² + 200 permutations");
            Ratio(report, stages, "precision/recall/density/coverage, 10k vs 10k", "pytorch: precision/recall/density/coverage");
            Ratio(report, stages, "DCR of 10k generated + 10k held-out vs 10k training", "pytorch: DCR");
        }

        // The twin computes the same quantities: check the values agree (the MMD² on the first 2,000 rows of each set).
        if (twinResult is not null)
        {
            using var scope = NewDisposeScope();
            var mmd = MaximumMeanDiscrepancy.Compute(r.ToFloat64().narrow(0, 0, 2000), g.ToFloat64().narrow(0, 0, 2000), 0, new Random(1));
            var prdc = Distances.PrecisionRecallDensityCoverage(r.ToFloat64(), g.ToFloat64(), 5);
            var agreement = new Dictionary<string, double>
            {
                ["frechet"] = Math.Abs(FrechetDistance.Compute(real, generated) - twinResult["frechet"].GetDouble()),
                ["mmd2"] = Math.Abs(mmd.Mmd2 - twinResult["mmd2"].GetDouble()),
                ["precision"] = Math.Abs(prdc.Precision - twinResult["precision"].GetDouble()),
                ["recall"] = Math.Abs(prdc.Recall - twinResult["recall"].GetDouble()),
                ["density"] = Math.Abs(prdc.Density - twinResult["density"].GetDouble()),
                ["coverage"] = Math.Abs(prdc.Coverage - twinResult["coverage"].GetDouble()),
            };
            foreach (var (name, difference) in agreement)
                Console.WriteLine($"  |library − pytorch| {name,-10} {difference:G3}");
            report.Note("absoluteDifferenceFromPyTorch", agreement);
            report.Note("pytorch", twinResult["torch"].GetString() ?? "");
        }
        Console.WriteLine(metrics);
        report.Note("metrics", metrics!.ToString());
        report.Write(root);
    }

    private static void Ratio(Report report, Dictionary<string, List<double>> stages, string library, string pytorch)
    {
        var ratios = stages[library].Zip(stages[pytorch], (a, b) => b / a).ToArray();
        report.Add(Figure.Of($"speed vs pytorch (pytorch s / library s): {library}", "×", ratios));
    }

    private static bool PrepareTwin(string dir, float[][] real, float[][] generated, float[][] training)
    {
        string python = Environment.GetEnvironmentVariable("GENERATIVE_PYTHON") ?? "/usr/bin/python3";
        if (!File.Exists(python))
        {
            Console.WriteLine($"  (no PyTorch twin: {python} not found)");
            return false;
        }
        Directory.CreateDirectory(dir);
        void Write(string name, float[][] rows)
        {
            using var w = new BinaryWriter(File.Create(Path.Combine(dir, name + ".bin")));
            foreach (var row in rows) foreach (var v in row) w.Write(v);
        }
        Write("real", real);
        Write("generated", generated);
        Write("training", training);
        File.WriteAllText(Path.Combine(dir, "shape.txt"), $"{real.Length} {real[0].Length}");
        return true;
    }

    private static Dictionary<string, JsonElement>? RunTwin(string dir)
    {
        string python = Environment.GetEnvironmentVariable("GENERATIVE_PYTHON") ?? "/usr/bin/python3";
        string script = Path.Combine(AppContext.BaseDirectory, "evaluation_twin.py");
        var start = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(script);
        start.ArgumentList.Add(dir);
        start.ArgumentList.Add(get_num_threads().ToString());
        using var process = Process.Start(start)!;
        string output = process.StandardOutput.ReadToEnd();
        string error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            Console.WriteLine($"  (PyTorch twin failed: {error.Trim().Split('\n').LastOrDefault()})");
            return null;
        }
        return JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(output.Trim().Split('\n')[^1]);
    }

    private static IDataView View(MLContext ml, float[][] rows)
    {
        var schema = SchemaDefinition.Create(typeof(VectorRow));
        schema[nameof(VectorRow.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, rows[0].Length);
        return ml.Data.LoadFromEnumerable(rows.Select(r => new VectorRow { Features = r }), schema);
    }

    private static RowMatrix Matrix(float[][] rows) => new(rows.SelectMany(r => r).ToArray(), rows.Length, rows[0].Length);

    private static double Normal(Random random)
        => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
