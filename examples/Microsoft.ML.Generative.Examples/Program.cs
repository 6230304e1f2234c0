// Microsoft.ML.Generative example: a variational autoencoder on the bundled handwritten digits.
//
// It shows the whole life of a generative model in ML.NET: catalog -> Fit (with live progress and the test set's
// negative ELBO after every epoch) -> Transform (latent code, reconstruction, anomaly score per digit) -> Sample new
// digits -> evaluate the samples against the test digits (Microsoft.ML.Generative.Evaluation) -> save the model as a
// standard ML.NET .zip -> load it in a fresh MLContext -> check the scores are identical.
// Pictures (samples.png, reconstructions.png, anomalies.png, loss.png, evaluation/*.png) go to the output folder.
//
//   dotnet run -c Release --project examples/Microsoft.ML.Generative.Examples [-- --epochs 10 --out artifacts/examples/vae]
using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Generative;
using Microsoft.ML.Generative.Evaluation;
using Microsoft.ML.Generative.Examples;
using Microsoft.ML.Generative.Training;
using Microsoft.ML.Generative.Vae;
using Spectre.Console;

int epochs = 10;
string outDir = Path.Combine("artifacts", "examples", "vae");
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
AnsiConsole.MarkupLine($"[bold]Variational autoencoder on handwritten digits[/]: {train.Length} training, {test.Length} test digits (28×28, intensities in [[0, 1]]).");

// 784-400-20 with a Bernoulli likelihood, Adam 1e-3, batch 128: the classic configuration of Kingma and Welling.
var options = new VariationalAutoencoderOptions
{
    LatentDimension = 20,
    HiddenLayerSizes = new[] { 400 },
    Likelihood = VaeLikelihood.Bernoulli,
    NumberOfEpochs = epochs,
    BatchSize = 128,
    LearningRate = 1e-3,
};

VariationalAutoencoderTransformer model = null!;
var clock = Stopwatch.StartNew();
AnsiConsole.Progress()
    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
    .Start(ctx =>
    {
        var task = ctx.AddTask("Training", maxValue: epochs);
        options.Progress = new Callback<EpochSummary>(e =>
        {
            task.Increment(1);
            AnsiConsole.MarkupLine(
                $"epoch {e.Epoch,2}/{e.NumberOfEpochs}: train −ELBO {e.TrainingLoss,7:F2}  test −ELBO [bold]{e.ValidationLoss,7:F2}[/] nats/digit " +
                $"(reconstruction {e.ValidationLosses!["Reconstruction"],6:F2} + KL {e.ValidationLosses["Kl"],5:F2})  {e.RowsPerSecond,6:F0} digits/s");
        });
        // The test set is passed as validation data only to report its negative ELBO after each epoch.
        model = ml.Generative().VariationalAutoencoder(options).Fit(trainData, testData);
    });
double testElbo = model.TrainingHistory[^1].ValidationLoss!.Value;
AnsiConsole.MarkupLine($"Trained in {clock.Elapsed.TotalSeconds:F1} s. Test negative ELBO: [bold]{testElbo:F2}[/] nats per digit.");

// Score the test digits: Latent (20 floats), Reconstruction (784 probabilities), Score (negative ELBO, nats).
IDataView scored = model.Transform(testData);
var rows = ml.Data.CreateEnumerable<ScoredDigit>(scored, reuseRowObject: false).ToArray();

Images.WriteGrid(Path.Combine(outDir, "samples.png"),
    ml.Data.CreateEnumerable<Digit>(model.Sample(64, seed: 7), reuseRowObject: false, ignoreMissingColumns: true).Select(d => d.Features).ToList(), columns: 8);
Images.WriteGrid(Path.Combine(outDir, "reconstructions.png"),
    rows.Take(32).SelectMany(r => new[] { r.Features, r.Reconstruction }).ToList(), columns: 8);

Images.WriteLossCurve(Path.Combine(outDir, "loss.png"), model.TrainingHistory);

var anomalies = rows.OrderByDescending(r => r.Score).Take(10).ToArray();
Images.WriteGrid(Path.Combine(outDir, "anomalies.png"), anomalies.Select(r => r.Features).ToList(), columns: 10);
var table = new Table().AddColumns("rank", "label", "score (nats)");
for (int i = 0; i < anomalies.Length; i++)
    table.AddRow($"{i + 1}", $"{anomalies[i].Label}", $"{anomalies[i].Score:F1}");
AnsiConsole.MarkupLine($"The 10 most anomalous test digits (median score {rows.Select(r => r.Score).OrderBy(s => s).ElementAt(rows.Length / 2):F1}):");
AnsiConsole.Write(table);

// How close are the VAE's samples to real digits, and are they copies of training digits? 2,000 samples against the
// 2,000 held-out test digits, in pixel space (see docs/evaluation.md for what each number means). The samples are
// decoder means (pixel probabilities), smoother than real digits: expect high precision and detection AUC near 1.
clock.Restart();
GenerativeMetrics metrics = ml.Generative().Evaluate(real: testData, generated: model.Sample(test.Length, seed: 11), featureColumnName: "Features",
    options: new GenerativeEvaluationOptions { Training = trainData, Seed = 1, DetectionFolds = 3, DetectionMaxRows = 1000 });
AnsiConsole.MarkupLine($"[bold]Samples vs test digits[/] (evaluated in {clock.Elapsed.TotalSeconds:F1} s):");
Console.WriteLine(metrics);
var evaluationPlots = metrics.SavePlots(Path.Combine(outDir, "evaluation"));

// Save as a standard ML.NET model and load it back in a fresh MLContext.
string zip = Path.Combine(outDir, "vae.zip");
ml.Model.Save(model, trainData.Schema, zip);
var fresh = new MLContext(seed: 2);
ITransformer loaded = fresh.Model.Load(zip, out _);
var reloaded = fresh.Data.CreateEnumerable<ScoredDigit>(loaded.Transform(fresh.Data.LoadFromEnumerable(test)), reuseRowObject: false).ToArray();
bool identical = rows.Zip(reloaded).All(p => p.First.Score == p.Second.Score && p.First.Latent.SequenceEqual(p.Second.Latent));
AnsiConsole.MarkupLine($"Saved {zip} ({new FileInfo(zip).Length / 1024} KiB); reloaded scores are {(identical ? "[green]identical[/]" : "[red]DIFFERENT[/]")}.");
AnsiConsole.MarkupLine($"Pictures: {string.Join(", ", new[] { "samples.png", "reconstructions.png", "anomalies.png", "loss.png" }.Select(f => Path.Combine(outDir, f)).Concat(evaluationPlots))}");
return identical ? 0 : 1;

/// <summary>A test digit with the VAE's outputs.</summary>
public sealed class ScoredDigit
{
    [VectorType(Digit.Pixels)] public float[] Features { get; set; } = Array.Empty<float>();
    public float Label { get; set; }
    [VectorType(20)] public float[] Latent { get; set; } = Array.Empty<float>();
    [VectorType(Digit.Pixels)] public float[] Reconstruction { get; set; } = Array.Empty<float>();
    public float Score { get; set; }
}

/// <summary>Reports synchronously on the training thread (System.Progress would post to the thread pool).</summary>
public sealed class Callback<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
