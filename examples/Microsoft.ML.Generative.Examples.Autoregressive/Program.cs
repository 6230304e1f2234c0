// Microsoft.ML.Generative example: a character-level causal Transformer on the bundled first names.
//
// It shows the whole life of an autoregressive model in ML.NET: catalog -> Fit (vocabulary learned from the data, live
// per-epoch validation NLL) -> Generate new names at two temperatures -> Transform (log-likelihood, token count and
// perplexity per name) -> the least likely test names -> save as a standard ML.NET .zip -> load in a fresh MLContext
// -> check the scores are identical. Pictures (loss.png, next-token.png) go to the output folder.
//
//   dotnet run -c Release --project examples/Microsoft.ML.Generative.Examples.Autoregressive [-- --epochs 8 --out artifacts/examples/autoregressive]
using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Generative;
using Microsoft.ML.Generative.Autoregressive;
using Microsoft.ML.Generative.Training;
using Spectre.Console;

int epochs = 8;
string outDir = Path.Combine("artifacts", "examples", "autoregressive");
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
// 8,422 English first names (lower-cased), shuffled with a fixed seed and split 90/10.
var names = File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "data", "first-names.txt"));
var random = new Random(1);
names = names.OrderBy(_ => random.Next()).ToArray();
int testCount = names.Length / 10;
var test = names.Take(testCount).Select(n => new NameRow { Name = n }).ToArray();
var train = names.Skip(testCount).Select(n => new NameRow { Name = n }).ToArray();
IDataView trainData = ml.Data.LoadFromEnumerable(train);
IDataView testData = ml.Data.LoadFromEnumerable(test);
AnsiConsole.MarkupLine($"[bold]Character Transformer on first names[/]: {train.Length} training, {test.Length} test names.");

// A 2-block pre-LN Transformer, d = 64, 4 heads, MLP 256, context 16 characters (the longest name has 15), dropout 0.1.
var options = new AutoregressiveModelOptions
{
    InputColumnName = "Name",
    Tokenization = Tokenization.Characters,
    Architecture = SequenceArchitecture.Transformer,
    EmbeddingDimension = 64,
    HiddenSize = 256,
    NumberOfLayers = 2,
    NumberOfHeads = 4,
    ContextLength = 16,
    Dropout = 0.1,
    NumberOfEpochs = epochs,
    BatchSize = 64,
    LearningRate = 3e-3,
    WarmupSteps = 50,
    Optimizer = GenerativeOptimizer.Muon,   // Muon for the blocks' matrices, AdamW for the rest (README)
};

AutoregressiveModelTransformer model = null!;
var clock = Stopwatch.StartNew();
options.Progress = new Callback<EpochSummary>(e =>
{
    double nll = e.ValidationLosses!["Nll"];
    AnsiConsole.MarkupLine($"epoch {e.Epoch,2}/{e.NumberOfEpochs}: train NLL {e.TrainingLosses["Nll"]:F3}  test NLL [bold]{nll:F3}[/] nats/char " +
        $"(perplexity {Math.Exp(nll):F2}, {nll / Math.Log(2):F2} bits/char)  {e.RowsPerSecond,6:F0} names/s");
});
// The test names are passed as validation data only to report their NLL after each epoch.
model = ml.Generative().AutoregressiveModel(options).Fit(trainData, testData);
AnsiConsole.MarkupLine($"Trained in {clock.Elapsed.TotalSeconds:F1} s: {model.ParameterCount:N0} weights, vocabulary of {model.VocabularySize} tokens " +
    $"({string.Concat(model.Tokens)} + start/end + unknown).");

foreach (double temperature in new[] { 0.5, 1.0 })
{
    var generated = model.GenerateText(20, prompt: "", temperature: temperature, topP: 0.95, maxTokens: 20, seed: 7);
    var known = generated.Count(g => names.Contains(g));
    AnsiConsole.MarkupLine($"20 new names at temperature {temperature} ({known} of them are in the data set):");
    AnsiConsole.WriteLine("  " + string.Join(", ", generated));
}
AnsiConsole.MarkupLine($"Completions of \"mar\": {string.Join(", ", Enumerable.Range(0, 5).Select(s => model.Complete("mar", temperature: 0.8, seed: s)))}");

// Score the test names: LogLikelihood (nats, the end included), TokenCount (characters + 1), Perplexity per character.
var scored = ml.Data.CreateEnumerable<ScoredName>(model.Transform(testData), reuseRowObject: false).ToArray();
var table = new Table().AddColumns("rank", "name", "log-likelihood (nats)", "perplexity per char");
foreach (var (row, rank) in scored.OrderBy(r => r.LogLikelihood).Take(10).Select((r, i) => (r, i + 1)))
    table.AddRow($"{rank}", row.Name, $"{row.LogLikelihood:F1}", $"{row.Perplexity:F1}");
AnsiConsole.MarkupLine($"The 10 least likely test names (median log-likelihood {scored.Select(r => r.LogLikelihood).OrderBy(v => v).ElementAt(scored.Length / 2):F1} nats):");
AnsiConsole.Write(table);

Plots.WriteLossCurve(Path.Combine(outDir, "loss.png"), model.TrainingHistory);
Plots.WriteNextTokenHeatMap(Path.Combine(outDir, "next-token.png"), model, "mariana");

// Save as a standard ML.NET model and load it back in a fresh MLContext.
string zip = Path.Combine(outDir, "names-transformer.zip");
ml.Model.Save(model, trainData.Schema, zip);
var fresh = new MLContext(seed: 2);
var loaded = (AutoregressiveModelTransformer)fresh.Model.Load(zip, out _);
var reloaded = fresh.Data.CreateEnumerable<ScoredName>(loaded.Transform(fresh.Data.LoadFromEnumerable(test)), reuseRowObject: false).ToArray();
bool identical = scored.Zip(reloaded).All(p => p.First.LogLikelihood == p.Second.LogLikelihood)
    && model.GenerateText(5, seed: 3).SequenceEqual(loaded.GenerateText(5, seed: 3));
AnsiConsole.MarkupLine($"Saved {zip} ({new FileInfo(zip).Length / 1024} KiB); reloaded scores and generations are {(identical ? "[green]identical[/]" : "[red]DIFFERENT[/]")}.");
AnsiConsole.MarkupLine($"Pictures: {Path.Combine(outDir, "loss.png")}, {Path.Combine(outDir, "next-token.png")}");
return identical ? 0 : 1;

/// <summary>One name.</summary>
public sealed class NameRow
{
    public string Name { get; set; } = "";
}

/// <summary>A test name with the model's scores.</summary>
public sealed class ScoredName
{
    public string Name { get; set; } = "";
    public float LogLikelihood { get; set; }
    public float TokenCount { get; set; }
    public float Perplexity { get; set; }
}

/// <summary>Reports synchronously on the training thread (System.Progress would post to the thread pool).</summary>
public sealed class Callback<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
