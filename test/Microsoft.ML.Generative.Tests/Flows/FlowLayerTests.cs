using System;
using System.Linq;
using Microsoft.ML.Generative.Flows;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Tests.Flows;

/// <summary>
/// The shared bijector check, run on every layer type and on whole networks, in float64: inverse∘forward is the
/// identity, logdet(forward) + logdet(inverse) = 0, and the forward log-det equals log|det J| of a Jacobian built
/// column by column with autograd (D ≤ 6). Layers get random weights first, so that no log-det is trivially 0.
/// </summary>
[TestClass]
public sealed class FlowLayerTests
{
    private static readonly int[] Hidden = { 16, 16 };

    /// <summary>Rows of N(0, 2²), plus rows far beyond the spline tail bound (5) on either side.</summary>
    private static Tensor Inputs(int d, int rows = 12, long seed = 7)
    {
        using var generator = new Generator((ulong)seed);
        var x = randn(new long[] { rows, d }, dtype: ScalarType.Float64, generator: generator).mul_(2);
        using (no_grad())
        {
            x[0].fill_(8.0);
            x[1].fill_(-6.5);
            if (d > 1)
                x[2][0] = 30.0; // one coordinate out, the others in
        }
        return x;
    }

    private static T Randomized<T>(T module, double std = 0.4) where T : nn.Module
    {
        module.to(ScalarType.Float64);
        using var noGrad = no_grad();
        manual_seed(11);
        foreach (var p in module.parameters())
            p.normal_(0, std);
        return module;
    }

    /// <summary>The check every layer must pass.</summary>
    private static void CheckBijector(Func<Tensor, (Tensor, Tensor)> forward, Func<Tensor, (Tensor, Tensor)> inverse, Tensor x, string what)
    {
        int d = (int)x.shape[1];
        using var scope = NewDisposeScope();
        var (y, logDet) = forward(x);
        Assert.IsTrue(y.isfinite().all().item<bool>() && logDet.isfinite().all().item<bool>(), $"{what}: non-finite output");
        Assert.IsTrue(logDet.abs().max().item<double>() > 1e-3, $"{what}: the log-det is trivially 0; randomize the layer");
        var (back, inverseLogDet) = inverse(y);
        double roundTrip = (back - x).abs().max().item<double>();
        if (roundTrip >= 1e-4)
            Console.WriteLine($"{what}: per-row round-trip errors {string.Join(", ", (back - x).abs().amax(new long[] { 1 }).data<double>().ToArray())}; x = {string.Join(", ", x.data<double>().ToArray())}");
        Assert.IsTrue(roundTrip < 1e-4, $"{what}: |f⁻¹(f(x)) − x| = {roundTrip}");
        double sum = (logDet + inverseLogDet).abs().max().item<double>();
        Assert.IsTrue(sum < 1e-6, $"{what}: logdet(forward) + logdet(inverse) = {sum}");

        // log|det J| from autograd, column by column (J[b, j, :] = ∂y_j/∂x of row b; rows are independent).
        var xg = x.detach().clone().requires_grad_(true);
        var (yg, ldg) = forward(xg);
        // TorchSharp 0.107: autograd.grad on an output without a graph kills the process: check first.
        Assert.IsTrue(yg.requires_grad, $"{what}: the output has no graph");
        var rows = new Tensor[d];
        for (int j = 0; j < d; j++)
            rows[j] = torch.autograd.grad(new[] { yg.select(1, j).sum() }, new[] { xg }, retain_graph: true)[0];
        var jacobian = stack(rows, 1);                                                    // [B, D, D]
        var (_, logAbsDet) = linalg.slogdet(jacobian);
        double error = (logAbsDet - ldg).abs().max().item<double>();
        Assert.IsTrue(error < 1e-6, $"{what}: log-det differs from the autograd Jacobian's by {error}");
    }

    [TestMethod]
    public void AffineCouplingIsABijectorWithTheJacobianLogDet()
    {
        foreach (int d in new[] { 2, 3, 6 })
            foreach (int parity in new[] { 0, 1 })
            {
                var mask = Enumerable.Range(0, d).Select(j => (j + parity) % 2 == 0 ? 1f : 0f).ToArray();
                using var layer = Randomized(new AffineCoupling(d, mask, Hidden), std: 1.0);
                CheckBijector(layer.forward, layer.Inverse, Inputs(d), $"affine coupling D={d} parity {parity}");
            }
    }

    [TestMethod]
    public void MaskedAutoregressiveLayerIsABijectorWithASequentialInverse()
    {
        foreach (int d in new[] { 1, 2, 3, 6 })
            foreach (bool reversed in new[] { false, true })
            {
                using var layer = Randomized(new MaskedAutoregressive(d, Hidden, reversed));
                CheckBijector(layer.forward, layer.Inverse, Inputs(d), $"MAF D={d} reversed={reversed}");
            }
    }

    [TestMethod]
    public void MadeMasksAreAutoregressive()
    {
        // ∂z_i/∂x_j = 0 for every j after i in the layer's order: the Jacobian is triangular in that order.
        const int d = 5;
        foreach (bool reversed in new[] { false, true })
        {
            using var layer = Randomized(new MaskedAutoregressive(d, Hidden, reversed));
            using var scope = NewDisposeScope();
            var x = Inputs(d).requires_grad_(true);
            var (z, _) = layer.forward(x);
            for (int i = 0; i < d; i++)
            {
                var g = torch.autograd.grad(new[] { z.select(1, i).sum() }, new[] { x }, retain_graph: true)[0];
                var sums = g.abs().sum(new long[] { 0 }).data<double>().ToArray();
                for (int j = 0; j < d; j++)
                {
                    bool after = reversed ? j < i : j > i;
                    if (after)
                        Assert.AreEqual(0.0, sums[j], $"z_{i} depends on x_{j} (reversed={reversed})");
                }
                Assert.IsTrue(sums[i] > 0, $"z_{i} must depend on x_{i}");
            }
        }
    }

    [TestMethod]
    public void SplineCouplingIsABijectorWithTheJacobianLogDet()
    {
        foreach (int d in new[] { 2, 3, 5 })
            foreach (int parity in new[] { 0, 1 })
            {
                var mask = Enumerable.Range(0, d).Select(j => (j + parity) % 2 == 0 ? 1f : 0f).ToArray();
                using var layer = Randomized(new SplineCoupling(d, mask, Hidden, bins: 8, bound: 5.0), std: 0.8);
                CheckBijector(layer.forward, layer.Inverse, Inputs(d), $"spline coupling D={d} parity {parity}");
            }
    }

    [TestMethod]
    public void ElementwiseSplineIsABijectorForOneFeature()
    {
        foreach (int bins in new[] { 2, 8 })
        {
            using var layer = Randomized(new ElementwiseSpline(1, bins, 3.0), std: 1.0);
            CheckBijector(layer.forward, layer.Inverse, Inputs(1, rows: 40), $"elementwise spline K={bins}");
        }
    }

    [TestMethod]
    public void WholeNetworksAreBijectorsWithStandardizationInTheLogDet()
    {
        foreach (var architecture in Enum.GetValues<FlowArchitecture>())
            foreach (int d in new[] { 1, 2, 4 })
            {
                if (architecture == FlowArchitecture.RealNvp && d == 1)
                    continue;
                var shape = new FlowShape(d, architecture, 3, Hidden, 6, 4.0);
                var pre = new FlowPreprocessing(d, false, 1, 0, false, 0.05);
                var shift = Enumerable.Range(0, d).Select(j => 0.5 * j - 1).ToArray();
                var scale = Enumerable.Range(0, d).Select(j => 0.5 + j).ToArray();
                // Moderate weights: three stacked random splines with wild parameters are ill-conditioned (slopes from
                // 1e-3 to 1e3 multiply), and the round trip then measures that, not the code.
                using var network = Randomized(new FlowNetwork(shape, pre, shift, scale), std: 0.3);
                CheckBijector(x => network.forward(x), network.Inverse, Inputs(d), $"{architecture} network D={d}");
            }
    }

    [TestMethod]
    public void FreshLayersAreTheIdentity()
    {
        // Zero-initialized last layers: every layer, and so every freshly built flow, starts as the identity map.
        foreach (var architecture in Enum.GetValues<FlowArchitecture>())
        {
            int d = 3;
            var shape = new FlowShape(d, architecture, 4, Hidden, 8, 5.0);
            using var network = new FlowNetwork(shape, new FlowPreprocessing(d, false, 1, 0, false, 0.05), new double[d], new[] { 1.0, 1.0, 1.0 });
            using var scope = NewDisposeScope();
            var x = Inputs(d).to_type(ScalarType.Float32);
            var (z, logDet) = network.forward(x);
            Assert.IsTrue((z - x).abs().max().item<float>() < 1e-5f, $"{architecture}: not the identity");
            Assert.IsTrue(logDet.abs().max().item<float>() < 1e-4f, $"{architecture}: log-det {logDet.abs().max().item<float>()}");
        }
    }

    [TestMethod]
    public void SplineFarOutsideTheTailBoundHasFiniteValuesAndGradients()
    {
        // nflows #23/#25, sbi #373: evaluating the spline on out-of-domain points gives NaN gradients even when the
        // identity tail is selected afterwards. Inputs are clamped first here.
        const int d = 2;
        using var layer = Randomized(new SplineCoupling(d, new[] { 1f, 0f }, Hidden, 8, 3.0), std: 1.0);
        using var scope = NewDisposeScope();
        var x = tensor(new double[] { 0.3, 1e4, -0.7, -1e6, 1e4, 3.0, 2.0, -3.0, 5e30, 1.0 }, new long[] { 5, d }).requires_grad_(true);
        var (y, logDet) = layer.forward(x);
        Assert.IsTrue(y.isfinite().all().item<bool>() && logDet.isfinite().all().item<bool>());
        // Beyond the bound: the identity, log-det 0.
        Assert.AreEqual(1e4, y[0][1].item<double>(), 0.0);
        Assert.AreEqual(-1e6, y[1][1].item<double>(), 0.0);
        // Round trip on the rows whose conditioning feature is moderate (5e30 there makes the spline parameters extreme).
        var (back, _) = layer.Inverse(y.detach());
        Assert.IsTrue((back - x.detach()).narrow(0, 0, 4).abs().max().item<double>() < 1e-6);
        (y.sum() + logDet.sum()).backward();
        Assert.IsTrue(x.grad!.isfinite().all().item<bool>(), "input gradient is not finite");
        foreach (var p in layer.parameters())
            Assert.IsTrue(p.grad is null || p.grad.isfinite().all().item<bool>(), "weight gradient is not finite");
    }

    [TestMethod]
    public void SplineIsMonotoneAndContinuousAtTheBound()
    {
        using var layer = Randomized(new ElementwiseSpline(1, 8, 2.0), std: 1.5);
        using var scope = NewDisposeScope();
        var x = linspace(-3, 3, 6001, dtype: ScalarType.Float64).unsqueeze(1);
        var (y, _) = layer.forward(x);
        var values = y.squeeze(1).data<double>().ToArray();
        for (int i = 1; i < values.Length; i++)
            Assert.IsTrue(values[i] > values[i - 1], $"not increasing at {i}");
        // At ±B the spline meets the identity tails (value and slope 1).
        var edge = tensor(new[] { -2.0 - 1e-9, -2.0 + 1e-9, 2.0 - 1e-9, 2.0 + 1e-9 }, new long[] { 4, 1 });
        var e = layer.forward(edge).Y.squeeze(1).data<double>().ToArray();
        Assert.AreEqual(e[0], e[1], 1e-6);
        Assert.AreEqual(e[2], e[3], 1e-6);
    }

    [TestMethod]
    public void DeepAffineStackStaysFiniteWithLargeWeights()
    {
        // normflows #73: 32 unbounded affine couplings overflow. With the soft-clamped log-scale each layer scales by
        // at most e³, so 32 layers with wild weights still give finite outputs and |log-det| ≤ 32·3·D.
        const int d = 4;
        var shape = new FlowShape(d, FlowArchitecture.RealNvp, 32, Hidden, 8, 5.0);
        using var network = Randomized(new FlowNetwork(shape, new FlowPreprocessing(d, false, 1, 0, false, 0.05), new double[d], Enumerable.Repeat(1.0, d).ToArray()), std: 3.0);
        using var scope = NewDisposeScope();
        var x = Inputs(d, rows: 64).mul(5);
        var (z, logDet) = network.forward(x);
        Assert.IsTrue(logDet.isfinite().all().item<bool>());
        Assert.IsTrue(logDet.abs().max().item<double>() <= 32 * 3 * d + 1e-9);
        Assert.IsTrue(z.isfinite().all().item<bool>(), "z overflowed");
    }
}
