// Microsoft.ML.Generative example: a generative adversarial network on the bundled handwritten digits.
//
// Catalog -> Fit (the test digits as validation data: the Fréchet distance between generated and test digits is
// printed after every epoch, with the discriminator and generator losses) -> Sample new digits -> save the model as
// a standard ML.NET .zip -> load it in a fresh MLContext -> check the samples are identical. Training is
// deterministic, so a run of k epochs is exactly the first k epochs of a longer run: that is how the snapshots at a
// few epochs are made. Pictures go to the output folder: samples-epoch-NNN.png (64 samples at each snapshot),
// progress.png (the same 10 noise vectors, one row per snapshot), losses.png (losses and FD per epoch).
//
//   dotnet run -c Release --project examples/Microsoft.ML.Generative.Examples.Gan [-- --epochs 30 --out artifacts/examples/gan]
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Generative;
using Microsoft.ML.Generative.Evaluation;
using Microsoft.ML.Generative.Examples;
using Microsoft.ML.Generative.Gan;
using Microsoft.ML.Generative.Losses;
using Microsoft.ML.Generative.Training;

int epochs = 30;
string outDir = Path.Combine("artifacts", "examples", "gan");
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--epochs" when i + 1 < args.Length: epochs = int.Parse(args[++i]); break;
        case "--out" when i + 1 < args.Length: outDir = args[++i]; break;
        default:
            Console.Error.WriteLine($"Unknown argument '{args[i]}'. Usage: [--epochs N] [--out DIR]");
            return 2;
    }
}
Directory.CreateDirectory(outDir);

var ml = new MLContext(seed: 1);
var (train, test) = Digits.Split(Digits.Load(Path.Combine(AppContext.BaseDirectory, "data", "mnist-digits.bin.gz")));
IDataView trainData = ml.Data.LoadFromEnumerable(train);
IDataView testData = ml.Data.LoadFromEnumerable(test);
Console.WriteLine($"GAN on handwritten digits: {train.Length} training, {test.Length} test digits (28×28, intensities in [0, 1]).");

// The classic MLP GAN: G 64-256-512-784, D 784-512-256-1, LeakyReLU 0.2, tanh output (the estimator maps each pixel's
// range to [−1, 1] and back), non-saturating loss, Adam 2e-4 (0.5, 0.999), batch 128; sampling from the EMA generator.
GenerativeAdversarialNetworkOptions Options(int n) => new()
{
    LatentDimension = 64,
    GeneratorHiddenLayerSizes = new[] { 256, 512 },
    DiscriminatorHiddenLayerSizes = new[] { 512, 256 },
    Loss = AdversarialLoss.NonSaturating,
    NumberOfEpochs = n,
    BatchSize = 128,
};

// Snapshots: the same seed and settings, fewer epochs.
var snapshots = new[] { 1, 3, 10 }.Where(e => e < epochs).Append(epochs).ToArray();
var noise = new Random(3);
float[][] codes = Enumerable.Range(0, 10).Select(_ => Enumerable.Range(0, 64).Select(_ => (float)Gauss(noise)).ToArray()).ToArray();
var strip = new List<float[]>();
GenerativeAdversarialNetworkTransformer model = null!;
var clock = Stopwatch.StartNew();
foreach (int n in snapshots)
{
    var options = Options(n);
    bool last = n == epochs;
    if (last)
    {
        options.Progress = new Callback<EpochSummary>(e => Console.WriteLine(
            $"  epoch {e.Epoch,3}/{e.NumberOfEpochs}: D loss {e.TrainingLoss:F3}, G loss {e.TrainingLosses["GeneratorLoss"]:F3}, "
            + $"D(real) {e.TrainingLosses["RealScore"]:F2}, D(fake) {e.TrainingLosses["FakeScore"]:F2}, "
            + $"FD to test digits (pixel space) {e.ValidationLosses!["FrechetDistance"]:F2}, {e.RowsPerSecond:F0} digits/s"));
        Console.WriteLine($"Training for {n} epochs (snapshots at {string.Join(", ", snapshots.SkipLast(1))} were trained the same way):");
    }
    var estimator = ml.Generative().GenerativeAdversarialNetwork(options);
    var fitted = last ? estimator.Fit(trainData, testData) : estimator.Fit(trainData);
    var grid = fitted.Sample(64, seed: 7).GetColumn<float[]>("Features").ToArray();
    Images.WriteGrid(Path.Combine(outDir, $"samples-epoch-{n:D3}.png"), grid, columns: 8);
    strip.AddRange(fitted.Generate(codes));
    if (last)
        model = fitted;
    else
        fitted.Dispose();
}
Images.WriteGrid(Path.Combine(outDir, "progress.png"), strip, columns: codes.Length);
Console.WriteLine($"Trained in {clock.Elapsed.TotalSeconds:F0} s (snapshots included).");

// Losses and the validation FD per epoch.
var history = model.TrainingHistory;
var plot = new ScottPlot.Plot();
double[] x = history.Select(h => (double)h.Epoch).ToArray();
plot.Add.Scatter(x, history.Select(h => h.TrainingLoss).ToArray()).LegendText = "discriminator loss";
plot.Add.Scatter(x, history.Select(h => h.TrainingLosses["GeneratorLoss"]).ToArray()).LegendText = "generator loss";
var fd = plot.Add.Scatter(x, history.Select(h => h.ValidationLosses!["FrechetDistance"]).ToArray());
fd.LegendText = "FD to test digits, pixels mapped to [−1, 1] (right axis)";
fd.Axes.YAxis = plot.Axes.Right;
plot.Axes.Right.Label.Text = "Fréchet distance";
plot.Title("GAN on handwritten digits");
plot.XLabel("epoch");
plot.YLabel("loss (nats per row)");
plot.ShowLegend(ScottPlot.Alignment.LowerLeft);
plot.SavePng(Path.Combine(outDir, "losses.png"), 720, 440);

// The same measure as the benchmark: FD in the hidden features of a small digit classifier.
using (var classifier = DigitClassifier.Train(train))
{
    var samples = model.Sample(2000, seed: 11).GetColumn<float[]>("Features").ToArray();
    double fdClassifier = classifier.FrechetDistance(test.Select(d => d.Features).ToArray(), samples);
    double floor = classifier.FrechetDistance(train.Select(d => d.Features).ToArray(), test.Select(d => d.Features).ToArray());
    Console.WriteLine($"FD of 2,000 samples to the test digits in a 784-256-10 classifier's features: {fdClassifier:F1} (training vs test digits: {floor:F1}).");
}

// The library's evaluation of 2,000 samples against the test digits, in pixel space (docs/evaluation.md).
var evaluation = ml.Generative().Evaluate(real: testData, generated: model.Sample(2000, seed: 13), featureColumnName: "Features",
    options: new GenerativeEvaluationOptions { Training = trainData, Seed = 1, DetectionFolds = 3, DetectionMaxRows = 1000 });
Console.WriteLine("Samples vs test digits:");
Console.WriteLine(evaluation);

// What the discriminator thinks of test digits and of samples (a realness logit; not a calibrated anomaly score).
var realScores = model.Transform(testData).GetColumn<float>("DiscriminatorScore").ToArray();
var fakeScores = model.Transform(model.Sample(2000, seed: 12)).GetColumn<float>("DiscriminatorScore").ToArray();
Console.WriteLine($"Mean DiscriminatorScore: test digits {realScores.Average():F2}, samples {fakeScores.Average():F2}.");

// Save, reload in a fresh context, compare.
string path = Path.Combine(outDir, "gan.zip");
ml.Model.Save(model, trainData.Schema, path);
var reloaded = (GenerativeAdversarialNetworkTransformer)new MLContext(seed: 2).Model.Load(path, out _);
var before = model.Sample(16, seed: 5).GetColumn<float[]>("Features").SelectMany(r => r).ToArray();
var after = reloaded.Sample(16, seed: 5).GetColumn<float[]>("Features").SelectMany(r => r).ToArray();
Console.WriteLine($"Saved {path} ({new FileInfo(path).Length / 1024} KiB); reloaded samples identical: {before.SequenceEqual(after)}.");
Console.WriteLine($"Pictures: {Path.GetFullPath(outDir)}");
return before.SequenceEqual(after) ? 0 : 1;

static double Gauss(Random r) => Math.Sqrt(-2 * Math.Log(1 - r.NextDouble())) * Math.Cos(2 * Math.PI * r.NextDouble());

internal sealed class Callback<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
