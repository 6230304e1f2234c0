// Benchmarks of Microsoft.ML.Generative. Usage (from the repository root):
//   dotnet run -c Release --project test/Microsoft.ML.Generative.Benchmarks -- [training|hardware|scoring|memory|all|evaluation|pytorch]
//   ... -- autoregressive [epochs (3)] [repeats (1)]   (the autoregressive family's anchor; see Autoregressive.cs)
//   ... -- flows [pairs] [epochs]   (normalizing flows vs a PyTorch twin, see FlowBenchmarks.cs)
//   ... -- distributed   (all-reduce and step times, the data-parallel scaling model; DistributedBenchmark.cs)
// Each suite prints a table and writes artifacts/bench/<suite>.json. Comparisons are interleaved in one run and
// reported as ratios, because the machines are shared and noisy. See docs/benchmarks.md.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Generative;
using Microsoft.ML.Generative.Benchmarks;
using Microsoft.ML.Generative.Examples;
using Microsoft.ML.Generative.Vae;
using TorchSharp;
using static TorchSharp.torch;

string suite = args.Length > 0 ? args[0] : "all";
if (suite == "rss-probe")   // diagnosis: RSS per epoch of the raw loop in variants
    return RssProbe.Run(args[1], args[2], int.Parse(args[3]));
if (suite == "vae-child")   // one side of the "pytorch" suite, run in its own process
    return PyTorchTwin.Child(args[1], int.Parse(args[2]), args[3]);
if (suite == "allreduce-child")   // one rank of the "distributed" suite, under mpirun
    return DistributedBenchmark.AllReduceChild();
if (suite == "distributed")   // data-parallel training: all-reduce times, step times, scaling model (docs/distributed.md)
{
    DistributedBenchmark.Run(FindRoot());
    return 0;
}
string root = FindRoot();
var digits = Digits.Split(Digits.Load(Path.Combine(AppContext.BaseDirectory, "data", "mnist-digits.bin.gz")));
Console.WriteLine($"torch threads: {get_num_threads()}, cores: {Environment.ProcessorCount}");

var suites = new Dictionary<string, Action>
{
    ["training"] = () => Suites.Training(root, digits.Train),
    ["hardware"] = () => Suites.Hardware(root, digits.Train),
    ["scoring"] = () => Suites.Scoring(root, digits.Train, digits.Test),
    ["memory"] = () => Suites.Memory(root, digits.Train),
    ["scale"] = () => Suites.Scale(root, digits.Train, args.Length > 1 ? long.Parse(args[1]) : 2_000_000),
    ["micro"] = () => Suites.Micro(root, digits.Train),
    ["autoregressive"] = () => AutoregressiveSuite.Run(root, epochs: args.Length > 1 ? int.Parse(args[1]) : 3, repeats: args.Length > 2 ? int.Parse(args[2]) : 1,
        architectures: args.Length > 3 ? args[3] : "gru,transformer"),
    ["autoregressive-variants"] = () => AutoregressiveSuite.Variants(root, args[1], args.Length > 2 ? int.Parse(args[2]) : 3, args.Length > 3 ? args[3] : "transformer"),
    ["flows-nsf"] = () => FlowBenchmarks.SplineVariant(root, double.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture), int.Parse(args[2]), args.Length > 3 ? int.Parse(args[3]) : 100),
    ["flows"] = () => FlowBenchmarks.Run(root, digits.Train, digits.Test, args.Length > 1 ? int.Parse(args[1]) : 3, args.Length > 2 ? int.Parse(args[2]) : 100),
    ["gan"] = () => GanBenchmark.Run(root, digits.Train, digits.Test, args.Length > 1 ? int.Parse(args[1]) : 20),
    // The VAE against its PyTorch twin, each side in its own process: pytorch [rounds] [epochs].
    ["twin-data"] = () => PyTorchTwin.WriteData(args[1], digits.Train, digits.Test),   // the twin's input files, for profiling one side alone
    ["pytorch"] = () => PyTorchTwin.Run(root, digits.Train, digits.Test, args.Length > 1 ? int.Parse(args[1]) : 5, args.Length > 2 ? int.Parse(args[2]) : 10),
    ["evaluation"] = () => EvaluationBenchmarks.Run(root),
    // The tabular synthesizer's quality bars on the bundled tables: tabular [repeats (3)] [models, comma-separated (tvae)] [epochs] [batch] [minimum steps].
    ["tabular"] = () => TabularBenchmarks.Run(root, args.Length > 1 ? int.Parse(args[1]) : 3,
        (args.Length > 2 ? args[2] : "tvae").Split(',').Select(m => Enum.Parse<Microsoft.ML.Generative.Tabular.TabularModel>(m, ignoreCase: true)).ToArray(),
        args.Length > 3 && args[3] != "-" ? int.Parse(args[3]) : null, args.Length > 4 && args[4] != "-" ? int.Parse(args[4]) : null,
        args.Length > 5 ? int.Parse(args[5]) : null),
    ["gan-tabular"] = () => GanTabular.Run(root, args.Length > 1 ? int.Parse(args[1]) : 300),   // issue 10: per-column KS / correlation distance on two real tables
    ["cross-entropy"] = () => CrossEntropyCost.Run(root, args.Length > 1 ? int.Parse(args[1]) : 5),   // issue 14: cost of the exact next-token loss
};
if (suite == "all")
{
    // "all" runs the quick suites; scale (minutes, ~6 GB streamed) and micro (BenchmarkDotNet) are run by name.
    foreach (var name in new[] { "training", "hardware", "scoring", "memory" }) suites[name]();
}
else if (suites.TryGetValue(suite, out var run))
{
    run();
}
else
{
    Console.Error.WriteLine($"Unknown suite '{suite}'. Suites: {string.Join(", ", suites.Keys)}, all.");
    return 2;
}
return 0;

static string FindRoot()
{
    var dir = new DirectoryInfo(Directory.GetCurrentDirectory());
    while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Generative.sln")))
        dir = dir.Parent;
    return dir?.FullName ?? Directory.GetCurrentDirectory();
}

internal static class Suites
{
    // Forward multiply-adds per row of the 784-400-20 VAE: encoder 784·400 + heads 2·400·20, decoder 20·400 + 400·784.
    private const double ForwardMacsPerRow = 784 * 400 + 2 * 400 * 20 + 20 * 400 + 400 * 784;
    // A training step costs about 3× the forward pass (forward, input gradients, weight gradients); 2 FLOPs per MAC.
    private const double TrainFlopsPerRow = 3 * 2 * ForwardMacsPerRow;

    private static VariationalAutoencoderOptions Options(int epochs, int batch) => new()
    {
        LatentDimension = 20,
        HiddenLayerSizes = new[] { 400 },
        NumberOfEpochs = epochs,
        BatchSize = batch,
        LearningRate = 1e-3,
        Seed = 1,
    };

    private static double EstimatorRowsPerSecond(MLContext ml, IDataView data, int rows, int epochs, int batch)
        => EstimatorRun(ml, data, rows, epochs, batch).FitRowsPerSecond;

    /// <summary>Whole-Fit throughput, and the median of the epochs' own training throughput (no data reading, no setup).</summary>
    private static (double FitRowsPerSecond, double EpochRowsPerSecond) EstimatorRun(MLContext ml, IDataView data, int rows, int epochs, int batch)
    {
        VariationalAutoencoderTransformer? model = null;
        double seconds = Measure.Seconds(() => model = ml.Generative().VariationalAutoencoder(Options(epochs, batch)).Fit(data));
        var epochRates = model!.TrainingHistory.Select(h => h.RowsPerSecond).OrderBy(r => r).ToArray();
        model.Dispose();
        return (rows * (double)epochs / seconds, epochRates[epochRates.Length / 2]);
    }

    public static void Training(string root, Digit[] train)
    {
        Console.WriteLine("training: VAE estimator Fit vs a hand-written TorchSharp loop (784-400-20, Bernoulli, Adam 1e-3, batch 128)");
        var report = new Report("training");
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(train);
        var tensorData = RawVae.ToTensor(train);
        const int epochs = 3, repeats = 9;
        // Warm-up: JIT, libtorch thread pools, allocator.
        EstimatorRowsPerSecond(ml, data, train.Length, 1, 128);
        RawVae.TrainRowsPerSecond(tensorData, 1, 128);
        var estimator = new List<double>();
        var estimatorEpochs = new List<double>();
        var raw = new List<double>();
        var ratio = new List<double>();
        var epochRatio = new List<double>();
        for (int r = 0; r < repeats; r++)
        {
            var (e, epoch) = EstimatorRun(ml, data, train.Length, epochs, 128);
            double w = RawVae.TrainRowsPerSecond(tensorData, epochs, 128);
            estimator.Add(e);
            estimatorEpochs.Add(epoch);
            raw.Add(w);
            ratio.Add(e / w);
            epochRatio.Add(epoch / w);
        }
        report.Add(Figure.Of("estimator Fit, rows/s (whole Fit: IDataView read, setup, epochs)", "rows/s", estimator, "> 16,000 (PyTorch, 2 threads)"));
        report.Add(Figure.Of("estimator epochs only, rows/s (median epoch)", "rows/s", estimatorEpochs));
        report.Add(Figure.Of("raw TorchSharp loop, rows/s", "rows/s", raw));
        report.Add(Figure.Of("estimator Fit / raw", "ratio", ratio, ">= 0.90"));
        report.Add(Figure.Of("estimator epochs / raw", "ratio", epochRatio));
        report.Note("epochsPerRun", epochs);
        report.Note("rows", train.Length);
        report.Write(root);
        tensorData.Dispose();
    }

    public static void Hardware(string root, Digit[] train)
    {
        Console.WriteLine("hardware: float32 matmul peak and the training step's achieved FLOP/s");
        var report = new Report("hardware");
        var peak = new List<double>();
        using (var a = randn(2048, 2048))
        using (var b = randn(2048, 2048))
        {
            using (var warm = a.mm(b)) { }
            for (int r = 0; r < 7; r++)
            {
                double s = Measure.Seconds(() => { using var c = a.mm(b); });
                peak.Add(2.0 * 2048 * 2048 * 2048 / s / 1e9);
            }
        }
        var peakFigure = report.Add(Figure.Of("torch.mm 2048x2048 float32", "GFLOP/s", peak));
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(train);
        foreach (int batch in new[] { 128, 1024 })
        {
            EstimatorRowsPerSecond(ml, data, train.Length, 1, batch);
            var achieved = new List<double>();
            for (int r = 0; r < 3; r++)
                achieved.Add(EstimatorRowsPerSecond(ml, data, train.Length, 2, batch) * TrainFlopsPerRow / 1e9);
            var f = report.Add(Figure.Of($"training step, batch {batch}", "GFLOP/s", achieved));
            report.Add(Figure.Of($"training step, batch {batch}, fraction of mm peak", "fraction", achieved.Select(v => v / peakFigure.Median).ToList()));
        }
        report.Note("trainFlopsPerRow", TrainFlopsPerRow);
        report.Write(root);
    }

    public static void Scoring(string root, Digit[] train, Digit[] test)
    {
        Console.WriteLine("scoring: Transform (Latent + Score) over 10,000 rows vs a raw batched forward; PredictionEngine latency");
        var report = new Report("scoring");
        var ml = new MLContext(seed: 1);
        var model = ml.Generative().VariationalAutoencoder(Options(2, 128)).Fit(ml.Data.LoadFromEnumerable(train));
        var rows = Enumerable.Range(0, 10_000).Select(i => i < train.Length ? train[i] : test[i - train.Length]).ToArray();
        var data = ml.Data.LoadFromEnumerable(rows);
        using var all = RawVae.ToTensor(rows);

        double TransformRowsPerSecond()
        {
            var scored = model.Transform(data);
            double seconds = Measure.Seconds(() =>
            {
                using var cursor = scored.GetRowCursor(new[] { scored.Schema["Latent"], scored.Schema["Score"] });
                var latent = cursor.GetGetter<VBuffer<float>>(scored.Schema["Latent"]);
                var score = cursor.GetGetter<float>(scored.Schema["Score"]);
                VBuffer<float> l = default;
                float s = 0;
                while (cursor.MoveNext()) { latent(ref l); score(ref s); }
            });
            return rows.Length / seconds;
        }

        double RawRowsPerSecond() => rows.Length / Measure.Seconds(() => RawVae.ScoreAll(model, all, 512));

        TransformRowsPerSecond();
        RawRowsPerSecond();
        var transform = new List<double>();
        var raw = new List<double>();
        var ratio = new List<double>();
        for (int r = 0; r < 7; r++)
        {
            double t = TransformRowsPerSecond(), w = RawRowsPerSecond();
            transform.Add(t);
            raw.Add(w);
            ratio.Add(t / w);
        }
        report.Add(Figure.Of("Transform, rows/s", "rows/s", transform));
        report.Add(Figure.Of("raw batched forward (512 rows/batch), rows/s", "rows/s", raw));
        report.Add(Figure.Of("Transform / raw", "ratio", ratio, ">= 0.50"));

        var engine = ml.Model.CreatePredictionEngine<Digit, ScoreRow>(model);
        for (int i = 0; i < 200; i++) engine.Predict(rows[i]);
        var latencies = new double[5000];
        var clock = new Stopwatch();
        for (int i = 0; i < latencies.Length; i++)
        {
            clock.Restart();
            engine.Predict(rows[i % rows.Length]);
            latencies[i] = clock.Elapsed.TotalMicroseconds;
        }
        Array.Sort(latencies);
        report.Add(new Figure("PredictionEngine latency p50", "µs", latencies[0], latencies[latencies.Length / 2], latencies[^1], latencies.Length, "< 200"));
        report.Add(new Figure("PredictionEngine latency p99", "µs", latencies[0], latencies[(int)(latencies.Length * 0.99)], latencies[^1], latencies.Length));
        report.Write(root);
    }

    public static void Memory(string root, Digit[] train)
    {
        Console.WriteLine("memory: 20-epoch Fit, RSS per epoch, live tensors after Fit and after scoring");
        var report = new Report("memory");
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(train);
        var rss = new List<double>();
        var options = Options(20, 128);
        options.Progress = new Sync(_ => rss.Add(Measure.MemoryMiB().Rss));
        long liveBefore = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        var model = ml.Generative().VariationalAutoencoder(options).Fit(data);
        long parameters = model.Network.state_dict().Count;
        long liveAfterFit = DisposeScopeManager.Statistics.ThreadTotalLiveCount - liveBefore - parameters;
        var scored = model.Transform(data);
        scored.GetColumn<float>("Score").Count();
        long liveAfterScoring = DisposeScopeManager.Statistics.ThreadTotalLiveCount - liveBefore - parameters;
        var (_, peak) = Measure.MemoryMiB();
        report.Add(new Figure("peak RSS of a 20-epoch Fit", "MiB", peak, peak, peak, 1));
        report.Add(new Figure("RSS after epoch 2", "MiB", rss[1], rss[1], rss[1], 1));
        report.Add(new Figure("RSS after epoch 20", "MiB", rss[19], rss[19], rss[19], 1));
        double growth = (rss[19] - rss[1]) / rss[1];
        report.Add(new Figure("RSS growth epoch 2 -> 20", "fraction", growth, growth, growth, 1, "< 0.05"));
        report.Add(new Figure("live tensors after Fit (beyond the model's weights)", "tensors", liveAfterFit, liveAfterFit, liveAfterFit, 1, "0"));
        report.Add(new Figure("live tensors after scoring 8,000 rows", "tensors", liveAfterScoring, liveAfterScoring, liveAfterScoring, 1, "0"));
        report.Note("rssPerEpochMiB", rss);
        report.Write(root);
    }

    public static void Scale(string root, Digit[] train, long rows)
    {
        Console.WriteLine($"scale: one epoch over {rows:N0} generated rows × 784 floats ({rows * 784 * 4 / 1e9:F1} GB), streamed; RSS budget 2 GB");
        var report = new Report("scale");
        var ml = new MLContext(seed: 1);
        var data = new SyntheticDigits(train, rows);
        var options = Options(1, 128);
        options.MaxCachedMegabytes = 1024;
        double epochRowsPerSecond = double.NaN;
        var rssSamples = new List<double>();
        using var sampler = new System.Threading.Timer(_ => rssSamples.Add(Measure.MemoryMiB().Rss), null, 0, 500);
        options.Progress = new Sync(e => epochRowsPerSecond = e.RowsPerSecond);
        VariationalAutoencoderTransformer? model = null;
        double seconds = Measure.Seconds(() => model = ml.Generative().VariationalAutoencoder(options).Fit(data));
        var (rss, peak) = Measure.MemoryMiB();
        report.Add(new Figure("Fit wall time (checking pass + 1 epoch)", "s", seconds, seconds, seconds, 1));
        report.Add(new Figure("training throughput while streaming", "rows/s", epochRowsPerSecond, epochRowsPerSecond, epochRowsPerSecond, 1));
        report.Add(new Figure("peak RSS", "MiB", peak, peak, peak, 1, "< 2048"));
        report.Add(new Figure("RSS at the end", "MiB", rss, rss, rss, 1));
        report.Note("rows", rows);
        report.Note("rssSamplesMiB", rssSamples.ToArray());
        report.Note("history", model!.TrainingHistory.Select(h => h.ToString()).ToArray());
        report.Write(root);
    }

    public static void Micro(string root, Digit[] train)
    {
        Microsoft.ML.Generative.Benchmarks.Micro.Train = train;
        var summary = BenchmarkDotNet.Running.BenchmarkRunner.Run<Micro>(Microsoft.ML.Generative.Benchmarks.Micro.Config());
        var report = new Report("micro");
        foreach (var r in summary.Reports)
        {
            var s = r.ResultStatistics;
            if (s is null) continue;
            report.Add(new Figure(r.BenchmarkCase.Descriptor.WorkloadMethod.Name, "µs", s.Min / 1000, s.Median / 1000, s.Max / 1000, s.N));
            if (r.GcStats.GetBytesAllocatedPerOperation(r.BenchmarkCase) is long bytes)
                report.Note(r.BenchmarkCase.Descriptor.WorkloadMethod.Name + ".allocatedBytesPerOp", bytes);
        }
        report.Write(root);
    }

    private sealed class Sync(Action<Microsoft.ML.Generative.Training.EpochSummary> report) : IProgress<Microsoft.ML.Generative.Training.EpochSummary>
    {
        public void Report(Microsoft.ML.Generative.Training.EpochSummary value) => report(value);
    }
}

public sealed class ScoreRow
{
    public float Score { get; set; }
}
