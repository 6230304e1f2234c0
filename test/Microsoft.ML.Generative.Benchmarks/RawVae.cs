using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Generative.Examples;
using Microsoft.ML.Generative.Vae;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Benchmarks;

/// <summary>
/// The baseline: the same 784-400-20 VAE written directly against TorchSharp, trained on data that is already one
/// tensor, with nothing of the library in the loop.
/// </summary>
internal static class RawVae
{
    public static Tensor ToTensor(Digit[] digits)
    {
        var flat = new float[digits.Length * Digit.Pixels];
        for (int i = 0; i < digits.Length; i++)
            digits[i].Features.CopyTo(flat, i * Digit.Pixels);
        return tensor(flat, new long[] { digits.Length, Digit.Pixels });
    }

    public static double TrainRowsPerSecond(Tensor data, int epochs, int batch)
    {
        manual_seed(1);
        using var enc = nn.Linear(784, 400);
        using var mu = nn.Linear(400, 20);
        using var logVar = nn.Linear(400, 20);
        using var dec1 = nn.Linear(20, 400);
        using var dec2 = nn.Linear(400, 784);
        var parameters = new[] { enc, mu, logVar, dec1, dec2 }.SelectMany(m => m.parameters()).ToList();
        using var adam = optim.Adam(parameters, 1e-3);
        using var generator = new Generator(1);
        long n = data.shape[0];
        double seconds = Benchmarks.Measure.Seconds(() =>
        {
            for (int e = 0; e < epochs; e++)
            {
                using var order = randperm(n, generator: generator);
                for (long start = 0; start < n; start += batch)
                {
                    using var scope = NewDisposeScope();
                    var x = data.index_select(0, order.narrow(0, start, Math.Min(batch, n - start)));
                    var h = nn.functional.relu(enc.forward(x));
                    var m = mu.forward(h);
                    var lv = logVar.forward(h);
                    var z = m + (lv * 0.5).exp() * randn_like(m);
                    var logits = dec2.forward(nn.functional.relu(dec1.forward(z)));
                    var rec = nn.functional.binary_cross_entropy_with_logits(logits, x, reduction: nn.Reduction.Sum);
                    var kl = -0.5 * (1 + lv - m.pow(2) - lv.exp()).sum();
                    var loss = (rec + kl) / x.shape[0];
                    adam.zero_grad();
                    loss.backward();
                    adam.step();
                }
            }
        });
        return n * (double)epochs / seconds;
    }

    /// <summary>Trains like <see cref="TrainRowsPerSecond"/>, then scores <paramref name="test"/> (negative ELBO at z = μ):
    /// median epoch rows/s, seconds spent in epochs, mean test score.</summary>
    public static (double EpochRowsPerSecond, double TrainSeconds, double TestScore) TrainAndScore(Tensor data, Digit[] test, int epochs, int batch)
    {
        manual_seed(1);
        using var enc = nn.Linear(784, 400);
        using var mu = nn.Linear(400, 20);
        using var logVar = nn.Linear(400, 20);
        using var dec1 = nn.Linear(20, 400);
        using var dec2 = nn.Linear(400, 784);
        var parameters = new[] { enc, mu, logVar, dec1, dec2 }.SelectMany(m => m.parameters()).ToList();
        using var adam = optim.Adam(parameters, 1e-3);
        using var generator = new Generator(1);
        long n = data.shape[0];
        var rates = new List<double>();
        double total = 0;
        for (int e = 0; e < epochs; e++)
        {
            double seconds = Benchmarks.Measure.Seconds(() =>
            {
                using var order = randperm(n, generator: generator);
                for (long start = 0; start < n; start += batch)
                {
                    using var scope = NewDisposeScope();
                    var x = data.index_select(0, order.narrow(0, start, Math.Min(batch, n - start)));
                    var h = nn.functional.relu(enc.forward(x));
                    var m = mu.forward(h);
                    var lv = logVar.forward(h);
                    var z = m + (lv * 0.5).exp() * randn_like(m);
                    var logits = dec2.forward(nn.functional.relu(dec1.forward(z)));
                    var rec = nn.functional.binary_cross_entropy_with_logits(logits, x, reduction: nn.Reduction.Sum);
                    var kl = -0.5 * (1 + lv - m.pow(2) - lv.exp()).sum();
                    var loss = (rec + kl) / x.shape[0];
                    adam.zero_grad();
                    loss.backward();
                    adam.step();
                }
            });
            total += seconds;
            rates.Add(n / seconds);
        }
        double score;
        using (var scope = NewDisposeScope())
        using (var inference = inference_mode())
        {
            var x = ToTensor(test);
            var h = nn.functional.relu(enc.forward(x));
            var m = mu.forward(h);
            var lv = logVar.forward(h);
            var logits = dec2.forward(nn.functional.relu(dec1.forward(m)));
            var s = nn.functional.binary_cross_entropy_with_logits(logits, x, reduction: nn.Reduction.None).sum(1)
                    + 0.5 * (lv.exp() + m.pow(2) - 1 - lv).sum(1);
            score = s.mean().item<float>();
        }
        rates.Sort();
        return (rates[rates.Count / 2], total, score);
    }

    /// <summary>Latent means and per-row scores of every row, in batches, straight on the trained network.</summary>
    public static void ScoreAll(VariationalAutoencoderTransformer model, Tensor data, int batch)
    {
        var net = model.Network;
        long n = data.shape[0];
        using var inference = inference_mode();
        for (long start = 0; start < n; start += batch)
        {
            using var scope = NewDisposeScope();
            var x = data.narrow(0, start, Math.Min(batch, n - start));
            var (m, lv) = net.Encode(x);
            var logits = net.Decode(m);
            var score = nn.functional.binary_cross_entropy_with_logits(logits, x, reduction: nn.Reduction.None).sum(1)
                        + 0.5 * (lv.exp() + m.pow(2) - 1 - lv).sum(1);
            m.data<float>().ToArray();
            score.data<float>().ToArray();
        }
    }
}
