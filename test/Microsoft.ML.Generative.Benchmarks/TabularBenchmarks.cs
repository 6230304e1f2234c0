using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Examples.Tabular;
using Microsoft.ML.Generative.Tabular;

namespace Microsoft.ML.Generative.Benchmarks;

/// <summary>
/// The tabular synthesizer's quality bars (issue 12) on two bundled real tables, for each model: per-column marginal
/// distance (KS / TV), correlation distance and detection AUC of synthetic vs real training rows (with the same
/// figures for real held-out rows as the noise floor), distance to closest record of synthetic vs held-out rows,
/// exact copies of training rows, machine-learning efficacy (train on synthetic, test on real held-out rows, as a
/// ratio to train-on-real), and fit time. Usage: <c>tabular [repeats (3)] [models (tvae)]</c>; writes
/// artifacts/bench/tabular.json.
/// </summary>
internal static class TabularBenchmarks
{
    private static TabularSynthesizerOptions Options(TabularModel model, int seed, int? epochs, int? batchSize, int? minimumSteps)
    {
        var options = new TabularSynthesizerOptions { Model = model, Seed = seed };
        if (epochs is int e) options.NumberOfEpochs = e;
        if (batchSize is int b) options.BatchSize = b;
        if (minimumSteps is int s) options.MinimumTrainingSteps = s;
        return options;
    }

    public static void Run(string root, int repeats, IReadOnlyList<TabularModel> models, int? epochs = null, int? batchSize = null, int? minimumSteps = null)
    {
        var report = new Report("tabular");
        string data = Path.Combine(AppContext.BaseDirectory, "data");
        var tables = new (string Name, Func<MLContext, IDataView> Load, string Label)[]
        {
            ("penguins", ml => BundledTables.Penguins(ml, data), "Species"),
            ("seattle-weather", ml => BundledTables.SeattleWeather(ml, data), "Weather"),
        };
        Console.WriteLine("Tabular synthesizer: quality on real tables (70/30 split per repeat; synthetic rows = training rows × 5 for fidelity).");
        foreach (var (tableName, load, label) in tables)
        {
            foreach (var model in models)
            {
                var figures = new Dictionary<string, List<double>>();
                void Add(string key, double v)
                {
                    if (!figures.TryGetValue(key, out var list))
                        figures[key] = list = new List<double>();
                    list.Add(v);
                }
                for (int repeat = 0; repeat < repeats; repeat++)
                {
                    var ml = new MLContext(seed: 100 + repeat);
                    var table = ml.Data.Cache(load(ml));
                    var split = ml.Data.TrainTestSplit(table, testFraction: 0.3, seed: 100 + repeat);
                    var train = ml.Data.Cache(split.TrainSet);
                    var test = ml.Data.Cache(split.TestSet);
                    int trainRows = train.GetColumn<float>(train.Schema.First(c => c.Type == NumberDataViewType.Single).Name).Count();

                    var clock = Stopwatch.StartNew();
                    using var synthesizer = ml.Generative().TabularSynthesizer(Options(model, repeat, epochs, batchSize, minimumSteps)).Fit(train);
                    double fitSeconds = clock.Elapsed.TotalSeconds;
                    var synthetic = ml.Data.Cache(synthesizer.Sample(5 * trainRows, seed: 1000 + repeat));
                    var syntheticSameSize = ml.Data.Cache(synthesizer.Sample(trainRows, seed: 2000 + repeat));

                    var featurizer = TabularMetrics.Featurizer(ml, train);
                    var fidelity = TabularMetrics.Evaluate(ml, featurizer, train, synthetic, seed: repeat);
                    var floor = TabularMetrics.Evaluate(ml, featurizer, train, test, seed: repeat);
                    var privacy = TabularMetrics.Evaluate(ml, featurizer, test, syntheticSameSize, training: train, seed: repeat);
                    var onReal = TabularMetrics.Efficacy(ml, train, test, train, label);
                    var onSynthetic = TabularMetrics.Efficacy(ml, syntheticSameSize, test, train, label);
                    double copies = TabularMetrics.ExactCopyRate(train, synthetic);
                    double chanceCopies = TabularMetrics.ExactCopyRate(train, test);

                    Add("fit", fitSeconds);
                    Add("ks", fidelity.MeanMarginalDistance);
                    Add("ksFloor", floor.MeanMarginalDistance);
                    Add("worst", fidelity.WorstMarginalDistance);
                    Add("corr", fidelity.CorrelationDistance);
                    Add("corrFloor", floor.CorrelationDistance);
                    Add("auc", fidelity.DetectionAuc);
                    Add("aucFloor", floor.DetectionAuc);
                    Add("dcr", privacy.Memorization!.DcrRatio);
                    Add("near", privacy.Memorization.NearCopyRate);
                    Add("nearHoldout", privacy.Memorization.HoldoutNearCopyRate);
                    Add("copies", copies);
                    Add("chanceCopies", chanceCopies);
                    Add("accReal", onReal.MicroAccuracy);
                    Add("accSynth", onSynthetic.MicroAccuracy);
                    Add("efficacy", onSynthetic.MicroAccuracy / onReal.MicroAccuracy);
                    Add("macroEfficacy", onSynthetic.MacroAccuracy / onReal.MacroAccuracy);
                    Console.WriteLine($"  [{tableName}, {model}, repeat {repeat + 1}] fit {fitSeconds:F1} s; mean KS/TV {fidelity.MeanMarginalDistance:F3} "
                        + $"(worst '{fidelity.FeatureNames[fidelity.WorstMarginalFeature]}' {fidelity.WorstMarginalDistance:F3}; real held-out {floor.MeanMarginalDistance:F3}); "
                        + $"corr {fidelity.CorrelationDistance:F3} (held-out {floor.CorrelationDistance:F3}); detection AUC {fidelity.DetectionAuc:F3} (held-out {floor.DetectionAuc:F3}); "
                        + $"DCR ratio {privacy.Memorization.DcrRatio:F2}; exact copies {copies:P2} (held-out real {chanceCopies:P2}); "
                        + $"accuracy on '{label}' synthetic {onSynthetic.MicroAccuracy:F3} vs real {onReal.MicroAccuracy:F3}");
                }
                string p = $"{tableName} {model}: ";
                report.Add(Figure.Of(p + "fit time (2 cores)", "s", figures["fit"]));
                report.Add(Figure.Of(p + "mean marginal distance KS/TV", "", figures["ks"], "≤ 0.12"));
                report.Add(Figure.Of(p + "  same, real held-out rows (floor)", "", figures["ksFloor"]));
                report.Add(Figure.Of(p + "worst marginal distance", "", figures["worst"]));
                report.Add(Figure.Of(p + "correlation distance (mean |Δr|)", "", figures["corr"]));
                report.Add(Figure.Of(p + "  same, real held-out rows (floor)", "", figures["corrFloor"]));
                report.Add(Figure.Of(p + "detection AUC", "", figures["auc"], "≤ 0.8"));
                report.Add(Figure.Of(p + "  same, real held-out rows (floor)", "", figures["aucFloor"]));
                report.Add(Figure.Of(p + "DCR ratio synthetic / held-out", "", figures["dcr"], "≈ 1, not ≪ 1"));
                report.Add(Figure.Of(p + "near copies (DCR ≤ 5% of held-out median)", "", figures["near"]));
                report.Add(Figure.Of(p + "  same, real held-out rows", "", figures["nearHoldout"]));
                report.Add(Figure.Of(p + "exact copies of training rows", "", figures["copies"], "≤ held-out rate"));
                report.Add(Figure.Of(p + "  same, real held-out rows (chance)", "", figures["chanceCopies"]));
                report.Add(Figure.Of(p + $"accuracy on '{label}', train on real", "", figures["accReal"]));
                report.Add(Figure.Of(p + $"accuracy on '{label}', train on synthetic", "", figures["accSynth"]));
                report.Add(Figure.Of(p + "efficacy (synthetic / real accuracy)", "", figures["efficacy"], "≥ 0.85"));
                report.Add(Figure.Of(p + "efficacy, macro accuracy", "", figures["macroEfficacy"]));
            }
        }
        report.Note("settings", $"epochs {epochs?.ToString() ?? "default"}, batch {batchSize?.ToString() ?? "default"}, minimum steps {minimumSteps?.ToString() ?? "default"}; models {string.Join(", ", models)}");
        report.Note("split", "70/30 train/held-out per repeat (ML.NET TrainTestSplit, seed 100 + repeat)");
        report.Note("defaults", "TabularSynthesizerOptions defaults: 300 epochs, batch 500, latent 128, at least 3,000 steps; TVAE hidden [128, 128], Adam 1e-3, L2 1e-5; "
            + "CTGAN generator [256, 256] residual, critic [256, 256], pac 10, Adam 2e-4 β (0.5, 0.9), L2 1e-6, WGAN-GP λ 10");
        report.Note("features", "Evaluate on one slot per column: numbers (NaN -> real training mean), texts as category index; StandardizeFeatures = true");
        report.Note("efficacy", "one-versus-all FastTree (50 trees, 10 leaves) on every other column; synthetic training set of the real training set's size");
        report.Write(root);
    }
}
