using System;
using System.Linq;
using Microsoft.ML.Generative.Training;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Tests;

[TestClass]
public sealed class FlatAdamTests
{
    private static nn.Module<Tensor, Tensor> Net(int seed)
    {
        manual_seed(seed);
        return nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3));
    }

    /// <summary>Trains two copies of one network for a few steps, one with TorchSharp's optimizer, one with FlatAdam.</summary>
    private static void CompareWithTorch(bool adamW, double weightDecay, double clip, bool matricesOnly = false)
    {
        using var scope = NewDisposeScope();
        var reference = Net(3);
        var flat = Net(3);
        var referenceParameters = reference.parameters().ToList();
        var matrices = referenceParameters.Where(p => p.dim() >= 2).ToList();
        var vectors = referenceParameters.Where(p => p.dim() < 2).ToList();
        optim.Optimizer torchOptimizer = (adamW, matricesOnly) switch
        {
            (true, false) => optim.AdamW(referenceParameters, 0.01, 0.8, 0.95, weight_decay: weightDecay),
            (false, false) => optim.Adam(referenceParameters, 0.01, 0.8, 0.95, weight_decay: weightDecay),
            // Two parameter groups, as nanoGPT: decay on matrices, none on biases.
            (true, true) => optim.AdamW(new[]
            {
                new TorchSharp.Modules.AdamW.ParamGroup(matrices, 0.01, 0.8, 0.95, 1e-8, weightDecay, false, false),
                new TorchSharp.Modules.AdamW.ParamGroup(vectors, 0.01, 0.8, 0.95, 1e-8, 0, false, false),
            }, 0.01, 0.8, 0.95),
            (false, true) => optim.Adam(new[]
            {
                new TorchSharp.Modules.Adam.ParamGroup(matrices, 0.01, 0.8, 0.95, 1e-8, weightDecay, false, false),
                new TorchSharp.Modules.Adam.ParamGroup(vectors, 0.01, 0.8, 0.95, 1e-8, 0, false, false),
            }, 0.01, 0.8, 0.95),
        };
        using var flatAdam = new FlatAdam(flat.parameters(), 0.01, 0.8, 0.95, weightDecay: weightDecay, decoupled: adamW,
            decays: matricesOnly ? p => p.dim() >= 2 : null);
        TrainSideBySide(reference, torchOptimizer, flat, flatAdam, steps: 25, batch: 16, inputs: 5, outputs: 3, lossScale: 50, clip: clip,
            tolerance: 1e-5, $"adamW={adamW} wd={weightDecay} clip={clip} matricesOnly={matricesOnly}");
        torchOptimizer.Dispose();
    }

    /// <summary>
    /// <paramref name="steps"/> steps of an MSE loss (× <paramref name="lossScale"/>) on the same random batches for
    /// both copies, optionally clipped; then every weight compared within <paramref name="tolerance"/>.
    /// </summary>
    private static void TrainSideBySide(nn.Module<Tensor, Tensor> reference, optim.Optimizer torchOptimizer, nn.Module<Tensor, Tensor> flat,
        FlatAdam flatAdam, int steps, int batch, int inputs, int outputs, double lossScale, double clip, double tolerance, string label)
    {
        var dtype = reference.parameters().First().dtype;
        var generator = new Generator(5);
        for (int step = 0; step < steps; step++)
        {
            using var stepScope = NewDisposeScope();
            var x = randn(new long[] { batch, inputs }, dtype: dtype, generator: generator);
            var y = randn(new long[] { batch, outputs }, dtype: dtype, generator: generator);

            torchOptimizer.zero_grad();
            nn.functional.mse_loss(reference.forward(x), y).mul(lossScale).backward();
            if (clip > 0) nn.utils.clip_grad_norm_(reference.parameters(), clip);
            torchOptimizer.step();

            flatAdam.ZeroGrad();
            nn.functional.mse_loss(flat.forward(x), y).mul(lossScale).backward();
            if (clip > 0) flatAdam.ClipGradNorm(clip);
            flatAdam.Step();
        }
        foreach (var (a, b) in reference.parameters().Zip(flat.parameters()))
        {
            var expected = a.detach().to_type(ScalarType.Float64).data<double>().ToArray();
            var actual = b.detach().to_type(ScalarType.Float64).data<double>().ToArray();
            for (int i = 0; i < expected.Length; i++)
                Assert.AreEqual(expected[i], actual[i], tolerance, $"{label}, element {i}");
        }
    }

    [TestMethod]
    public void MatchesTorchAdam() => CompareWithTorch(adamW: false, weightDecay: 0, clip: 0);

    [TestMethod]
    public void MatchesTorchAdamWithL2Penalty() => CompareWithTorch(adamW: false, weightDecay: 0.1, clip: 0);

    [TestMethod]
    public void MatchesTorchAdamW() => CompareWithTorch(adamW: true, weightDecay: 0.1, clip: 0);

    [TestMethod]
    public void MatchesTorchAdamWWithDecayOnMatricesOnly() => CompareWithTorch(adamW: true, weightDecay: 0.3, clip: 0, matricesOnly: true);

    [TestMethod]
    public void MatchesTorchAdamWithL2PenaltyOnMatricesOnly() => CompareWithTorch(adamW: false, weightDecay: 0.3, clip: 0.5, matricesOnly: true);

    [TestMethod]
    public void RefusesATiedParameterListedTwice()
    {
        using var scope = NewDisposeScope();
        var net = Net(1);
        var first = net.parameters().First();
        var error = Assert.ThrowsExactly<ArgumentException>(() => new FlatAdam(net.parameters().Append(first), 0.1));
        StringAssert.Contains(error.Message, "twice");
    }

    [TestMethod]
    public void MatchesTorchGradientClipping() => CompareWithTorch(adamW: false, weightDecay: 0, clip: 0.5);

    [TestMethod]
    public void ParametersAndGradientsAreViewsOfTheFlatBuffers()
    {
        using var scope = NewDisposeScope();
        var net = Net(1);
        using var adam = new FlatAdam(net.parameters(), 0.1);
        Assert.AreEqual(5 * 7 + 7 + 7 * 3 + 3, adam.Count);
        // The flat buffers start on a 64-byte boundary, as libtorch's own allocations (MKL's results depend on it).
        foreach (var buffer in new[] { net.parameters().First(), adam.Gradients })
        {
            long address = (long)buffer.storage<float>().data_ptr() + buffer.storage_offset() * sizeof(float);
            Assert.AreEqual(0, address % 64, "a flat buffer is not 64-byte aligned");
        }
        nn.functional.mse_loss(net.forward(ones(2, 5)), zeros(2, 3)).backward();
        double fromParameters = net.parameters().Sum(p => p.grad!.abs().sum().item<float>());
        Assert.IsTrue(fromParameters > 0);
        Assert.AreEqual(fromParameters, adam.Gradients.abs().sum().item<float>(), 1e-4, "backward accumulates into the flat buffer");
        adam.ZeroGrad();
        Assert.AreEqual(0.0, net.parameters().Sum(p => p.grad!.abs().sum().item<float>()));
        var before = net.parameters().First().data<float>().ToArray();
        nn.functional.mse_loss(net.forward(ones(2, 5)), zeros(2, 3)).backward();
        adam.Step();
        Assert.IsFalse(before.SequenceEqual(net.parameters().First().data<float>().ToArray()), "the step changed the module's own weights");
    }

    /// <summary>
    /// A model of 241k weights, AdamW with decay on matrices only: the fused pass's vectors, its scalar tail and the
    /// end of the decayed prefix, against torch's AdamW to 1e-5.
    /// </summary>
    [TestMethod]
    public void MatchesTorchAdamWOnALargerModel()
    {
        using var scope = NewDisposeScope();
        nn.Module<Tensor, Tensor> Big()
        {
            manual_seed(11);
            return nn.Sequential(nn.Linear(400, 301), nn.Tanh(), nn.Linear(301, 399));
        }
        var reference = Big();
        var flat = Big();
        var parameters = reference.parameters().ToList();
        using var torchOptimizer = optim.AdamW(new[]
        {
            new TorchSharp.Modules.AdamW.ParamGroup(parameters.Where(p => p.dim() >= 2), 0.01, 0.8, 0.95, 1e-8, 0.2, false, false),
            new TorchSharp.Modules.AdamW.ParamGroup(parameters.Where(p => p.dim() < 2), 0.01, 0.8, 0.95, 1e-8, 0, false, false),
        }, 0.01, 0.8, 0.95);
        using var adam = new FlatAdam(flat.parameters(), 0.01, 0.8, 0.95, weightDecay: 0.2, decoupled: true, decays: p => p.dim() >= 2);
        Assert.AreEqual(400 * 301 + 301 + 301 * 399 + 399, adam.Count);
        TrainSideBySide(reference, torchOptimizer, flat, adam, steps: 5, batch: 32, inputs: 400, outputs: 399, lossScale: 1, clip: 0,
            tolerance: 1e-5, "AdamW, decay on matrices");
    }

    [TestMethod]
    public void MatchesTorchAdamInFloat64()
    {
        using var scope = NewDisposeScope();
        var reference = Net(3).to(float64);
        var flat = Net(3).to(float64);
        using var torchOptimizer = optim.Adam(reference.parameters(), 0.01, 0.8, 0.95, weight_decay: 0.1);
        using var adam = new FlatAdam(flat.parameters(), 0.01, 0.8, 0.95, weightDecay: 0.1);
        TrainSideBySide(reference, torchOptimizer, flat, adam, steps: 25, batch: 16, inputs: 5, outputs: 3, lossScale: 50, clip: 0,
            tolerance: 1e-12, "Adam, float64, L2 penalty");
    }

    /// <summary>
    /// A model above <see cref="FlatAdam.ParallelThreshold"/> in float64: the pass split over libtorch's OpenMP threads
    /// gives torch's Adam to 1e-12 (the split and the L2 penalty's prefix meet inside a part).
    /// </summary>
    [TestMethod]
    public void MatchesTorchAdamInFloat64OnALargerModel()
    {
        using var scope = NewDisposeScope();
        nn.Module<Tensor, Tensor> Big()
        {
            manual_seed(12);
            return nn.Sequential(nn.Linear(200, 151), nn.Tanh(), nn.Linear(151, 199)).to(float64);
        }
        var reference = Big();
        var flat = Big();
        var parameters = reference.parameters().ToList();
        using var torchOptimizer = optim.Adam(new[]
        {
            new TorchSharp.Modules.Adam.ParamGroup(parameters.Where(p => p.dim() >= 2), 0.01, 0.8, 0.95, 1e-8, 0.2, false, false),
            new TorchSharp.Modules.Adam.ParamGroup(parameters.Where(p => p.dim() < 2), 0.01, 0.8, 0.95, 1e-8, 0, false, false),
        }, 0.01, 0.8, 0.95);
        using var adam = new FlatAdam(flat.parameters(), 0.01, 0.8, 0.95, weightDecay: 0.2, decays: p => p.dim() >= 2);
        Assert.IsTrue(adam.Count > FlatAdam.ParallelThreshold);
        TrainSideBySide(reference, torchOptimizer, flat, adam, steps: 5, batch: 32, inputs: 200, outputs: 199, lossScale: 1, clip: 0,
            tolerance: 1e-12, "Adam, float64, L2 penalty on matrices, split pass");
    }
}
