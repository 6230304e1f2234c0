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
using Microsoft.ML.Generative.Gan;
using Microsoft.ML.Generative.Losses;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Benchmarks;

/// <summary>
/// The GAN suite: the anchor (G 64-256-512-784, D 784-512-256-1, LeakyReLU 0.2, tanh, non-saturating loss,
/// Adam 2e-4 (0.5, 0.999), batch 128, one D and one G step) in the library and in a PyTorch twin
/// (gan_twin.py), interleaved: training images/s as a ratio, and the Fréchet distance of 2,000 generated digits to the
/// 2,000 test digits in the 256 ReLU features of a 784-256-10 classifier (float64), at the same number of epochs.
/// Then what the generator average (EMA), spectral normalization and the hinge loss change.
/// </summary>
internal static class GanBenchmark
{
    private const int Samples = 2000;

    private static GenerativeAdversarialNetworkOptions Anchor(int epochs) => new()
    {
        LatentDimension = 64,
        GeneratorHiddenLayerSizes = new[] { 256, 512 },
        DiscriminatorHiddenLayerSizes = new[] { 512, 256 },
        Loss = AdversarialLoss.NonSaturating,
        NumberOfEpochs = epochs,
        BatchSize = 128,
        LearningRate = 2e-4,   // Adam β = (0.5, 0.999): the GAN defaults
        Seed = 1,
        DivergencePatience = 0, // measure whatever happens
    };

    public static void Run(string root, Digit[] train, Digit[] test, int epochs, int throughputRounds = 3)
    {
        Console.WriteLine($"gan: library vs PyTorch twin, {train.Length} training digits, {epochs} epochs for quality");
        var report = new Report("gan");
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(train);
        var testImages = test.Select(d => d.Features).ToArray();

        using var classifier = DigitClassifier.Train(train);
        report.Add(new Figure("FD classifier (784-256-10) test accuracy", "fraction", classifier.Accuracy(test), classifier.Accuracy(test), classifier.Accuracy(test), 1));
        double floor = classifier.FrechetDistance(train.Select(d => d.Features).ToArray(), testImages);
        report.Add(new Figure("FD floor: training digits vs test digits", "FD", floor, floor, floor, 1));

        string dir = Path.Combine(root, "artifacts", "bench");
        Directory.CreateDirectory(dir);
        // Exchange files with the twin go to the temporary folder, not into artifacts/.
        string scratch = Path.Combine(Path.GetTempPath(), "generative-gan-bench");
        Directory.CreateDirectory(scratch);
        string trainFile = Path.Combine(scratch, "gan-train.f32");
        using (var file = File.Create(trainFile))
        using (var writer = new BinaryWriter(file))
            foreach (var d in train)
                foreach (var v in d.Features)
                    writer.Write(v);
        string script = Path.Combine(root, "test", "Microsoft.ML.Generative.Benchmarks", "gan_twin.py");

        // Throughput, interleaved: library, PyTorch, library, PyTorch, ... (first epoch of each run excluded).
        var ours = new List<double>();
        var theirs = new List<double>();
        var ratio = new List<double>();
        for (int r = 0; r < throughputRounds; r++)
        {
            var options = Anchor(3);
            using var model = ml.Generative().GenerativeAdversarialNetwork(options).Fit(data);
            double a = Median(model.TrainingHistory.Skip(1).Select(h => h.RowsPerSecond));
            var (rates, _) = RunTwin(script, trainFile, 3, Path.Combine(scratch, "gan-twin-throughput.f32"));
            double b = Median(rates.Skip(1));
            ours.Add(a);
            theirs.Add(b);
            ratio.Add(a / b);
            Console.WriteLine($"  round {r + 1}: library {a:F0} images/s, PyTorch {b:F0} images/s");
        }
        report.Add(Figure.Of("library training, images/s (median epoch)", "images/s", ours, ">= 8,000"));
        report.Add(Figure.Of("PyTorch twin training, images/s (median epoch)", "images/s", theirs));
        report.Add(Figure.Of("library / PyTorch", "ratio", ratio, ">= 1"));

        // Quality at equal budget.
        var twinSamples = Path.Combine(scratch, "gan-twin-samples.f32");
        var clock = Stopwatch.StartNew();
        var (twinRates, _) = RunTwin(script, trainFile, epochs, twinSamples);
        double twinSeconds = clock.Elapsed.TotalSeconds;
        var twinImages = ReadImages(twinSamples);
        double twinFd = classifier.FrechetDistance(testImages, twinImages);
        report.Add(new Figure($"PyTorch twin FD after {epochs} epochs", "FD", twinFd, twinFd, twinFd, 1, "68.4 after 100 epochs (issue)"));
        report.Note("twinSeconds", twinSeconds);

        var variants = new (string Name, Action<GenerativeAdversarialNetworkOptions> Configure)[]
        {
            ("library, anchor settings + generator EMA 0.999 (default)", _ => { }),
            ("library, + spectral normalization of D", o => o.SpectralNormalization = true),
            ("library, hinge loss", o => o.Loss = AdversarialLoss.Hinge),
        };
        var table = new List<object>();
        foreach (var (name, configure) in variants)
        {
            var options = Anchor(epochs);
            configure(options);
            clock.Restart();
            using var model = ml.Generative().GenerativeAdversarialNetwork(options).Fit(data);
            double seconds = clock.Elapsed.TotalSeconds;
            var averaged = model.Sample(Samples, seed: 7).GetColumn<float[]>("Features").ToArray();
            double fdAveraged = classifier.FrechetDistance(testImages, averaged);
            double fdRaw = classifier.FrechetDistance(testImages, RawGeneratorSamples(model, Samples, seed: 7));
            double rate = Median(model.TrainingHistory.Skip(1).Select(h => h.RowsPerSecond));
            report.Add(new Figure($"{name}: FD, EMA generator", "FD", fdAveraged, fdAveraged, fdAveraged, 1, "<= 68"));
            report.Add(new Figure($"{name}: FD, raw generator", "FD", fdRaw, fdRaw, fdRaw, 1));
            report.Add(new Figure($"{name}: images/s (median epoch)", "images/s", rate, rate, rate, 1));
            table.Add(new { name, fdAveraged, fdRaw, rate, seconds });
            if (name.Contains("default", StringComparison.Ordinal))
                WriteGrid(Path.Combine(dir, "gan-samples.png"), averaged.Take(64).ToArray());
        }
        WriteGrid(Path.Combine(dir, "gan-twin-samples.png"), twinImages.Take(64).ToArray());
        report.Note("epochs", epochs);
        report.Note("twinImagesPerSecondMedian", Median(twinRates.Skip(1)));
        report.Note("variants", table);
        report.Write(root);
    }

    /// <summary>Samples of the raw (not averaged) generator, in pixel units.</summary>
    private static float[][] RawGeneratorSamples(GenerativeAdversarialNetworkTransformer model, int count, int seed)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var generator = new Generator((ulong)seed);
        var z = randn(new long[] { count, model.LatentDimension }, generator: generator);
        var network = model.Network;
        var values = network.ToUnits(network.Generate(z, averaged: false)).data<float>().ToArray();
        return Enumerable.Range(0, count).Select(i => values.AsSpan(i * Digit.Pixels, Digit.Pixels).ToArray()).ToArray();
    }

    private static (List<double> Rates, string Output) RunTwin(string script, string trainFile, int epochs, string samples)
    {
        var start = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { script, trainFile, epochs.ToString(CultureInfo.InvariantCulture), samples, "1" })
            start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        string output = process.StandardOutput.ReadToEnd();
        string error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"gan_twin.py failed ({process.ExitCode}): {error}");
        var rates = new List<double>();
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            using var json = JsonDocument.Parse(line);
            rates.Add(json.RootElement.GetProperty("images").GetDouble() / json.RootElement.GetProperty("seconds").GetDouble());
        }
        return (rates, output);
    }

    private static float[][] ReadImages(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var values = new float[bytes.Length / sizeof(float)];
        Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
        return Enumerable.Range(0, values.Length / Digit.Pixels).Select(i => values.AsSpan(i * Digit.Pixels, Digit.Pixels).ToArray()).ToArray();
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        return sorted.Length == 0 ? double.NaN : sorted[sorted.Length / 2];
    }

    private static void WriteGrid(string path, float[][] images)
    {
        // The benchmark project has no imaging library: the 8-column grid is written as a binary PGM (P5).
        int columns = 8, rows = (images.Length + columns - 1) / columns, side = Digit.Side;
        var pixels = new byte[rows * side * columns * side];
        for (int k = 0; k < images.Length; k++)
            for (int y = 0; y < side; y++)
                for (int x = 0; x < side; x++)
                    pixels[((k / columns) * side + y) * columns * side + (k % columns) * side + x] = (byte)(255 - Math.Clamp(images[k][y * side + x], 0f, 1f) * 255);
        using var file = File.Create(Path.ChangeExtension(path, ".pgm"));
        var header = System.Text.Encoding.ASCII.GetBytes($"P5\n{columns * side} {rows * side}\n255\n");
        file.Write(header);
        file.Write(pixels);
    }
}
