// One rank of DistributedTests (launched with mpirun, or alone as the one-process reference).
// Usage: MpiWorker <scenario> <output prefix>
//   train    VAE, flow and GAN on fixed synthetic data with DistributedTraining = Auto; every rank writes
//            <prefix>.<family>.rank<r>.txt: each weight tensor (name, values) and the test rows' scores.
//   sharded  the flow on data split unevenly over the ranks (ShardedData = true); same output.
//   sharded-gan  unconditional and conditional GANs on sharded training and validation data; rank 0 writes
//            <prefix>.fd.txt: per model, the last epoch's validation Fréchet distance from the history and the one a fresh
//            objective computes in this one process over all validation rows for the trained weights.
//   empty    sharded VAE (ValidationFraction) and GAN (own validation shards): on 3 ranks the shards are [A, empty, B],
//            on 2 ranks [A, B]; same output as train (vae-empty, gan-empty), plus the GAN's validation Fréchet distance.
//   empty-ar the autoregressive model with rank 1's shard empty: the job must end with the error naming the rank.
//   fail     sharded, and the last rank's shard holds a NaN: every rank prints "caught on rank r: <message>" and exits 3.
//   cancel   the VAE; rank 0 cancels its token after epoch 1: every rank prints "caught on rank r: ..." and exits 3.
//   abort    the VAE, and rank 0's progress callback throws (only rank 0 sees it): the job must end, not hang.
// Data: rows from System.Random with fixed seeds, so every process makes the same rows.
using System;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Generative;
using Microsoft.ML.Generative.Autoregressive;
using Microsoft.ML.Generative.Flows;
using Microsoft.ML.Generative.Gan;
using Microsoft.ML.Generative.Training;
using Microsoft.ML.Generative.Vae;
using TorchSharp;

torch.set_num_threads(1);
string scenario = args[0], prefix = args[1];
int rank = DistributedEnvironment.Rank, size = DistributedEnvironment.Size;
var ml = new MLContext(seed: 1);

try
{
    switch (scenario)
    {
        case "train":
        {
            // 577 rows: the last global batch of 64 has one row, so ranks 1 and 2 train on a stand-in row with weight 0.
            var vaeTrain = Rows(577, 12, 11, unit: true);
            var vaeOptions = VaeOptions();
            vaeOptions.ValidationFraction = 0.2;
            vaeOptions.EarlyStoppingPatience = 1;
            vaeOptions.NumberOfEpochs = 4;
            var vaeModel = ml.Generative().VariationalAutoencoder(vaeOptions).Fit(Load(vaeTrain));
            Write("vae", vaeModel.Network, vaeModel.Transform(Load(Rows(100, 12, 12, unit: true))));

            var flowModel = ml.Generative().NormalizingFlow(FlowOptions()).Fit(Load(Rows(577, 2, 21, unit: false)));
            Write("flow", flowModel.Network, flowModel.Transform(Load(Rows(100, 2, 22, unit: false))));

            var gan = new GenerativeAdversarialNetworkOptions
            {
                LatentDimension = 4, GeneratorHiddenLayerSizes = new[] { 16 }, DiscriminatorHiddenLayerSizes = new[] { 16 },
                NumberOfEpochs = 2, BatchSize = 64, Seed = 5, DistributedTraining = DistributedTraining.Auto,
            };
            var ganModel = ml.Generative().GenerativeAdversarialNetwork(gan).Fit(Load(Rows(577, 2, 21, unit: false)));
            Write("gan", ganModel.Network, ganModel.Transform(Load(Rows(100, 2, 22, unit: false))), "DiscriminatorScore");

            // 203 names: windows do not divide evenly into the global batch of 16.
            var ar = ArOptions();
            var arModel = ml.Generative().AutoregressiveModel(ar).Fit(Texts(203, 31));
            Write("ar", arModel.Network, arModel.Transform(Texts(40, 32)), "LogLikelihood");
            Console.WriteLine($"rank {rank} of {size}: MPI library: {DistributedEnvironment.MpiLibraryVersion?.Split('\n')[0] ?? "none"}");
            break;
        }
        case "sharded":
        {
            var (start, count) = Shard(577, rank, size);
            var options = FlowOptions();
            options.ShardedData = true;
            var model = ml.Generative().NormalizingFlow(options).Fit(Load(Rows(577, 2, 21, unit: false).Skip(start).Take(count).ToArray()));
            Write("sharded", model.Network, model.Transform(Load(Rows(100, 2, 22, unit: false))));
            File.WriteAllText($"{prefix}.history.rank{rank}.txt", $"{model.TrainingHistory.Count} epochs, {model.TrainingHistory[0].Rows} rows in epoch 1");

            // The autoregressive vocabulary over all shards: only the last rank's shard holds the letters q and x.
            var texts = TextRows(203, 31).Skip(Shard(203, rank, size).Start).Take(Shard(203, rank, size).Count).ToList();
            if (rank == size - 1)
                texts[0] = new TextRow { Text = "qx" + texts[0].Text };
            var ar = ArOptions();
            ar.ShardedData = true;
            var arModel = ml.Generative().AutoregressiveModel(ar).Fit(ml.Data.LoadFromEnumerable(texts));
            Write("sharded-ar", arModel.Network, arModel.Transform(Texts(40, 32)), "LogLikelihood");
            if (rank == 0)
            {
                // The standardization one process would compute over all rows: mean and population standard deviation.
                var all = Rows(577, 2, 21, unit: false);
                var mean = Enumerable.Range(0, 2).Select(j => all.Average(r => (double)r[j])).ToArray();
                var std = Enumerable.Range(0, 2).Select(j => Math.Sqrt(all.Average(r => ((double)r[j] - mean[j]) * ((double)r[j] - mean[j])))).ToArray();
                File.WriteAllText($"{prefix}.expected.txt", $"@shift\t{Join(mean)}\n@scale\t{Join(std)}\n");
            }
            break;
        }
        case "sharded-gan":
        {
            // 1,100 validation rows in shards of 183, 367 and 550 (3 ranks); at most 1,030 of them are compared with
            // generated rows, so rank 2's last rows fall past the cap and the generated rows span three chunks of 512.
            var lines = new System.Collections.Generic.List<string>();
            foreach (bool conditional in new[] { false, true })
            {
                var train = ClassRows(577, 41);
                var validation = ClassRows(1100, 42);
                var options = new GenerativeAdversarialNetworkOptions
                {
                    LatentDimension = 4, GeneratorHiddenLayerSizes = new[] { 16 }, DiscriminatorHiddenLayerSizes = new[] { 16 },
                    NumberOfEpochs = 2, BatchSize = 64, Seed = 5, DistributedTraining = DistributedTraining.Auto, ShardedData = true,
                    MaximumValidationSamples = 1030, ConditionColumnName = conditional ? "Class" : null,
                };
                var trainShard = Shard(train.Length, rank, size);
                var validationShard = Shard(validation.Length, rank, size);
                var model = ml.Generative().GenerativeAdversarialNetwork(options).Fit(
                    ml.Data.LoadFromEnumerable(train.Skip(trainShard.Start).Take(trainShard.Count)),
                    ml.Data.LoadFromEnumerable(validation.Skip(validationShard.Start).Take(validationShard.Count)));
                double sharded = model.TrainingHistory[^1].ValidationLosses!["FrechetDistance"];
                // The one-process figure for the same weights over all validation rows ([x, one-hot class] rows).
                var network = (GanNetwork)model.Network;
                using var noise = new torch.Generator(0);
                using var objective = new GanObjective(network, options, noise, (ulong)options.Seed!.Value + 3);
                var all = validation.SelectMany(r => conditional ? r.Features.Concat(Enumerable.Range(0, 3).Select(k => k == r.Class ? 1f : 0f)) : r.Features).ToArray();
                using var tensor = torch.tensor(all).view(validation.Length, -1);
                using var source = new Microsoft.ML.Generative.Data.InMemoryBatchSource(tensor.alias(), conditionWidth: conditional ? 3 : 0);
                var host = ((Microsoft.ML.Runtime.IHostEnvironment)ml).Register("reference");
                double single = TrainingEngine.Evaluate(host, objective, source, options.BatchSize)[GanObjective.FrechetIndex];
                lines.Add($"{(conditional ? "conditional" : "unconditional")}\t{sharded.ToString("R", CultureInfo.InvariantCulture)} {single.ToString("R", CultureInfo.InvariantCulture)}");
            }
            File.WriteAllLines($"{prefix}.fd.rank{rank}.txt", lines);
            break;
        }
        case "empty":
        {
            // Rank 1 of 3 holds no rows: the run must equal the 2-rank run on the same two non-empty shards.
            bool empty = size == 3 && rank == 1;
            int part = size == 3 && rank == 2 ? 1 : rank;   // which of the two shards this rank holds
            var vaeRows = Rows(577, 12, 11, unit: true);
            var vaeShard = empty ? Array.Empty<float[]>() : part == 0 ? vaeRows.Take(200).ToArray() : vaeRows.Skip(200).ToArray();
            var vaeOptions = VaeOptions();
            vaeOptions.ShardedData = true;
            vaeOptions.ValidationFraction = 0.2;
            vaeOptions.EarlyStoppingPatience = 2;
            var vaeModel = ml.Generative().VariationalAutoencoder(vaeOptions).Fit(Load(vaeShard, 12));
            Write("vae-empty", vaeModel.Network, vaeModel.Transform(Load(Rows(100, 12, 12, unit: true))));

            var train = ClassRows(577, 41);
            var validation = ClassRows(700, 42);
            var gan = new GenerativeAdversarialNetworkOptions
            {
                LatentDimension = 4, GeneratorHiddenLayerSizes = new[] { 16 }, DiscriminatorHiddenLayerSizes = new[] { 16 },
                NumberOfEpochs = 2, BatchSize = 64, Seed = 5, DistributedTraining = DistributedTraining.Auto, ShardedData = true,
                ConditionColumnName = "Class",
            };
            ClassRow[] Part(ClassRow[] rows, int split) => empty ? Array.Empty<ClassRow>() : part == 0 ? rows.Take(split).ToArray() : rows.Skip(split).ToArray();
            var ganModel = ml.Generative().GenerativeAdversarialNetwork(gan).Fit(
                ml.Data.LoadFromEnumerable(Part(train, 250)), ml.Data.LoadFromEnumerable(Part(validation, 300)));
            Write("gan-empty", ganModel.Network, ganModel.Transform(ml.Data.LoadFromEnumerable(ClassRows(100, 43))), "DiscriminatorScore");
            File.AppendAllText($"{prefix}.gan-empty.rank{rank}.txt",
                $"@fd\t{string.Join(" ", ganModel.TrainingHistory.Select(h => h.ValidationLosses!["FrechetDistance"].ToString("R", CultureInfo.InvariantCulture)))}\n");
            break;
        }
        case "empty-ar":
        {
            var texts = TextRows(203, 31);
            var ar = ArOptions();
            ar.ShardedData = true;
            ml.Generative().AutoregressiveModel(ar).Fit(ml.Data.LoadFromEnumerable(rank == 1 ? Array.Empty<TextRow>() : texts));
            Console.WriteLine($"rank {rank}: trained (unexpected)");
            return 0;
        }
        case "fail":
        {
            var (start, count) = Shard(577, rank, size);
            var rows = Rows(577, 2, 21, unit: false).Skip(start).Take(count).ToArray();
            if (rank == size - 1)
                rows[count / 2][1] = float.NaN;
            var options = FlowOptions();
            options.ShardedData = true;
            ml.Generative().NormalizingFlow(options).Fit(Load(rows));
            Console.WriteLine($"rank {rank}: trained (unexpected)");
            return 0;
        }
        case "cancel":
        {
            // Rank 0 cancels its own token after epoch 1; every rank must stop with OperationCanceledException.
            using var cancellation = new System.Threading.CancellationTokenSource();
            var options = VaeOptions();
            options.NumberOfEpochs = 20;
            options.CancellationToken = cancellation.Token;
            options.Progress = new Progress(e => cancellation.Cancel());
            ml.Generative().VariationalAutoencoder(options).Fit(Load(Rows(577, 12, 11, unit: true)));
            Console.WriteLine($"rank {rank}: trained (unexpected)");
            return 0;
        }
        case "abort":
        {
            var options = VaeOptions();
            options.NumberOfEpochs = 20;
            options.Progress = new Progress(e =>
            {
                if (e.Epoch == 1)
                    throw new InvalidOperationException("progress callback failed on purpose");
            });
            ml.Generative().VariationalAutoencoder(options).Fit(Load(Rows(577, 12, 11, unit: true)));
            Console.WriteLine($"rank {rank}: trained (unexpected)");
            return 0;
        }
        default:
            throw new ArgumentException("unknown scenario " + scenario);
    }
}
catch (Exception e) when (scenario is "fail" or "cancel")
{
    // To its own file too: mpirun may interleave the ranks' standard output mid-line.
    string caught = $"caught on rank {rank}: {e.GetType().Name}: {e.Message}";
    File.WriteAllText($"{prefix}.caught.rank{rank}.txt", caught);
    Console.WriteLine(caught);
    return 3;
}
return 0;

VariationalAutoencoderOptions VaeOptions() => new()
{
    LatentDimension = 3, HiddenLayerSizes = new[] { 16 }, Activation = VaeActivation.Gelu, NumberOfEpochs = 3, BatchSize = 64,
    Seed = 3, DistributedTraining = DistributedTraining.Auto,
};

NormalizingFlowOptions FlowOptions() => new()
{
    Architecture = FlowArchitecture.RealNvp, NumberOfLayers = 4, HiddenLayerSizes = new[] { 16 }, NumberOfEpochs = 3, BatchSize = 64,
    Seed = 4, DistributedTraining = DistributedTraining.Auto,
};

IDataView Load(float[][] rows, int? width = null) => ml.Data.LoadFromEnumerable(rows.Select(r => new Row { Features = r }),
    Microsoft.ML.Data.SchemaDefinition.Create(typeof(Row)).Also(s => s[0].ColumnType = new Microsoft.ML.Data.VectorDataViewType(
        Microsoft.ML.Data.NumberDataViewType.Single, width ?? rows[0].Length)));

void Write(string family, torch.nn.Module network, IDataView scored, string scoreColumn = "Score")
{
    using var writer = new StreamWriter($"{prefix}.{family}.rank{rank}.txt");
    foreach (var (name, value) in network.state_dict())
    {
        if (value.dtype != torch.ScalarType.Float32 && value.dtype != torch.ScalarType.Float64)
            continue;
        using var flat = value.detach().to_type(torch.ScalarType.Float64).reshape(-1);
        writer.WriteLine(name + "\t" + string.Join(" ", flat.data<double>().ToArray().Select(v => v.ToString("R", CultureInfo.InvariantCulture))));
    }
    if (network is Microsoft.ML.Generative.Flows.FlowNetwork flow)
    {
        writer.WriteLine("@shift\t" + Join(flow.Shift));
        writer.WriteLine("@scale\t" + Join(flow.Scale));
    }
    writer.WriteLine("@scores\t" + string.Join(" ", scored.GetColumn<float>(scoreColumn).Select(v => v.ToString("R", CultureInfo.InvariantCulture))));
}

AutoregressiveModelOptions ArOptions() => new()
{
    InputColumnName = "Text", Architecture = SequenceArchitecture.Gru, EmbeddingDimension = 8, HiddenSize = 16,
    NumberOfLayers = 1, ContextLength = 16, NumberOfEpochs = 2, BatchSize = 16, Seed = 6, DistributedTraining = DistributedTraining.Auto,
};

IDataView Texts(int n, int seed) => ml.Data.LoadFromEnumerable(TextRows(n, seed));

static TextRow[] TextRows(int n, int seed)
{
    var random = new Random(seed);
    string[] syllables = { "ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo" };
    return Enumerable.Range(0, n).Select(_ => new TextRow
    {
        Text = string.Concat(Enumerable.Range(0, 1 + random.Next(4)).Select(_ => syllables[random.Next(syllables.Length)])),
    }).ToArray();
}

static string Join(System.Collections.Generic.IEnumerable<double> values)
    => string.Join(" ", values.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));

static (int Start, int Count) Shard(int rows, int rank, int size)
{
    // Uneven on purpose: rank r's share grows with r (weights 1, 2, 3, …).
    int weights = size * (size + 1) / 2;
    int start = rows * (rank * (rank + 1) / 2) / weights, end = rows * ((rank + 1) * (rank + 2) / 2) / weights;
    return (start, end - start);
}

// Two features whose mean depends on the class (0, 1, 2).
static ClassRow[] ClassRows(int n, int seed)
{
    var random = new Random(seed);
    double Normal() => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
    return Enumerable.Range(0, n).Select(_ =>
    {
        uint k = (uint)random.Next(3);
        return new ClassRow { Class = k, Features = new[] { (float)(2.0 * k + Normal()), (float)(k - 1 + 0.5 * Normal()) } };
    }).ToArray();
}

static float[][] Rows(int n, int d, int seed, bool unit)
{
    var random = new Random(seed);
    double Normal() => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
    var mix = Enumerable.Range(0, d * 3).Select(_ => Normal()).ToArray();
    return Enumerable.Range(0, n).Select(_ =>
    {
        var z = new[] { Normal(), Normal(), Normal() };
        return Enumerable.Range(0, d).Select(j =>
        {
            double v = mix[3 * j] * z[0] + mix[3 * j + 1] * z[1] * z[1] + mix[3 * j + 2] * z[2] + 0.1 * Normal();
            return (float)(unit ? 1 / (1 + Math.Exp(-v)) : v);
        }).ToArray();
    }).ToArray();
}

internal sealed class Row
{
    public float[] Features { get; set; } = Array.Empty<float>();
}

internal sealed class ClassRow
{
    [VectorType(2)]
    public float[] Features { get; set; } = Array.Empty<float>();

    /// <summary>0 … 2 (LoadFromEnumerable reads a key field 0-based: raw keys 1 … 3).</summary>
    [KeyType(3)]
    public uint Class { get; set; }
}

internal sealed class TextRow
{
    public string Text { get; set; } = "";
}

internal sealed class Progress(Action<EpochSummary> report) : IProgress<EpochSummary>
{
    public void Report(EpochSummary value) => report(value);
}

internal static class Extensions
{
    public static T Also<T>(this T value, Action<T> action)
    {
        action(value);
        return value;
    }
}
