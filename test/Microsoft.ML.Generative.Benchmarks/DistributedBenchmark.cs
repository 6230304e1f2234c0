using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Autoregressive;
using Microsoft.ML.Generative.Distributed;
using Microsoft.ML.Generative.Flows;
using Microsoft.ML.Generative.Gan;
using Microsoft.ML.Generative.Vae;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Benchmarks;

/// <summary>
/// Data-parallel training's costs, measured, and the scaling model built from them (docs/distributed.md):
/// the time of one all-reduce of P float32 values (the flat gradient buffer) over shared memory and over TCP on
/// loopback, for 2 ranks (the machine's 2 cores); the compute time per training step of each family's default model at two batch
/// sizes (fixed cost f and cost per row c); and the projected throughput and efficiency on 1–64 machines at 10 and
/// 25 Gbit/s. Usage: <c>... -- distributed</c> (needs Open MPI's mpirun; the all-reduce side runs itself under it as
/// <c>allreduce-child</c>).
/// </summary>
internal static class DistributedBenchmark
{
    private static readonly long[] Sizes = { 1_000, 10_000, 100_000, 1_000_000, 4_000_000, 16_000_000 };

    /// <summary>Assumed one-way latency per message between machines (TCP over 10/25 GbE, kernel stack), seconds.</summary>
    private const double NetworkLatency = 30e-6;

    /// <summary>Assumed TCP goodput as a fraction of the link rate.</summary>
    private const double Goodput = 0.9;

    /// <summary>Runs under mpirun: times in-place all-reduces of float32 buffers; rank 0 prints one line per size.</summary>
    public static int AllReduceChild()
    {
        set_num_threads(1);
        var comm = DistributedEnvironment.World();
        foreach (long p in Sizes)
        {
            var buffer = new float[p];
            for (int w = 0; w < 3; w++)
                comm.AllReduce(buffer.AsSpan());
            var times = new List<double>();
            var budget = Stopwatch.StartNew();
            while (times.Count < 5 || (times.Count < 100 && budget.Elapsed.TotalSeconds < 0.3))
            {
                comm.Barrier();
                var clock = Stopwatch.StartNew();
                comm.AllReduce(buffer.AsSpan());
                times.Add(clock.Elapsed.TotalSeconds);
            }
            // Every rank's time counts: the slowest decides the step. Max over ranks of each rank's median.
            times.Sort();
            var median = new[] { times[times.Count / 2], times[0] };
            comm.AllReduce(median.AsSpan(), MpiOp.Max);
            if (comm.IsRoot)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"allreduce {p} {median[0]:R} {median[1]:R} {times.Count}"));
        }
        return 0;
    }

    public static void Run(string root)
    {
        var report = new Report("distributed");
        Console.WriteLine("== Compute per training step, default model of each family (one process) ==");
        var families = new List<(string Name, long Parameters, int DefaultBatch, double Fixed, double PerRow)>();
        foreach (var (name, batch, fit) in Families())
        {
            var (steps1, p) = fit(batch);
            var (steps4, _) = fit(4 * batch);
            // step(B) = f + c·B from the two batch sizes.
            double c = Math.Max(0, (steps4 - steps1) / (3.0 * batch));
            double f = Math.Max(0, steps1 - c * batch);
            report.Add(new Figure($"{name}: step at batch {batch}", "ms", steps1 * 1e3, steps1 * 1e3, steps1 * 1e3, 1));
            report.Add(new Figure($"{name}: step at batch {4 * batch}", "ms", steps4 * 1e3, steps4 * 1e3, steps4 * 1e3, 1));
            report.Note($"{name}.parameters", p);
            report.Note($"{name}.fixedSecondsPerStep", f);
            report.Note($"{name}.secondsPerRow", c);
            families.Add((name, p, batch, f, c));
            Console.WriteLine($"  {name}: {p:N0} parameters; f = {f * 1e3:F3} ms per step, c = {c * 1e6:F2} µs per row");
        }

        Console.WriteLine("== All-reduce of P float32 values (Open MPI, this machine) ==");
        string? mpirun = Find("mpirun.openmpi") ?? Find("mpirun");
        if (mpirun is null)
        {
            Console.WriteLine("  mpirun not found: install openmpi-bin to measure the all-reduce.");
            report.Write(root);
            return;
        }
        var measured = new Dictionary<(string Transport, int Ranks), List<(long P, double Seconds)>>();
        foreach (var (transport, btl) in new[] { ("shared memory", "self,vader"), ("TCP loopback", "self,tcp") })
        {
            // Two ranks: this machine has 2 cores, and more ranks than cores busy-poll each other to a standstill.
            foreach (int ranks in new[] { 2 })
            {
                var rows = RunChild(mpirun, ranks, btl);
                measured[(transport, ranks)] = rows;
                foreach (var (p, s) in rows)
                    report.Add(new Figure($"all-reduce {transport}, {ranks} ranks, P = {p:N0}", "ms", s * 1e3, s * 1e3, s * 1e3, 1));
            }
        }

        // A fit t = α + 4P/β of the 2-rank loopback figures (latency and effective bandwidth of this machine's stack).
        foreach (var key in measured.Keys.Where(k => k.Ranks == 2))
        {
            var (alpha, beta) = Fit(measured[key]);
            report.Note($"fit.{key.Transport}.latencySeconds", alpha);
            report.Note($"fit.{key.Transport}.bytesPerSecond", beta);
            Console.WriteLine($"  fit {key.Transport}, 2 ranks: α = {alpha * 1e6:F1} µs, β = {beta / 1e9:F2} GB/s");
        }
        // The machine's own memory-side cost of reducing (the shared-memory fit), added to the network's time.
        var (_, memoryBandwidth) = Fit(measured[("shared memory", 2)]);

        Console.WriteLine("== Projection: ring all-reduce, step(n) = f + c·B/n + A(P, n) ==");
        Console.WriteLine($"   A(P, n) = 2(n−1)·{NetworkLatency * 1e6:F0} µs + 2(n−1)/n · 4P · (1/({Goodput}·link) + 1/{memoryBandwidth / 1e9:F2} GB/s)");
        int[] machines = { 1, 2, 4, 8, 16, 32, 64 };
        foreach (double gbit in new[] { 10.0, 25.0 })
        {
            double link = gbit * 1e9 / 8 * Goodput;
            Console.WriteLine($"\n| family ({gbit:F0} Gbit/s), default batch | " + string.Join(" | ", machines.Select(n => $"n = {n}")) + " | batch for ≥ 80% at n = 8 / 16 / 64 |");
            Console.WriteLine("|---|" + string.Concat(machines.Select(_ => "---|")) + "---|");
            foreach (var fam in families)
            {
                double Allreduce(int n) => n == 1 ? 0 : 2 * (n - 1) * NetworkLatency + 2.0 * (n - 1) / n * 4 * fam.Parameters * (1 / link + 1 / memoryBandwidth);
                double Step(int n, double b) => fam.Fixed + fam.PerRow * b / n + Allreduce(n);
                double b0 = fam.DefaultBatch;
                var cells = machines.Select(n =>
                {
                    double throughput = b0 / Step(n, b0);
                    double efficiency = throughput / (n * b0 / Step(1, b0));
                    return $"{throughput:N0} rows/s ({efficiency:P0})";
                });
                var needed = new[] { 8, 16, 64 }.Select(n =>
                {
                    // f + cB ≥ 0.8·n·(f + cB/n + A)  ⇔  B ≥ ((0.8n − 1)·f + 0.8·n·A) / (0.2·c)
                    double b = ((0.8 * n - 1) * fam.Fixed + 0.8 * n * Allreduce(n)) / (0.2 * fam.PerRow);
                    report.Note($"{fam.Name}.batchFor80Percent.{gbit}Gbit.n{n}", Math.Ceiling(b));
                    return Math.Ceiling(b).ToString("N0", CultureInfo.InvariantCulture);
                });
                Console.WriteLine($"| {fam.Name} ({fam.Parameters:N0} params), {fam.DefaultBatch} | " + string.Join(" | ", cells) + $" | {string.Join(" / ", needed)} |");
            }
        }
        report.Note("assumptions", $"network latency {NetworkLatency * 1e6} µs per message, TCP goodput {Goodput} of the link rate, ring all-reduce");
        report.Write(root);
    }

    /// <summary>Each family's default model and default batch; the fit returns seconds per step (epoch 2) and parameters.</summary>
    private static IEnumerable<(string Name, int Batch, Func<int, (double Seconds, long Parameters)> Fit)> Families()
    {
        var ml = new MLContext(seed: 1);
        const int Steps = 20;
        IDataView Rows(int n, int d, bool unit)
        {
            var random = new Random(1);
            var rows = Enumerable.Range(0, n).Select(_ => new VectorRow
            {
                Features = Enumerable.Range(0, d).Select(_ => unit ? (float)random.NextDouble() : (float)(random.NextDouble() * 4 - 2)).ToArray(),
            });
            var schema = SchemaDefinition.Create(typeof(VectorRow));
            schema[0].ColumnType = new VectorDataViewType(NumberDataViewType.Single, d);
            return ml.Data.LoadFromEnumerable(rows, schema);
        }
        double SecondsPerStep(IReadOnlyList<Training.EpochSummary> history, int batch)
            => history[^1].Duration.TotalSeconds / Math.Ceiling(history[^1].Rows / (double)batch);

        yield return ("VAE 784-400-20", 128, b =>
        {
            var options = new VariationalAutoencoderOptions { NumberOfEpochs = 2, BatchSize = b, Seed = 1 };
            using var model = ml.Generative().VariationalAutoencoder(options).Fit(Rows(b * Steps, 784, unit: true));
            return (SecondsPerStep(model.TrainingHistory, b), Count(model.Network));
        });
        yield return ("Flow NeuralSpline 8×[128,128], D = 16", 128, b =>
        {
            var options = new NormalizingFlowOptions { NumberOfEpochs = 2, BatchSize = b, Seed = 1 };
            using var model = ml.Generative().NormalizingFlow(options).Fit(Rows(b * Steps, 16, unit: false));
            return (SecondsPerStep(model.TrainingHistory, b), Count(model.Network));
        });
        yield return ("GAN 64→256→512→784, 784→512→256→1", 128, b =>
        {
            var options = new GenerativeAdversarialNetworkOptions { NumberOfEpochs = 2, BatchSize = b, Seed = 1 };
            using var model = ml.Generative().GenerativeAdversarialNetwork(options).Fit(Rows(b * Steps, 784, unit: true));
            return (SecondsPerStep(model.TrainingHistory, b), Count(model.Network));
        });
        yield return ("Autoregressive Transformer (2×256, context 64)", 64, b =>
        {
            var random = new Random(2);
            // Texts of exactly 64 characters: one full window each, so that a step holds B × 64 tokens.
            var texts = Enumerable.Range(0, b * Steps).Select(_ => new TextRow
            {
                Text = new string(Enumerable.Range(0, 63).Select(_ => (char)('a' + random.Next(26))).ToArray()),
            }).ToArray();
            var options = new AutoregressiveModelOptions { NumberOfEpochs = 2, BatchSize = b, Seed = 1 };
            using var model = ml.Generative().AutoregressiveModel(options).Fit(ml.Data.LoadFromEnumerable(texts));
            return (SecondsPerStep(model.TrainingHistory, b), Count(model.Network));
        });
    }

    private static long Count(nn.Module module) => module.parameters().Sum(p => p.numel());

    private static List<(long P, double Seconds)> RunChild(string mpirun, int ranks, string btl)
    {
        var start = new ProcessStartInfo(mpirun) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "--allow-run-as-root", "--oversubscribe", "-np", ranks.ToString(CultureInfo.InvariantCulture), "--mca", "btl", btl,
                     "--mca", "btl_tcp_if_include", "lo", "--mca", "oob_tcp_if_include", "lo", "dotnet",
                     typeof(DistributedBenchmark).Assembly.Location, "allreduce-child" })
            start.ArgumentList.Add(a);
        start.Environment["TERM"] = "dumb";
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        var lines = process.StandardOutput.ReadToEnd().Split('\n');
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"mpirun failed ({process.ExitCode}): {error.Result}");
        return lines.Where(l => l.StartsWith("allreduce ", StringComparison.Ordinal)).Select(l => l.Split(' '))
            .Select(p => (long.Parse(p[1], CultureInfo.InvariantCulture), double.Parse(p[2], CultureInfo.InvariantCulture))).ToList();
    }

    /// <summary>t = α + 4P/β through the smallest and the largest buffer: α the latency floor, β the streaming rate.</summary>
    private static (double Alpha, double Beta) Fit(List<(long P, double Seconds)> rows)
    {
        var small = rows.MinBy(r => r.P);
        var large = rows.MaxBy(r => r.P);
        double beta = 4.0 * (large.P - small.P) / Math.Max(1e-12, large.Seconds - small.Seconds);
        return (Math.Max(0, small.Seconds - 4.0 * small.P / beta), beta);
    }

    private static string? Find(string program) => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
        .Select(d => Path.Combine(d, program)).FirstOrDefault(File.Exists);

    private sealed class VectorRow
    {
        public float[] Features { get; set; } = Array.Empty<float>();
    }

    private sealed class TextRow
    {
        public string Text { get; set; } = "";
    }
}
