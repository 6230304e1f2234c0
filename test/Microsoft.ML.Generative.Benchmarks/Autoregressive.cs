using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Generative.Autoregressive;
using Microsoft.ML.Generative.Training;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Benchmarks;

/// <summary>
/// The issue's anchor: a character model of 63,875 lowercase English words (Debian wamerican, bundled), 90/10 split,
/// 64 words per step, GRU (embedding 32, hidden 128) and a 2-block pre-LN Transformer (d = 64, 4 heads, MLP 256).
/// Our estimator's Fit and a PyTorch twin (pytorch/autoregressive_twin.py, when /usr/bin/python3 has torch) are run
/// interleaved with the same data, sizes, schedule and number of steps; reported: test NLL per character (end token
/// counted), training steps/s (ratio to PyTorch), and generation tokens/s with and without the KV cache.
/// </summary>
internal static class AutoregressiveSuite
{
    private sealed class Word
    {
        public string Text { get; set; } = "";
    }

    public static void Run(string root, int epochs, int repeats, string architectures = "gru,transformer", Action<AutoregressiveModelOptions>? variant = null, string? variantName = null)
    {
        var report = new Report(variantName is null ? "autoregressive" : "autoregressive-" + variantName);
        string path = Path.Combine(AppContext.BaseDirectory, "data", "english-words.txt.gz");
        string[] words;
        using (var gz = new GZipStream(File.OpenRead(path), CompressionMode.Decompress))
        using (var reader = new StreamReader(gz))
            words = reader.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var random = new Random(42);
        words = words.OrderBy(_ => random.Next()).ToArray();
        int testCount = words.Length / 10;
        var test = words.Take(testCount).ToArray();
        var train = words.Skip(testCount).ToArray();
        int context = words.Max(w => w.Length) + 1;
        int steps = epochs * ((train.Length + 63) / 64);
        Console.WriteLine($"autoregressive: {words.Length} words ({train.Length} train / {test.Length} test), context {context}, " +
                          $"{epochs} epochs = {steps} steps of 64, torch threads {get_num_threads()}");
        string splitDir = Path.Combine(root, "artifacts", "bench", "words");
        Directory.CreateDirectory(splitDir);
        File.WriteAllLines(Path.Combine(splitDir, "train.txt"), train);
        File.WriteAllLines(Path.Combine(splitDir, "test.txt"), test);
        report.Note("data", $"Debian wamerican 2020.12.07-2, {words.Length} words matching ^[a-z]+$, shuffled with seed 42, {train.Length}/{test.Length}");
        report.Note("steps", steps);

        string? python = variant is null ? TorchPython() : null;   // variants: our side only
        report.Note("pytorch", python is null ? "not available (/usr/bin/python3 cannot import torch)" : python);
        string twin = Path.Combine(root, "test", "Microsoft.ML.Generative.Benchmarks", "pytorch", "autoregressive_twin.py");

        var ml = new MLContext(seed: 1);
        var trainData = ml.Data.LoadFromEnumerable(train.Select(w => new Word { Text = w }));
        var testData = ml.Data.LoadFromEnumerable(test.Select(w => new Word { Text = w }));
        var kinds = new[] { SequenceArchitecture.Gru, SequenceArchitecture.Transformer }
            .Where(k => architectures.Split(',').Contains(k.ToString(), StringComparer.OrdinalIgnoreCase)).ToArray();
        foreach (var kind in kinds)
        {
            string name = kind == SequenceArchitecture.Gru ? "GRU emb 32 hid 128" : "Transformer 2×(d 64, 4 heads, MLP 256)";
            var ours = new List<double>();
            var oursNll = new List<double>();
            var theirs = new List<double>();
            var theirsNll = new List<double>();
            var ratios = new List<double>();
            AutoregressiveModelTransformer? last = null;
            for (int r = 0; r < repeats; r++)
            {
                last?.Dispose();
                var options = Options(kind, context, epochs);
                if (variant is null && kind == SequenceArchitecture.Transformer)
                    MuonRecipe(options);
                variant?.Invoke(options);
                var clock = Stopwatch.StartNew();
                last = ml.Generative().AutoregressiveModel(options).Fit(trainData, testData);
                clock.Stop();
                double trainSeconds = last.TrainingHistory.Sum(h => h.Duration.TotalSeconds);
                double stepsPerSecond = steps / trainSeconds;
                ours.Add(stepsPerSecond);
                oursNll.Add(last.TrainingHistory[^1].ValidationLosses!["Nll"]);
                Console.WriteLine($"  ours  {name}: {stepsPerSecond:F1} steps/s, test NLL {oursNll[^1]:F4} (Fit {clock.Elapsed.TotalSeconds:F0} s)");
                if (python is not null)
                {
                    var (sps, nll) = RunTwin(python, twin, kind, splitDir, context, epochs);
                    theirs.Add(sps);
                    theirsNll.Add(nll);
                    ratios.Add(stepsPerSecond / sps);
                    Console.WriteLine($"  torch {name}: {sps:F1} steps/s, test NLL {nll:F4}");
                }
            }
            string key = kind == SequenceArchitecture.Gru ? "gru" : "transformer";
            report.Add(Figure.Of($"{key}: test NLL (nats/char, end counted)", "nats", oursNll, kind == SequenceArchitecture.Gru ? "≤ 1.88" : "≤ 1.92"));
            report.Add(Figure.Of($"{key}: training steps/s (ours)", "steps/s", ours));
            if (theirs.Count > 0)
            {
                report.Add(Figure.Of($"{key}: test NLL, PyTorch twin", "nats", theirsNll));
                report.Add(Figure.Of($"{key}: training steps/s, PyTorch twin", "steps/s", theirs));
                report.Add(Figure.Of($"{key}: steps/s ratio ours / PyTorch (interleaved)", "×", ratios, "≥ 1.25"));
            }
            report.Note($"{key}.parameters", last!.ParameterCount);
            last.Dispose();
        }
        if (variant is null && kinds.Contains(SequenceArchitecture.Transformer))
            Generation(report, repeats);
        report.Write(root);
    }

    /// <summary>
    /// Training variants of the anchor's models, our side only (`autoregressive-variants name[,name…] [epochs]`), each
    /// trained once on the same split: what moves the test NLL at the anchor's budget.
    /// </summary>
    public static void Variants(string root, string names, int epochs, string architectures)
    {
        var all = new Dictionary<string, Action<AutoregressiveModelOptions>>
        {
            ["default"] = _ => { },
            ["lr1e-2"] = o => o.LearningRate = 1e-2,
            ["lr5e-3"] = o => o.LearningRate = 5e-3,
            ["wd0"] = o => o.WeightDecay = 0,
            ["wd0.1"] = o => o.WeightDecay = 0.1,
            ["minlr0"] = o => o.MinimumLearningRateFraction = 0,
            ["tie"] = o => o.TieWeights = true,
            ["constant"] = o => { o.LearningRateSchedule = LearningRateSchedule.Constant; o.WarmupSteps = 0; },
            ["noclip"] = o => o.GradientClipNorm = 0,
            ["beta2-0.99"] = o => o.Beta2 = 0.99,
            ["lr5e-3-beta2-0.99"] = o => { o.LearningRate = 5e-3; o.Beta2 = 0.99; },
            ["lr1e-2-beta2-0.99"] = o => { o.LearningRate = 1e-2; o.Beta2 = 0.99; },
            ["lr2e-2"] = o => o.LearningRate = 2e-2,
            ["lr1e-2-tie"] = o => { o.LearningRate = 1e-2; o.TieWeights = true; },
            ["lr1e-2-wd0.1"] = o => { o.LearningRate = 1e-2; o.WeightDecay = 0.1; },
            ["lr1e-2-tie-beta2-0.99"] = o => { o.LearningRate = 1e-2; o.TieWeights = true; o.Beta2 = 0.99; },
            ["lr7e-3-tie"] = o => { o.LearningRate = 7e-3; o.TieWeights = true; },
            ["lr1e-2-tie-wd0.1"] = o => { o.LearningRate = 1e-2; o.TieWeights = true; o.WeightDecay = 0.1; },
            ["lr1e-2-tie-minlr0"] = o => { o.LearningRate = 1e-2; o.TieWeights = true; o.MinimumLearningRateFraction = 0; },
            ["lr1e-2-tie-warmup300"] = o => { o.LearningRate = 1e-2; o.TieWeights = true; o.WarmupSteps = 300; },
            ["lr1e-2-tie-seed2"] = o => { o.LearningRate = 1e-2; o.TieWeights = true; o.Seed = 2; },
            ["default-seed2"] = o => o.Seed = 2,
            ["lr1e-2-tie-beta2-0.99-minlr0"] = o => { o.LearningRate = 1e-2; o.TieWeights = true; o.Beta2 = 0.99; o.MinimumLearningRateFraction = 0; },
            ["lr1e-2-tie-beta2-0.99-minlr0-seed2"] = o => { o.LearningRate = 1e-2; o.TieWeights = true; o.Beta2 = 0.99; o.MinimumLearningRateFraction = 0; o.Seed = 2; },
            ["lr1e-2-tie-beta2-0.99-noclip"] = o => { o.LearningRate = 1e-2; o.TieWeights = true; o.Beta2 = 0.99; o.GradientClipNorm = 0; },
            ["best-wd0"] = o => { o.LearningRate = 1e-2; o.TieWeights = true; o.Beta2 = 0.99; o.MinimumLearningRateFraction = 0; o.WeightDecay = 0; },
            ["best-lr1.5e-2"] = o => { o.LearningRate = 1.5e-2; o.TieWeights = true; o.Beta2 = 0.99; o.MinimumLearningRateFraction = 0; },
            ["best-warmup50"] = o => { o.LearningRate = 1e-2; o.TieWeights = true; o.Beta2 = 0.99; o.MinimumLearningRateFraction = 0; o.WarmupSteps = 50; },
            ["best-seed3"] = o => { o.LearningRate = 1e-2; o.TieWeights = true; o.Beta2 = 0.99; o.MinimumLearningRateFraction = 0; o.Seed = 3; },
            // Muon for the blocks' matrices (AdamW for the rest, at the rate above).
            ["muon"] = o => o.Optimizer = GenerativeOptimizer.Muon,
            ["best-muon"] = o => { o.LearningRate = 1e-2; o.TieWeights = true; o.Beta2 = 0.99; o.MinimumLearningRateFraction = 0; o.Optimizer = GenerativeOptimizer.Muon; },
            ["best-muon-0.01"] = o => { o.LearningRate = 1e-2; o.TieWeights = true; o.Beta2 = 0.99; o.MinimumLearningRateFraction = 0; o.Optimizer = GenerativeOptimizer.Muon; o.MuonLearningRate = 0.01; },
            ["best-muon-0.01-seed2"] = o => { o.LearningRate = 1e-2; o.TieWeights = true; o.Beta2 = 0.99; o.MinimumLearningRateFraction = 0; o.Optimizer = GenerativeOptimizer.Muon; o.MuonLearningRate = 0.01; o.Seed = 2; },
            ["best-muon-0.005"] = o => { o.LearningRate = 1e-2; o.TieWeights = true; o.Beta2 = 0.99; o.MinimumLearningRateFraction = 0; o.Optimizer = GenerativeOptimizer.Muon; o.MuonLearningRate = 0.005; },
        };
        foreach (var name in names.Split(','))
        {
            if (!all.TryGetValue(name, out var variant))
                throw new ArgumentException($"Unknown variant '{name}'; variants: {string.Join(", ", all.Keys)}.");
            Console.WriteLine($"variant {name}:");
            Run(root, epochs, 1, architectures, variant, name);
        }
    }

    /// <summary>
    /// The suite's Transformer recipe (stop 10): Muon at 0.01 for the blocks' matrices, AdamW 1e-2 (β₂ 0.99) for the
    /// rest, tied head, cosine to 0. The variants start from <see cref="Options"/> (AdamW 3e-3) instead. The twin is
    /// given the same recipe through <see cref="MuonRecipeForTwin"/>.
    /// </summary>
    private static void MuonRecipe(AutoregressiveModelOptions o)
    {
        o.Optimizer = GenerativeOptimizer.Muon;
        o.MuonLearningRate = 0.01;
        o.LearningRate = 1e-2;
        o.Beta2 = 0.99;
        o.TieWeights = true;
        o.MinimumLearningRateFraction = 0;
    }

    private static readonly (string Name, string Value)[] MuonRecipeForTwin =
        { ("OPT", "muon"), ("MUON_LR", "0.01"), ("LR", "1e-2"), ("BETA2", "0.99"), ("TIE", "1"), ("MINLR", "0") };

    internal static AutoregressiveModelOptions Options(SequenceArchitecture kind, int context, int epochs) => new()
    {
        InputColumnName = "Text",
        Architecture = kind,
        EmbeddingDimension = kind == SequenceArchitecture.Gru ? 32 : 64,
        HiddenSize = kind == SequenceArchitecture.Gru ? 128 : 256,
        NumberOfLayers = kind == SequenceArchitecture.Gru ? 1 : 2,
        NumberOfHeads = 4,
        ContextLength = context,
        NumberOfEpochs = epochs,
        BatchSize = 64,
        LearningRate = 3e-3,
        WarmupSteps = 100,
        Seed = 1,
    };

    /// <summary>Tokens/s of batched generation with and without the KV cache (a context-256 Transformer, same draws).</summary>
    private static void Generation(Report report, int repeats)
    {
        var ml = new MLContext(seed: 1);
        var rows = Enumerable.Range(0, 256).Select(i => new Word { Text = new string((char)('a' + i % 26), 1 + i % 200) }).ToArray();
        var options = Options(SequenceArchitecture.Transformer, 256, 1);
        options.BatchSize = 32;
        using var model = ml.Generative().AutoregressiveModel(options).Fit(ml.Data.LoadFromEnumerable(rows));
        var prompt = model.EncodePrompt("");
        // Warm-up of both paths (JIT, allocator, attention kernels): otherwise the first mode timed pays for it.
        model.GenerateIds(4, prompt, 1.0, 0, 1.0, 64, seed: 99, useCache: true);
        model.GenerateIds(4, prompt, 1.0, 0, 1.0, 64, seed: 99, useCache: false);
        foreach (int batch in new[] { 1, 32 })
        {
            var cached = new List<double>();
            var uncached = new List<double>();
            for (int r = 0; r < repeats; r++)
            {
                foreach (bool useCache in new[] { true, false })
                {
                    List<int>[] ids = null!;
                    double seconds = Measure.Seconds(() => ids = model.GenerateIds(batch, prompt, 1.0, 0, 1.0, 255, seed: r, useCache));
                    // Every row is advanced at every step until the last one ends: that is the work done.
                    long tokens = (long)batch * (ids.Max(s => s.Count) + 1);
                    (useCache ? cached : uncached).Add(tokens / seconds);
                }
            }
            report.Add(Figure.Of($"generation, batch {batch}, up to 255 tokens: KV cache", "tokens/s", cached));
            report.Add(Figure.Of($"generation, batch {batch}, up to 255 tokens: no cache", "tokens/s", uncached));
            report.Add(Figure.Of($"generation, batch {batch}: speed-up of the KV cache", "×", cached.Zip(uncached, (a, b) => a / b).ToList()));
        }
    }

    private static string? TorchPython()
    {
        try
        {
            var start = new ProcessStartInfo("/usr/bin/python3", "-c \"import torch; print(torch.__version__)\"") { RedirectStandardOutput = true, RedirectStandardError = true };
            using var p = Process.Start(start)!;
            string version = p.StandardOutput.ReadToEnd().Trim();
            p.WaitForExit();
            return p.ExitCode == 0 ? $"/usr/bin/python3, torch {version}" : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    private static (double StepsPerSecond, double TestNll) RunTwin(string python, string script, SequenceArchitecture kind, string dir, int context, int epochs)
    {
        var start = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { script, kind == SequenceArchitecture.Gru ? "gru" : "transformer", dir, context.ToString(CultureInfo.InvariantCulture),
                     epochs.ToString(CultureInfo.InvariantCulture), get_num_threads().ToString(CultureInfo.InvariantCulture) })
            start.ArgumentList.Add(a);
        if (kind == SequenceArchitecture.Transformer)
            foreach (var (name, value) in MuonRecipeForTwin)
                start.Environment[name] = value;
        using var p = Process.Start(start)!;
        string output = p.StandardOutput.ReadToEnd();
        string error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"PyTorch twin ({python}) failed: {error}");
        using var doc = JsonDocument.Parse(output.Trim().Split('\n')[^1]);
        return (doc.RootElement.GetProperty("steps_per_second").GetDouble(), doc.RootElement.GetProperty("test_nll").GetDouble());
    }
}
