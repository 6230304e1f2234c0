using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Examples;
using Microsoft.ML.Generative.Flows;
using Microsoft.ML.Generative.Losses;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Benchmarks;

/// <summary>
/// The "flows" suite: two-moons RealNVP against a PyTorch twin (flows_twin.py) interleaved, test NLL of RealNVP, MAF
/// and the neural spline flow against the bars, Transform vs a raw batched forward, MAF sampling time, and
/// bits/dim on 8×8 digits made from the bundled 28×28 ones.
/// Usage: <c>-- flows [pairs] [epochs]</c> (defaults 3 pairs, 100 epochs).
/// </summary>
internal static class FlowBenchmarks
{
    public sealed class Point2
    {
        [VectorType(2)]
        public float[] Features { get; set; } = Array.Empty<float>();
    }

    public sealed class Digit8
    {
        [VectorType(64)]
        public float[] Features { get; set; } = Array.Empty<float>();
    }

    private static NormalizingFlowOptions MoonsOptions(FlowArchitecture architecture, int epochs, int seed) => new()
    {
        Architecture = architecture,
        NumberOfLayers = 8,
        HiddenLayerSizes = new[] { 128, 128 },
        NumberOfEpochs = epochs,
        BatchSize = 256,
        LearningRate = 1e-3,
        Seed = seed,
    };

    private static double Median(IEnumerable<double> values)
    {
        var s = values.OrderBy(v => v).ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : 0.5 * (s[s.Length / 2 - 1] + s[s.Length / 2]);
    }

    /// <summary>Trains on the moons with the test set as validation data: (median epoch points/s, median test NLL of the last 10 epochs, model).</summary>
    private static (double Rate, double Nll, NormalizingFlowTransformer Model) Ours(MLContext ml, IDataView train, IDataView test, FlowArchitecture architecture, int epochs, int seed)
    {
        var model = ml.Generative().NormalizingFlow(MoonsOptions(architecture, epochs, seed)).Fit(train, test);
        var h = model.TrainingHistory;
        return (Median(h.Select(e => e.RowsPerSecond)), Median(h.Skip(Math.Max(0, h.Count - 10)).Select(e => e.ValidationLoss!.Value)), model);
    }

    private static (double Rate, double Nll, string Version) Twin(string script, string trainCsv, string testCsv, int epochs, int seed)
    {
        var start = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { script, trainCsv, testCsv, epochs.ToString(), seed.ToString() })
            start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        string output = process.StandardOutput.ReadToEnd();
        string error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new InvalidOperationException("PyTorch twin failed: " + error);
        using var doc = JsonDocument.Parse(output.Trim().Split('\n')[^1]);
        var rates = doc.RootElement.GetProperty("pointsPerSecond").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var nlls = doc.RootElement.GetProperty("testNll").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        return (Median(rates), Median(nlls.Skip(Math.Max(0, nlls.Length - 10))), doc.RootElement.GetProperty("torch").GetString() ?? "?");
    }

    /// <summary><c>-- flows-nsf bound bins [epochs]</c>: the neural spline flow on the moons with another tail bound / bin count.</summary>
    public static void SplineVariant(string root, double bound, int bins, int epochs)
    {
        var report = new Report($"flows-nsf-b{bound}-k{bins}");
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(TwoMoons.Generate(10_000, 0.05, seed: 1).Select(p => new Point2 { Features = new[] { p.X, p.Y } }));
        var test = ml.Data.LoadFromEnumerable(TwoMoons.Generate(2_000, 0.05, seed: 2).Select(p => new Point2 { Features = new[] { p.X, p.Y } }));
        var options = MoonsOptions(FlowArchitecture.NeuralSpline, epochs, 1);
        options.SplineTailBound = bound;
        options.NumberOfBins = bins;
        var model = ml.Generative().NormalizingFlow(options).Fit(train, test);
        var h = model.TrainingHistory;
        report.Add(Figure.Of($"neural spline flow test NLL (K = {bins}, B = {bound}), median of last 10 epochs", "nats/point",
            new[] { Median(h.Skip(Math.Max(0, h.Count - 10)).Select(e => e.ValidationLoss!.Value)) }, "<= 0.33"));
        report.Add(Figure.Of("training, median epoch", "points/s", new[] { Median(h.Select(e => e.RowsPerSecond)) }));
        model.Dispose();
        report.Write(root);
    }

    public static void Run(string root, Digit[] digitsTrain, Digit[] digitsTest, int pairs, int epochs)
    {
        Console.WriteLine($"flows: two moons (10,000 train / 2,000 test, σ = 0.05), 8 layers, MLP 2-128-128, Adam 1e-3, batch 256, {epochs} epochs; {pairs} interleaved pairs with PyTorch");
        var report = new Report("flows");
        var dir = Path.Combine(root, "artifacts", "bench");
        Directory.CreateDirectory(dir);
        var trainPoints = TwoMoons.Generate(10_000, 0.05, seed: 1);
        var testPoints = TwoMoons.Generate(2_000, 0.05, seed: 2);
        string trainCsv = Path.Combine(dir, "moons-train.csv"), testCsv = Path.Combine(dir, "moons-test.csv");
        File.WriteAllLines(trainCsv, trainPoints.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.X:R},{p.Y:R}")));
        File.WriteAllLines(testCsv, testPoints.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.X:R},{p.Y:R}")));
        string script = Path.Combine(root, "test", "Microsoft.ML.Generative.Benchmarks", "flows_twin.py");

        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(trainPoints.Select(p => new Point2 { Features = new[] { p.X, p.Y } }));
        var test = ml.Data.LoadFromEnumerable(testPoints.Select(p => new Point2 { Features = new[] { p.X, p.Y } }));

        // Warm-up (JIT, thread pools) for both sides.
        Ours(ml, train, test, FlowArchitecture.RealNvp, 1, 99).Model.Dispose();
        Twin(script, trainCsv, testCsv, 1, 99);

        var oursRate = new List<double>();
        var oursNll = new List<double>();
        var twinRate = new List<double>();
        var twinNll = new List<double>();
        var ratio = new List<double>();
        string torchVersion = "?";
        NormalizingFlowTransformer? realNvp = null;
        for (int p = 0; p < pairs; p++)
        {
            var (r, n, m) = Ours(ml, train, test, FlowArchitecture.RealNvp, epochs, p + 1);
            if (realNvp is null) realNvp = m; else m.Dispose();
            var (tr, tn, version) = Twin(script, trainCsv, testCsv, epochs, p + 1);
            torchVersion = version;
            oursRate.Add(r); oursNll.Add(n); twinRate.Add(tr); twinNll.Add(tn); ratio.Add(r / tr);
            Console.WriteLine($"  pair {p + 1}: ours {r:F0} points/s, test NLL {n:F4}; PyTorch {tr:F0} points/s, test NLL {tn:F4}");
        }
        report.Add(Figure.Of("RealNVP test NLL (median of last 10 epochs), ours", "nats/point", oursNll, "<= 0.36"));
        report.Add(Figure.Of("RealNVP test NLL, PyTorch twin", "nats/point", twinNll, "anchor 0.336"));
        report.Add(Figure.Of("RealNVP training, ours (median epoch)", "points/s", oursRate, ">= 31,000"));
        report.Add(Figure.Of("RealNVP training, PyTorch twin (median epoch)", "points/s", twinRate));
        report.Add(Figure.Of("RealNVP training speed ours / PyTorch", "ratio", ratio, ">= 1"));
        report.Note("pytorch", torchVersion);
        report.Note("epochs", epochs);

        var (nsfRate, nsfNll, nsf) = Ours(ml, train, test, FlowArchitecture.NeuralSpline, epochs, 1);
        report.Add(Figure.Of("neural spline flow test NLL (8 bins, default tail bound), ours", "nats/point", new[] { nsfNll }, "<= 0.33"));
        report.Add(Figure.Of("neural spline flow training, ours", "points/s", new[] { nsfRate }));
        nsf.Dispose();
        var (mafRate, mafNll, maf) = Ours(ml, train, test, FlowArchitecture.MaskedAutoregressive, epochs, 1);
        report.Add(Figure.Of("MAF test NLL, ours", "nats/point", new[] { mafNll }));
        report.Add(Figure.Of("MAF training, ours", "points/s", new[] { mafRate }));

        // MAF sampling is sequential over the dimensions: time per 1,000 rows.
        maf.Sample(1000, seed: 0).GetColumn<float[]>("Features").Count();
        var sampling = Enumerable.Range(0, 7).Select(i => 1000 * Measure.Seconds(() => maf.Sample(1000, seed: i).GetColumn<float[]>("Features").Count())).ToArray();
        report.Add(Figure.Of("MAF Sample(1,000) on the moons, D = 2", "ms", sampling));
        maf.Dispose();

        Scoring(report, ml, realNvp!, testPoints);
        realNvp!.Dispose();
        Digits(report, ml, digitsTrain, digitsTest);
        report.Write(root);
    }

    /// <summary>Transform (LogLikelihood, Score and Latent read through a cursor) vs a raw batched forward of the same network.</summary>
    private static void Scoring(Report report, MLContext ml, NormalizingFlowTransformer model, MoonPoint[] points)
    {
        const int copies = 25; // 50,000 rows
        var rows = Enumerable.Range(0, copies).SelectMany(_ => points).Select(p => new Point2 { Features = new[] { p.X, p.Y } }).ToArray();
        var data = ml.Data.LoadFromEnumerable(rows);
        var flat = rows.SelectMany(r => r.Features).ToArray();
        double TransformRate()
        {
            double s = Measure.Seconds(() =>
            {
                var scored = model.Transform(data);
                var cols = new[] { scored.Schema["LogLikelihood"], scored.Schema["Score"], scored.Schema["Latent"] };
                using var cursor = scored.GetRowCursor(cols);
                var ll = cursor.GetGetter<float>(cols[0]);
                var sc = cursor.GetGetter<float>(cols[1]);
                var z = cursor.GetGetter<VBuffer<float>>(cols[2]);
                float a = 0, b = 0;
                var buffer = default(VBuffer<float>);
                while (cursor.MoveNext()) { ll(ref a); sc(ref b); z(ref buffer); }
            });
            return rows.Length / s;
        }
        double RawRate()
        {
            double s = Measure.Seconds(() =>
            {
                using var inference = inference_mode();
                for (int start = 0; start < rows.Length; start += 512)
                {
                    using var scope = NewDisposeScope();
                    int count = Math.Min(512, rows.Length - start);
                    var x = tensor(flat.AsSpan(start * 2, count * 2).ToArray(), new long[] { count, 2 });
                    var (zz, logDet) = model.Network.forward(x);
                    var ll = FlowLosses.NegativeLogLikelihood(zz, logDet, LossReduction.None).neg();
                    _ = ll.data<float>().ToArray();
                    _ = zz.data<float>().ToArray();
                }
            });
            return rows.Length / s;
        }
        TransformRate(); RawRate();
        var t = new List<double>(); var r = new List<double>(); var q = new List<double>();
        for (int i = 0; i < 7; i++)
        {
            double a = TransformRate(), b = RawRate();
            t.Add(a); r.Add(b); q.Add(a / b);
        }
        report.Add(Figure.Of("RealNVP Transform (3 columns) over 50,000 rows", "rows/s", t));
        report.Add(Figure.Of("RealNVP raw batched forward (512 per batch)", "rows/s", r));
        report.Add(Figure.Of("Transform / raw forward", "ratio", q, ">= 0.5"));
    }

    /// <summary>
    /// 8×8 digits with 17 levels, like scikit-learn's: the 28×28 digit padded to 32×32, binarized at 0.5, and the on
    /// pixels of each 4×4 block counted (0 … 16). Dequantized, logit (α = 0.05), RealNVP 8 layers 64-128-128-128,
    /// batch 64, 30 epochs; bits/dim on the 2,000 test digits.
    /// </summary>
    private static void Digits(Report report, MLContext ml, Digit[] train, Digit[] test)
    {
        static Digit8 Downsample(Digit d)
        {
            var f = new float[64];
            for (int y = 0; y < 28; y++)
                for (int x = 0; x < 28; x++)
                    if (d.Features[y * 28 + x] > 0.5f)
                        f[(y + 2) / 4 * 8 + (x + 2) / 4] += 1;
            return new Digit8 { Features = f };
        }
        var trainView = ml.Data.LoadFromEnumerable(train.Select(Downsample));
        var testView = ml.Data.LoadFromEnumerable(test.Select(Downsample));
        // RealNVP only: the 64-feature spline coupling took 329 s for the same 30 epochs in a trial run (1.12 bits/dim).
        foreach (var architecture in new[] { FlowArchitecture.RealNvp })
        {
            var options = new NormalizingFlowOptions
            {
                Architecture = architecture,
                NumberOfLayers = 8,
                HiddenLayerSizes = new[] { 128, 128, 128 },
                NumberOfEpochs = 30,
                BatchSize = 64,
                LearningRate = 1e-3,
                Dequantize = true,
                LogitTransform = true,
                NumberOfLevels = 17,
                Seed = 1,
            };
            NormalizingFlowTransformer? model = null;
            double seconds = Measure.Seconds(() => model = ml.Generative().NormalizingFlow(options).Fit(trainView));
            var metrics = model!.Evaluate(testView);
            Console.WriteLine($"  8x8 digits, {architecture}: {metrics} ({seconds:F0} s)");
            report.Add(Figure.Of($"8x8 digits (17 levels), {architecture}: test bits/dim", "bits/dim", new[] { metrics.BitsPerDimension }, "<= 2.21 (PyTorch RealNVP on sklearn digits)"));
            report.Add(Figure.Of($"8x8 digits, {architecture}: Fit time (30 epochs, 8,000 digits)", "s", new[] { seconds }));
            model.Dispose();
        }
    }
}
