// Microsoft.ML.Generative example: synthetic copies of a real table with the TabularSynthesizer.
//
// The bundled Palmer penguins (344 rows: species, island, sex as text; four measurements, some missing) are split
// 70/30. Catalog -> Fit on the training rows (TVAE) -> Sample as many rows -> print real and synthetic rows side by
// side -> quality against the real rows (ml.Generative().Evaluate: per-column KS/TV, correlation distance, detection
// AUC, distance to closest record vs the held-out rows), machine-learning efficacy (a FastTree classifier of Species
// trained on synthetic rows, tested on the real held-out rows, vs one trained on the real rows) -> a conditional
// sample (Species = Gentoo) -> save as a standard ML.NET .zip, load in a fresh MLContext, check the samples are
// identical. Pictures go to the output folder: marginals.png (per-column histograms, real vs synthetic) and
// correlations.png (real and synthetic correlation heat maps and their difference).
//
// With --model ctgan the same steps run with CTGAN (the GAN family with the conditional vector, training-by-sampling,
// PacGAN and WGAN-GP) instead of TVAE.
//
//   dotnet run -c Release --project examples/Microsoft.ML.Generative.Examples.Tabular [-- --model tvae|ctgan --epochs 1000 --out artifacts/examples/tabular]
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Generative;
using Microsoft.ML.Generative.Examples.Tabular;
using Microsoft.ML.Generative.Tabular;

int? epochs = null;
var model = TabularModel.Tvae;
string outDir = Path.Combine("artifacts", "examples", "tabular");
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--epochs" when i + 1 < args.Length: epochs = int.Parse(args[++i]); break;
        case "--out" when i + 1 < args.Length: outDir = args[++i]; break;
        case "--model" when i + 1 < args.Length && Enum.TryParse<TabularModel>(args[i + 1], ignoreCase: true, out var m): model = m; i++; break;
        default:
            Console.Error.WriteLine($"Unknown argument '{args[i]}'. Usage: [--model tvae|ctgan] [--epochs N] [--out DIR]");
            return 2;
    }
}
Directory.CreateDirectory(outDir);

var ml = new MLContext(seed: 1);
var penguins = ml.Data.Cache(BundledTables.Penguins(ml, Path.Combine(AppContext.BaseDirectory, "data")));
var split = ml.Data.TrainTestSplit(penguins, testFraction: 0.3, seed: 1);
var train = ml.Data.Cache(split.TrainSet);
var test = ml.Data.Cache(split.TestSet);
int trainRows = train.GetColumn<ReadOnlyMemory<char>>("Species").Count();
Console.WriteLine($"Palmer penguins: {trainRows} training rows, {test.GetColumn<ReadOnlyMemory<char>>("Species").Count()} held out; columns "
    + string.Join(", ", penguins.Schema.Select(c => $"{c.Name} ({c.Type})")) + ".");

// TVAE (the VAE family with per-column likelihoods) or CTGAN (the GAN family) with the documented defaults; progress
// goes to MLContext.Log.
var options = new TabularSynthesizerOptions { Model = model };
if (epochs is int e)
    options.NumberOfEpochs = e;
int lastPrinted = 0;
options.Progress = new Progress<Microsoft.ML.Generative.Training.EpochSummary>(s =>
{
    if (s.Epoch == s.NumberOfEpochs || s.Epoch - lastPrinted >= Math.Max(1, s.NumberOfEpochs / 5))
    {
        lastPrinted = s.Epoch;
        Console.WriteLine(model == TabularModel.Tvae
            ? $"  epoch {s.Epoch,4}/{s.NumberOfEpochs}: negative ELBO {s.TrainingLosses["Loss"],8:F3} nats/row, elapsed {s.Elapsed.TotalSeconds:F1} s"
            : $"  epoch {s.Epoch,4}/{s.NumberOfEpochs}: critic loss {s.TrainingLosses["Loss"],8:F3}, generator loss {s.TrainingLosses["GeneratorLoss"],8:F3}, elapsed {s.Elapsed.TotalSeconds:F1} s");
    }
});
var clock = Stopwatch.StartNew();
TabularSynthesizerTransformer synthesizer = ml.Generative().TabularSynthesizer(options).Fit(train);
Console.WriteLine($"Fitted in {clock.Elapsed.TotalSeconds:F1} s. Modes per continuous column: "
    + string.Join(", ", synthesizer.ModeCounts.Select(p => $"{p.Key} {p.Value}")) + ".");

IDataView synthetic = ml.Data.Cache(synthesizer.Sample(trainRows, seed: 7));

// Real and synthetic rows side by side.
static List<string> Show(IDataView data, int n)
    => TabularMetrics.RowKeys(data).Take(n).Select(r => string.Join("  ", r.Split('\u001f').Select(v => (v == "NaN" ? "–" : v).PadRight(9)))).ToList();
Console.WriteLine();
Console.WriteLine("  " + string.Join("  ", penguins.Schema.Select(c => c.Name.PadRight(9))) + "    |  synthetic");
foreach (var (real, fake) in Show(train, 8).Zip(Show(synthetic, 8)))
    Console.WriteLine($"  {real}  |  {fake}");

// Quality: the synthetic rows against the real training rows, and real held-out rows as the noise floor.
var featurizer = TabularMetrics.Featurizer(ml, train);
var metrics = TabularMetrics.Evaluate(ml, featurizer, train, synthetic, seed: 1);
var floor = TabularMetrics.Evaluate(ml, featurizer, train, test, seed: 1);
var privacy = TabularMetrics.Evaluate(ml, featurizer, test, synthetic, training: train, seed: 1);
Console.WriteLine();
Console.WriteLine(metrics);
Console.WriteLine($"Real held-out rows against the same training rows (what sampling noise alone gives): mean KS/TV {floor.MeanMarginalDistance:F3}, "
    + $"correlation distance {floor.CorrelationDistance:F3}, detection AUC {floor.DetectionAuc:F3}.");
Console.WriteLine($"Memorization (synthetic vs held-out real rows): {privacy.Memorization}.");
Console.WriteLine($"Exact copies of training rows: synthetic {TabularMetrics.ExactCopyRate(train, synthetic):P2}, held-out real {TabularMetrics.ExactCopyRate(train, test):P2}.");
var onReal = TabularMetrics.Efficacy(ml, train, test, train, "Species");
var onSynthetic = TabularMetrics.Efficacy(ml, synthetic, test, train, "Species");
Console.WriteLine($"Efficacy: a Species classifier trained on synthetic rows scores {onSynthetic.MicroAccuracy:P1} on the held-out penguins, "
    + $"one trained on the real rows {onReal.MicroAccuracy:P1} (ratio {onSynthetic.MicroAccuracy / onReal.MicroAccuracy:F2}).");
foreach (var path in metrics.SavePlots(outDir))
    Console.WriteLine($"  wrote {path}");

// A conditional sample: only Gentoo penguins (rejection sampling; every row has the asked value).
var gentoo = synthesizer.Sample(200, new Dictionary<string, object> { ["Species"] = "Gentoo" }, seed: 7);
var mass = gentoo.GetColumn<float>("BodyMass").Where(v => !float.IsNaN(v)).ToArray();
var realGentoo = train.GetColumn<ReadOnlyMemory<char>>("Species").Zip(train.GetColumn<float>("BodyMass"))
    .Where(p => p.First.ToString() == "Gentoo" && !float.IsNaN(p.Second)).Select(p => p.Second).ToArray();
Console.WriteLine();
Console.WriteLine($"Conditional sample, Species = Gentoo: {gentoo.GetColumn<ReadOnlyMemory<char>>("Species").Count(s => s.ToString() == "Gentoo")} of 200 rows are Gentoo; "
    + $"mean body mass {mass.Average():F0} g (real Gentoo {realGentoo.Average():F0} g, all real penguins {train.GetColumn<float>("BodyMass").Where(v => !float.IsNaN(v)).Average():F0} g).");

// Save, load in a fresh context, compare.
string zip = Path.Combine(outDir, "penguins-synthesizer.zip");
ml.Model.Save(synthesizer, train.Schema, zip);
var loaded = (TabularSynthesizerTransformer)new MLContext(seed: 2).Model.Load(zip, out _);
bool same = TabularMetrics.RowKeys(loaded.Sample(trainRows, seed: 7)).SequenceEqual(TabularMetrics.RowKeys(synthetic));
Console.WriteLine($"Saved {zip} ({new FileInfo(zip).Length / 1024} KiB); the reloaded synthesizer draws {(same ? "identical" : "DIFFERENT")} rows for the same seed.");
loaded.Dispose();
synthesizer.Dispose();
return same ? 0 : 1;
