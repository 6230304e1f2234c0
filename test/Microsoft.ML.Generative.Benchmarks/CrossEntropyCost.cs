using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using Microsoft.ML.Generative.Autoregressive;
using Microsoft.ML.Generative.Losses;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Benchmarks;

/// <summary>
/// What the exact next-token cross-entropy (non-negative terms: (m − ℓ_y) + log1p(Σ_{v≠argmax} e^(ℓ_v − m)), issue 14)
/// costs against libtorch's fused cross_entropy, forward + backward at the autoregressive benchmark's shapes, and
/// against a whole GRU / Transformer training step of that benchmark (forward + backward of the network and the
/// loss). Interleaved rounds; the median per-step time of each.
/// </summary>
internal static class CrossEntropyCost
{
    public static void Run(string root, int rounds)
    {
        var report = new Report("cross-entropy");
        foreach (var (kind, batch, time, vocabulary) in new[]
        {
            (SequenceArchitecture.Gru, 64, 16, 30), (SequenceArchitecture.Transformer, 64, 16, 30), (SequenceArchitecture.Transformer, 32, 64, 2048),
        })
        {
            var options = AutoregressiveSuite.Options(kind, time, 1);
            using var network = SequenceNetwork.Create(new SequenceNetworkArchitecture(kind, vocabulary, options.EmbeddingDimension,
                options.HiddenSize, options.NumberOfLayers, options.NumberOfHeads, time, 0, false));
            var generator = new Generator(1);
            using var tokens = randint(vocabulary, new long[] { batch, time }, generator: generator);
            using var targets = randint(vocabulary, new long[] { batch, time }, generator: generator);
            using var logitsLeaf = randn(new long[] { batch * time, vocabulary }, generator: generator).mul_(4).requires_grad_(true);
            using var flatTargets = targets.reshape(-1);
            using var ignored = zeros(batch * time, dtype: ScalarType.Bool);

            double Time(Action step, int steps)
            {
                step();
                var watch = Stopwatch.StartNew();
                for (int i = 0; i < steps; i++)
                {
                    using var scope = NewDisposeScope();
                    step();
                }
                return watch.Elapsed.TotalMilliseconds * 1000 / steps;
            }
            void Fused() => nn.functional.cross_entropy(logitsLeaf, flatTargets, reduction: nn.Reduction.Sum).backward();
            void Exact() => SequenceLosses.PerTokenNll(logitsLeaf, flatTargets, ignored, 0).sum().backward();
            void Network() => network.forward(tokens).sum().backward();

            var fused = new List<double>();
            var exact = new List<double>();
            var step = new List<double>();
            for (int r = 0; r < rounds; r++)
            {
                fused.Add(Time(Fused, 300));
                exact.Add(Time(Exact, 300));
                step.Add(Time(Network, 30));
            }
            string shape = $"{kind} [{batch}×{time}, V {vocabulary}]";
            report.Add(Figure.Of($"{shape}: fused cross_entropy fwd+bwd", "µs", fused));
            report.Add(Figure.Of($"{shape}: exact form fwd+bwd", "µs", exact));
            report.Add(Figure.Of($"{shape}: network fwd+bwd (no loss)", "µs", step));
            var extra = exact.Zip(fused, (e, f) => e - f).ToList();
            report.Add(Figure.Of($"{shape}: extra cost / network step", "%", extra.Zip(step, (e, s) => 100 * e / s).ToList()));
        }
        report.Write(root);
    }
}
