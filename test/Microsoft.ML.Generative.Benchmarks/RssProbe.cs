using System;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Benchmarks;

/// <summary>Where does resident memory go during training? Runs the raw VAE loop in variants and prints RSS per epoch.</summary>
internal static class RssProbe
{
    public static int Run(string dir, string variant, int epochs)
    {
        var bytes = System.IO.File.ReadAllBytes(System.IO.Path.Combine(dir, "train.u8"));
        var flat = bytes.Select(b => b / 255f).ToArray();
        using var data = tensor(flat, new long[] { flat.Length / 784, 784 });
        manual_seed(1);
        using var enc = nn.Linear(784, 400);
        using var mu = nn.Linear(400, 20);
        using var logVar = nn.Linear(400, 20);
        using var dec1 = nn.Linear(20, 400);
        using var dec2 = nn.Linear(400, 784);
        var parameters = new[] { enc, mu, logVar, dec1, dec2 }.SelectMany(m => m.parameters()).ToList();
        using optim.Optimizer opt = variant.Contains("sgd") ? optim.SGD(parameters, 1e-3) : optim.Adam(parameters, 1e-3);
        using var generator = new Generator(1);
        long n = data.shape[0];
        Console.WriteLine($"{variant}: start rss {Measure.MemoryMiB().Rss:F0} MiB live {DisposeScopeManager.Statistics.ThreadTotalLiveCount}");
        for (int e = 0; e < epochs; e++)
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            using (var order = randperm(n, generator: generator))
            for (long start = 0; start < n; start += 128)
            {
                using var scope = NewDisposeScope();
                var x = data.index_select(0, order.narrow(0, start, Math.Min(128, n - start)));
                var h = nn.functional.relu(enc.forward(x));
                var m = mu.forward(h);
                var lv = logVar.forward(h);
                var z = m + (lv * 0.5).exp() * randn_like(m);
                var logits = dec2.forward(nn.functional.relu(dec1.forward(z)));
                var rec = nn.functional.binary_cross_entropy_with_logits(logits, x, reduction: nn.Reduction.Sum);
                var kl = -0.5 * (1 + lv - m.pow(2) - lv.exp()).sum();
                var loss = (rec + kl) / x.shape[0];
                if (variant.Contains("zero_"))
                {
                    foreach (var p in parameters) { using var g = p.grad; g?.zero_(); }
                }
                else
                {
                    opt.zero_grad();
                }
                loss.backward();
                if (!variant.Contains("nostep"))
                    opt.step();
            }
            if (variant.Contains("gc"))
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
            Console.WriteLine($"{variant}: epoch {e + 1} rss {Measure.MemoryMiB().Rss:F0} MiB, live {DisposeScopeManager.Statistics.ThreadTotalLiveCount}, {n / clock.Elapsed.TotalSeconds:F0} rows/s, gen0 {GC.CollectionCount(0)} gen2 {GC.CollectionCount(2)}");
        }
        return 0;
    }
}
