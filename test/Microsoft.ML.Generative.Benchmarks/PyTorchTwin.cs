using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text.Json;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Examples;
using Microsoft.ML.Generative.Vae;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Benchmarks;

/// <summary>
/// The VAE against its PyTorch twin (<c>pytorch/vae_twin.py</c>), each side in its own process, interleaved
/// (library, PyTorch, raw TorchSharp, library, ...), on identical rows written once to a temporary folder. Reports per
/// pair the ratio library / PyTorch of training throughput (epochs only), whole <c>Fit</c>, whole process (start →
/// trained model → test scores, timed from outside) and peak RSS.
/// </summary>
internal static class PyTorchTwin
{
    private const int Batch = 128;

    /// <summary>The parent: <c>pytorch [pairs] [epochs]</c>.</summary>
    public static void Run(string root, Digit[] train, Digit[] test, int pairs, int epochs)
    {
        string python = Environment.GetEnvironmentVariable("GENERATIVE_PYTHON") ?? "/usr/bin/python3";
        string script = Path.Combine(AppContext.BaseDirectory, "pytorch", "vae_twin.py");
        if (!File.Exists(python) || Exec(python, "-c \"import torch\"").ExitCode != 0)
        {
            Console.Error.WriteLine($"pytorch: {python} cannot import torch. Install once: apt-get install python3-torch libopenblas0-openmp (or set GENERATIVE_PYTHON).");
            return;
        }
        int threads = get_num_threads();
        string dir = Path.Combine(Path.GetTempPath(), "generative-twin-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            WriteData(dir, train, test);
            string self = Path.Combine(AppContext.BaseDirectory, "Microsoft.ML.Generative.Benchmarks.dll");
            var sides = new (string Name, string File, string Args)[]
            {
                ("library", "dotnet", $"\"{self}\" vae-child \"{dir}\" {epochs} library"),
                ("pytorch", python, $"\"{script}\" \"{dir}\" {epochs} {threads}"),
                ("torchsharp", "dotnet", $"\"{self}\" vae-child \"{dir}\" {epochs} torchsharp"),
                // The step's 14 matrix products alone (forward and backward of the five linear layers, batch 128), on
                // each side's BLAS (MKL in libtorch, OpenBLAS in Debian's PyTorch): the part neither framework can remove.
                ("library-gemm", "dotnet", $"\"{self}\" vae-child \"{dir}\" 0 gemm"),
                ("pytorch-gemm", python, $"\"{script}\" \"{dir}\" 0 {threads} gemm"),
            };
            Console.WriteLine($"pytorch: VAE 784-400-20, batch {Batch}, {epochs} epochs on {train.Length} rows, {threads} threads each side, {pairs} interleaved rounds (library, PyTorch, raw TorchSharp)");
            var results = sides.ToDictionary(s => s.Name, _ => new List<Result>());
            foreach (var side in sides)
                RunSide(side.File, side.Args); // warm-up round: disk cache, JIT'd framework images
            for (int p = 0; p < pairs; p++)
            {
                foreach (var side in sides)
                {
                    var r = RunSide(side.File, side.Args);
                    results[side.Name].Add(r);
                    if (side.Name.EndsWith("-gemm"))
                    {
                        Console.WriteLine($"  round {p + 1} {side.Name,-12} matrix products of one step {r.GemmMsPerStep:F3} ms");
                        continue;
                    }
                    Console.WriteLine($"  round {p + 1} {side.Name,-10} epochs {r.EpochRowsPerSecond,8:F0} rows/s  fit {r.FitSeconds,6:F2} s  process {r.WallSeconds,6:F2} s  peak RSS {r.PeakRssKib / 1024.0,6:F0} MiB  test score {r.TestScore:F2}");
                }
            }

            var report = new Report("pytorch");
            var lib = results["library"];
            var py = results["pytorch"];
            var raw = results["torchsharp"];
            report.Add(Figure.Of("library training rows/s (epochs only, median epoch)", "rows/s", lib.Select(r => r.EpochRowsPerSecond).ToList()));
            report.Add(Figure.Of("PyTorch training rows/s (epochs only, median epoch)", "rows/s", py.Select(r => r.EpochRowsPerSecond).ToList()));
            report.Add(Figure.Of("raw TorchSharp training rows/s (epochs only)", "rows/s", raw.Select(r => r.EpochRowsPerSecond).ToList()));
            report.Add(Figure.Of("training speed library / PyTorch (per pair)", "ratio", Pair(lib, py, r => r.EpochRowsPerSecond), ">= 1.25"));
            report.Add(Figure.Of("whole Fit time PyTorch / library (per pair; > 1 = library faster)", "ratio", Pair(py, lib, r => r.FitSeconds)));
            report.Add(Figure.Of("whole process time PyTorch / library (per pair; > 1 = library faster)", "ratio", Pair(py, lib, r => r.WallSeconds)));
            report.Add(Figure.Of("library peak RSS", "MiB", lib.Select(r => r.PeakRssKib / 1024.0).ToList()));
            report.Add(Figure.Of("PyTorch peak RSS", "MiB", py.Select(r => r.PeakRssKib / 1024.0).ToList()));
            report.Add(Figure.Of("raw TorchSharp peak RSS", "MiB", raw.Select(r => r.PeakRssKib / 1024.0).ToList()));
            report.Add(Figure.Of("peak RSS library / PyTorch (per pair)", "ratio", Pair(lib, py, r => r.PeakRssKib)));
            report.Add(Figure.Of("training speed library / raw TorchSharp (per pair)", "ratio", Pair(lib, raw, r => r.EpochRowsPerSecond)));
            var libGemm = results["library-gemm"];
            var pyGemm = results["pytorch-gemm"];
            report.Add(Figure.Of("library step time (epochs only)", "ms", lib.Select(r => 1000.0 * Batch / r.EpochRowsPerSecond).ToList()));
            report.Add(Figure.Of("PyTorch step time (epochs only)", "ms", py.Select(r => 1000.0 * Batch / r.EpochRowsPerSecond).ToList()));
            report.Add(Figure.Of("library: the step's 14 matrix products alone (MKL)", "ms", libGemm.Select(r => r.GemmMsPerStep).ToList()));
            report.Add(Figure.Of("PyTorch: the step's 14 matrix products alone (OpenBLAS)", "ms", pyGemm.Select(r => r.GemmMsPerStep).ToList()));
            report.Add(Figure.Of("matrix products' share of the library step (per round)", "fraction", lib.Zip(libGemm, (r, g) => g.GemmMsPerStep / (1000.0 * Batch / r.EpochRowsPerSecond)).ToList()));
            report.Add(Figure.Of("matrix products' share of the PyTorch step (per round)", "fraction", py.Zip(pyGemm, (r, g) => g.GemmMsPerStep / (1000.0 * Batch / r.EpochRowsPerSecond)).ToList()));
            report.Add(Figure.Of("matrix products alone: PyTorch time / library time (per round; > 1 = MKL faster)", "ratio", Pair(pyGemm, libGemm, r => r.GemmMsPerStep)));
            report.Add(Figure.Of("library test negative ELBO (nats/digit)", "nats", lib.Select(r => r.TestScore).ToList()));
            report.Add(Figure.Of("PyTorch test negative ELBO (nats/digit)", "nats", py.Select(r => r.TestScore).ToList()));
            report.Note("epochs", epochs);
            report.Note("pairs", pairs);
            report.Note("threadsEachSide", threads);
            report.Note("pytorchVersion", py.FirstOrDefault()?.Version ?? "");
            report.Write(root);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Writes the two input files the sides read (train.u8, test.u8) into <paramref name="dir"/>.</summary>
    public static void WriteData(string dir, Digit[] train, Digit[] test)
    {
        Directory.CreateDirectory(dir);
        WriteU8(Path.Combine(dir, "train.u8"), train);
        WriteU8(Path.Combine(dir, "test.u8"), test);
    }

    private static List<double> Pair(List<Result> a, List<Result> b, Func<Result, double> f)
        => a.Zip(b, (x, y) => f(x) / f(y)).ToList();

    /// <summary>The child: trains and scores one side, prints one JSON line.</summary>
    public static int Child(string dir, int epochs, string side)
    {
        var start = Process.GetCurrentProcess().StartTime;
        // Loads libtorch before the Fit clock starts, as the twin's `import torch` does before its own clock.
        get_num_threads();
        if (side == "gemm")
        {
            Console.WriteLine(JsonSerializer.Serialize(new Result { Side = side, GemmMsPerStep = GemmMsPerStep() }));
            return 0;
        }
        var clock = Stopwatch.StartNew();
        var train = ReadU8(Path.Combine(dir, "train.u8"));
        double epochRate, trainSeconds, testScore;
        if (side == "torchsharp")
        {
            using var data = RawVae.ToTensor(train);
            (epochRate, trainSeconds, testScore) = RawVae.TrainAndScore(data, ReadU8(Path.Combine(dir, "test.u8")), epochs, Batch);
        }
        else
        {
            bool trace = Environment.GetEnvironmentVariable("GENERATIVE_TRACE_RSS") == "1";
            void Rss(string stage) { if (trace) Console.Error.WriteLine($"rss {stage}: {Measure.MemoryMiB().Rss:F0} MiB (peak {Measure.MemoryMiB().Peak:F0})"); }
            Rss("data read");
            var ml = new MLContext(seed: 1);
            var view = ml.Data.LoadFromEnumerable(train);
            using var model = ml.Generative().VariationalAutoencoder(new VariationalAutoencoderOptions
            {
                LatentDimension = 20, HiddenLayerSizes = new[] { 400 }, NumberOfEpochs = epochs, BatchSize = Batch, LearningRate = 1e-3, Seed = 1,
                Progress = new Progress(e => Rss($"epoch {e.Epoch} ({e.RowsPerSecond:F0} rows/s)")),
            }).Fit(view);
            Rss("fit");
            var rates = model.TrainingHistory.Select(h => h.RowsPerSecond).OrderBy(r => r).ToArray();
            epochRate = rates[rates.Length / 2];
            trainSeconds = model.TrainingHistory.Sum(h => h.Duration.TotalSeconds);
            var fitSecondsLocal = clock.Elapsed.TotalSeconds;
            testScore = model.Transform(ml.Data.LoadFromEnumerable(ReadU8(Path.Combine(dir, "test.u8")))).GetColumn<float>("Score").Average(s => (double)s);
            Print(side, epochRate, trainSeconds, fitSecondsLocal, testScore, start);
            return 0;
        }
        Print(side, epochRate, trainSeconds, clock.Elapsed.TotalSeconds, testScore, start);
        return 0;
    }

    /// <summary>
    /// Milliseconds for the 14 matrix products of one training step of the 784-400-20 VAE at batch 128, with the
    /// layouts autograd uses: forward x·Wᵀ per layer (five layers, the two 400→20 heads separate as in the twin), backward
    /// δᵀ·input for each weight and δ·W for each layer's input except the first. Median of 7 blocks of 100 steps;
    /// each product allocates its result, as in training (neither TorchSharp nor PyTorch can write into a given tensor here).
    /// The same list is in <c>pytorch/vae_twin.py</c> (<c>gemm_ms_per_step</c>).
    /// </summary>
    internal static double GemmMsPerStep()
    {
        const int b = Batch;
        var layers = new (int In, int Out, bool InputGradient)[] { (784, 400, false), (400, 20, true), (400, 20, true), (20, 400, true), (400, 784, true) };
        using var scope = NewDisposeScope();
        var generator = new Generator(1);
        var work = new List<Action>();
        foreach (var (inputs, outputs, inputGradient) in layers)
        {
            var x = randn(new long[] { b, inputs }, generator: generator);
            var w = randn(new long[] { outputs, inputs }, generator: generator);
            var bias = randn(new long[] { outputs }, generator: generator);
            var delta = randn(new long[] { b, outputs }, generator: generator);
            var wt = w.t();
            var deltaT = delta.t();
            work.Add(() => { using var y = addmm(bias, x, wt, 1f, 1f); });      // forward: bias + x Wᵀ       [B, out]
            work.Add(() => { using var dw = mm(deltaT, x); });          // weight gradient: δᵀ x     [out, in]
            if (inputGradient)
                work.Add(() => { using var dx = mm(delta, w); });       // input gradient: δ W       [B, in]
        }
        for (int i = 0; i < 50; i++)
            foreach (var op in work) op();
        var blocks = new List<double>();
        for (int k = 0; k < 7; k++)
        {
            var clock = Stopwatch.StartNew();
            for (int i = 0; i < 100; i++)
                foreach (var op in work) op();
            blocks.Add(clock.Elapsed.TotalMilliseconds / 100);
        }
        blocks.Sort();
        return blocks[blocks.Count / 2];
    }

    private static void Print(string side, double epochRate, double trainSeconds, double fitSeconds, double testScore, DateTime start)
        => Console.WriteLine(JsonSerializer.Serialize(new Result
        {
            Side = side,
            Version = typeof(TorchSharp.torch).Assembly.GetName().Version?.ToString() ?? "",
            EpochRowsPerSecond = epochRate,
            TrainSeconds = trainSeconds,
            FitSeconds = fitSeconds,
            ProcessSeconds = (DateTime.Now - start).TotalSeconds,
            PeakRssKib = (long)(Measure.MemoryMiB().Peak * 1024),
            TestScore = testScore,
        }));

    private static Result RunSide(string file, string args)
    {
        var clock = Stopwatch.StartNew();
        var (code, stdout, stderr) = Exec(file, args);
        double wall = clock.Elapsed.TotalSeconds;
        if (code != 0)
            throw new InvalidOperationException($"{file} {args} failed ({code}): {stderr}");
        var line = stdout.Split('\n').Last(l => l.TrimStart().StartsWith('{'));
        var result = JsonSerializer.Deserialize<Result>(line, new JsonSerializerOptions { PropertyNameCaseInsensitive = true })!;
        result.WallSeconds = wall;
        return result;
    }

    private static (int ExitCode, string Stdout, string Stderr) Exec(string file, string args)
    {
        var info = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout, stderr.Result);
    }

    private static void WriteU8(string path, Digit[] digits)
    {
        var bytes = new byte[digits.Length * Digit.Pixels];
        for (int i = 0; i < digits.Length; i++)
            for (int j = 0; j < Digit.Pixels; j++)
                bytes[i * Digit.Pixels + j] = (byte)Math.Round(digits[i].Features[j] * 255f);
        File.WriteAllBytes(path, bytes);
    }

    private static Digit[] ReadU8(string path)
    {
        var bytes = File.ReadAllBytes(path);
        int n = bytes.Length / Digit.Pixels;
        var digits = new Digit[n];
        for (int i = 0; i < n; i++)
        {
            var f = new float[Digit.Pixels];
            for (int j = 0; j < Digit.Pixels; j++)
                f[j] = bytes[i * Digit.Pixels + j] / 255f;
            digits[i] = new Digit { Features = f };
        }
        return digits;
    }

    private sealed class Progress(Action<Microsoft.ML.Generative.Training.EpochSummary> report) : IProgress<Microsoft.ML.Generative.Training.EpochSummary>
    {
        public void Report(Microsoft.ML.Generative.Training.EpochSummary value) => report(value);
    }

    public sealed class Result
    {
        public string Side { get; set; } = "";
        public string Version { get; set; } = "";
        public double EpochRowsPerSecond { get; set; }
        public double GemmMsPerStep { get; set; }
        public double TrainSeconds { get; set; }
        public double FitSeconds { get; set; }
        public double ProcessSeconds { get; set; }
        public long PeakRssKib { get; set; }
        public double TestScore { get; set; }
        public double WallSeconds { get; set; }
    }
}
