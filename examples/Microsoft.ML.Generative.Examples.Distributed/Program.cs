// Data-parallel training on MPI: the bundled digits' VAE (784-400-20, Bernoulli, Adam 1e-3, global batch 128) trained
// by 2 processes that each compute the gradient of half of every batch, then the same model trained by one process,
// and the two compared.
//
//   dotnet run -c Release --project examples/Microsoft.ML.Generative.Examples.Distributed [-- ranks [epochs]]
//
// Started directly, the program launches itself under Open MPI's mpirun (the command it runs is printed: that is how
// you start your own trainer, e.g. `mpirun -np 8 --hostfile hosts dotnet Trainer.dll`), then trains the one-process
// reference in this process. Under mpirun every rank runs the same code: DistributedTraining.Auto turns distribution
// on, rank 0 logs and saves, and every rank returns the same model.
using System;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Generative;
using Microsoft.ML.Generative.Examples;
using Microsoft.ML.Generative.Vae;
using TorchSharp;

int ranks = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 2;
int epochs = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 3;
string output = Path.Combine(FindRoot(), "artifacts", "examples", "distributed");
Directory.CreateDirectory(output);

if (!DistributedEnvironment.IsLaunchedByMpi)
{
    string mpirun = new[] { "mpirun.openmpi", "mpirun" }.Select(Find).FirstOrDefault(p => p is not null)
        ?? throw new InvalidOperationException("This example needs Open MPI's mpirun: apt-get install openmpi-bin.");
    // As root mpirun needs --allow-run-as-root; --oversubscribe allows more ranks than cores; traffic stays on loopback.
    var launch = new[] { "--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "-np", ranks.ToString(CultureInfo.InvariantCulture),
        "--mca", "btl", "self,vader,tcp", "--mca", "btl_tcp_if_include", "lo", "--mca", "oob_tcp_if_include", "lo",
        "dotnet", typeof(Digits).Assembly.Location, ranks.ToString(CultureInfo.InvariantCulture), epochs.ToString(CultureInfo.InvariantCulture) };
    Console.WriteLine($"$ {mpirun} {string.Join(' ', launch)}");
    var start = new ProcessStartInfo(mpirun);
    foreach (var a in launch) start.ArgumentList.Add(a);
    start.Environment["TERM"] = "dumb";
    var clock = Stopwatch.StartNew();
    using (var process = Process.Start(start)!)
    {
        process.WaitForExit();
        if (process.ExitCode != 0)
            return process.ExitCode;
    }
    var distributedTime = clock.Elapsed;

    Console.WriteLine($"\nThe same model in one process ({torch.get_num_threads()} threads):");
    clock.Restart();
    var (reference, _) = Train(epochs, DistributedTraining.Off);
    var oneProcessTime = clock.Elapsed;
    var distributed = File.ReadAllLines(Path.Combine(output, "scores.txt")).Select(l => float.Parse(l, CultureInfo.InvariantCulture)).ToArray();
    double worst = reference.Zip(distributed).Max(p => Math.Abs(p.First - p.Second) / Math.Max(1, Math.Abs(p.First)));
    Console.WriteLine($"\n{ranks} ranks: {distributedTime.TotalSeconds:F1} s (mpirun, start-up included); one process: {oneProcessTime.TotalSeconds:F1} s.");
    Console.WriteLine($"Test scores of the two models: mean {distributed.Average():F4} vs {reference.Average():F4} nats, largest relative difference {worst:G2} "
        + "(summation order only: the ranks add the same gradients in another order).");
    return 0;
}

// One rank of the job. One torch thread per rank: the ranks share this machine's cores.
torch.set_num_threads(Math.Max(1, Environment.ProcessorCount / DistributedEnvironment.Size));
var (scores, model) = Train(epochs, DistributedTraining.Auto);
if (DistributedEnvironment.IsRoot)
{
    File.WriteAllLines(Path.Combine(output, "scores.txt"), scores.Select(s => s.ToString("R", CultureInfo.InvariantCulture)));
    new MLContext().Model.Save(model, null, Path.Combine(output, "vae.zip"));   // saving happens on rank 0 only
    Console.WriteLine($"rank 0 of {DistributedEnvironment.Size} ({DistributedEnvironment.MpiLibraryVersion?.Split('\n')[0]}): saved {Path.Combine(output, "vae.zip")}");
}
return 0;

(float[] Scores, ITransformer Model) Train(int epochs, DistributedTraining mode)
{
    var ml = new MLContext(seed: 1);
    var (train, test) = Digits.Split(Digits.Load(Path.Combine(AppContext.BaseDirectory, "data", "mnist-digits.bin.gz")));
    var vae = ml.Generative().VariationalAutoencoder(new VariationalAutoencoderOptions
    {
        LatentDimension = 20, HiddenLayerSizes = new[] { 400 }, BatchSize = 128, NumberOfEpochs = epochs, Seed = 1, DistributedTraining = mode,
        Progress = new EpochPrinter(),   // called on rank 0 only
    });
    var model = vae.Fit(ml.Data.LoadFromEnumerable(train));
    var scores = model.Transform(ml.Data.LoadFromEnumerable(test)).GetColumn<float>("Score").ToArray();
    if (DistributedEnvironment.IsRoot)
        Console.WriteLine($"  test negative ELBO: {scores.Average():F2} nats per digit");
    return (scores, model);
}

static string? Find(string program) => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
    .Select(d => Path.Combine(d, program)).FirstOrDefault(File.Exists);

static string FindRoot()
{
    var dir = new DirectoryInfo(Directory.GetCurrentDirectory());
    while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Generative.sln")))
        dir = dir.Parent;
    return dir?.FullName ?? Directory.GetCurrentDirectory();
}

internal sealed class EpochPrinter : IProgress<Microsoft.ML.Generative.Training.EpochSummary>
{
    public void Report(Microsoft.ML.Generative.Training.EpochSummary value) => Console.WriteLine("  " + value);
}
