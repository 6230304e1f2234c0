using System;
using System.Linq;
using System.Runtime.Intrinsics;
using Microsoft.ML;
using Microsoft.ML.Generative.Autoregressive;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Tests.Autoregressive;

/// <summary>The fused GRU layer the family trains with, against <c>nn.GRU</c> and its autograd.</summary>
[TestClass]
public sealed class GruLayerFunctionTests
{
    /// <summary>
    /// Outputs and all five gradients (input, W_ih, W_hh, b_ih, b_hh) equal nn.GRU's in float64: hidden sizes with a
    /// vector part and a scalar tail (6 = 4 + 2 lanes), none (8), only a tail (3); one row, one step, long sequences.
    /// </summary>
    [TestMethod]
    [DataRow(3, 5, 4, 6)]
    [DataRow(3, 5, 4, 8)]
    [DataRow(1, 1, 4, 3)]
    [DataRow(5, 1, 2, 3)]
    [DataRow(2, 40, 3, 17)]
    public void EqualsNnGruAndItsGradientsInFloat64(int batch, int time, int input, int hidden)
    {
        var (expected, actual) = Compare(batch, time, input, hidden, float64);
        for (int i = 0; i < expected.Length; i++)
            Assert.AreEqual(0.0, (expected[i] - actual[i]).abs().max().item<double>(), 1e-12, Names[i]);
    }

    /// <summary>float32: the gates' own exponential (<see cref="VectorMath.ExpSingle"/>) keeps everything within float rounding.</summary>
    [TestMethod]
    public void MatchesNnGruInFloat32()
    {
        var (expected, actual) = Compare(4, 9, 5, 20, float32);
        for (int i = 0; i < expected.Length; i++)
        {
            double scale = expected[i].abs().max().item<float>();
            Assert.AreEqual(0.0, (expected[i] - actual[i]).abs().max().item<float>(), 2e-5 * Math.Max(1, scale), Names[i]);
        }
    }

    /// <summary>A non-contiguous input (a transposed time-first tensor) gives the same outputs and gradients.</summary>
    [TestMethod]
    public void TakesNonContiguousInput()
    {
        var (expected, actual) = Compare(4, 6, 5, 11, float64, timeFirstInput: true);
        for (int i = 0; i < expected.Length; i++)
            Assert.AreEqual(0.0, (expected[i] - actual[i]).abs().max().item<double>(), 1e-12, Names[i]);
    }

    private static readonly string[] Names = { "output", "∂x", "∂W_ih", "∂W_hh", "∂b_ih", "∂b_hh" };

    private static (Tensor[] Expected, Tensor[] Actual) Compare(long batch, long time, long input, long hidden, ScalarType dtype,
        bool timeFirstInput = false)
    {
        manual_seed(11);
        var gru = nn.GRU(input, hidden, 1, batchFirst: true).to(dtype);
        var w = new[] { "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0" }.Select(n => gru.get_parameter(n)!).ToArray();
        var leaf = (timeFirstInput ? randn(new[] { time, batch, input }, dtype) : randn(new[] { batch, time, input }, dtype))
            .mul_(2).requires_grad_();                                                     // gates well into saturation too
        var x = timeFirstInput ? leaf.transpose(0, 1) : leaf;
        var upstream = randn(new[] { batch, time, hidden }, dtype);
        Tensor[] Run(Func<Tensor> forward)
        {
            leaf.grad = null;
            foreach (var p in w) p.grad = null;
            var y = forward();
            (y * upstream).sum().backward();
            return new[] { y.detach(), leaf.grad!.clone() }.Concat(w.Select(p => p.grad!.clone())).ToArray();
        }
        var expected = Run(() => gru.forward(x, null).Item1);
        var actual = Run(() => GruLayerFunction.Apply(x, w[0], w[1], w[2], w[3]));
        return (expected, actual);
    }

    /// <summary>
    /// eˣ of the float gates: relative error below 2·10⁻⁷ against float64 over the whole normal range; NaN stays NaN;
    /// ±∞ clamp to the range's ends, so σ and tanh saturate exactly.
    /// </summary>
    [TestMethod]
    public void GateExponentialIsAccurateAndSaturates()
    {
        double worst = 0;
        var lanes = new float[8];
        for (float start = -87.3f; start < 87.9f; start += 0.0137f * 8)
        {
            for (int i = 0; i < 8; i++) lanes[i] = start + 0.0137f * i;
            var e = VectorMath.ExpSingle(Vector256.Create(lanes));
            for (int i = 0; i < 8; i++)
            {
                double exact = Math.Exp(lanes[i]);
                worst = Math.Max(worst, Math.Abs(e[i] - exact) / exact);
            }
        }
        Assert.IsTrue(worst < 2e-7, $"worst relative error {worst:E2}");
        var special = VectorMath.ExpSingle(Vector256.Create(float.NaN, float.PositiveInfinity, float.NegativeInfinity, 0f, 1f, -1f, 100f, -100f));
        Assert.IsTrue(float.IsNaN(special[0]));
        Assert.IsTrue(float.IsFinite(special[1]) && special[1] > 1e38f, special[1].ToString());
        Assert.IsTrue(special[2] >= 0 && special[2] < 1e-37f);
        Assert.AreEqual(1f, special[3]);
        Assert.AreEqual(MathF.E, special[4], 1e-6f);
        Assert.AreEqual(1 / MathF.E, special[5], 1e-7f);
        Assert.AreEqual(1f, 1f / (1f + special[2]));          // σ(+∞) = 1
        Assert.AreEqual(0f, 1f / (1f + special[1]), 1e-38f);  // σ(−∞) = 0
    }

    /// <summary>
    /// The network trains through the fused layers (2 layers, training mode) with the gradients nn.GRU gives (eval
    /// mode: the same function, dropout 0), for every parameter; in scoring it uses nn.GRU.
    /// </summary>
    [TestMethod]
    public void RecurrentNetworkTrainsWithNnGrusGradients()
    {
        manual_seed(5);
        var network = SequenceNetwork.Create(new SequenceNetworkArchitecture(SequenceArchitecture.Gru, 11, 6, 12, 2, 1, 8, 0, false));
        network.to(float64);
        var tokens = randint(0, 11, new long[] { 4, 7 });
        var targets = randint(0, 11, new long[] { 4, 7 });
        Tensor[] Gradients(bool training)
        {
            network.train(training);
            network.zero_grad();
            var logits = network.forward(tokens);
            nn.functional.cross_entropy(logits.reshape(-1, 11), targets.reshape(-1)).backward();
            return network.parameters().Select(p => p.grad!.clone()).ToArray();
        }
        var fused = Gradients(training: true);
        var reference = Gradients(training: false);
        Assert.AreEqual(reference.Length, fused.Length);
        for (int i = 0; i < fused.Length; i++)
            Assert.AreEqual(0.0, (fused[i] - reference[i]).abs().max().item<double>(), 1e-12, $"parameter {i}");
    }

    /// <summary>Batches whose buffers would pass 2³¹ elements go to nn.GRU instead (the kernel's spans are int-indexed).</summary>
    [TestMethod]
    public void FitsOnlyWhatItsSpansCanIndex()
    {
        Assert.IsTrue(GruLayerFunction.Fits(64, 23, 128, 32));
        Assert.IsTrue(GruLayerFunction.Fits(256, 510, 4096, 64));                 // (510 + 1)·256·4·4096 < 2³¹ − 1
        Assert.IsFalse(GruLayerFunction.Fits(256, 511, 4096, 64));                // (511 + 1)·256·4·4096 = 2³¹
        Assert.IsFalse(GruLayerFunction.Fits(1, 65_536, 65_536, 1));
    }

    /// <summary>Training a two-layer GRU with dropout (the fused path, dropout between layers) leaves no tensors behind.</summary>
    [TestMethod]
    public void FitLeavesNoLiveTensors()
    {
        var options = AutoregressiveTests.Small(SequenceArchitecture.Gru, 2);
        options.Dropout = 0.2;
        options.ValidationFraction = 0.25;
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(SequenceTestData.Names(128));
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        var model = ml.Generative().AutoregressiveModel(options).Fit(data);
        long weights = model.Network.state_dict().Count;
        Assert.AreEqual(0, DisposeScopeManager.Statistics.ThreadTotalLiveCount - before - weights, "tensors left by Fit beyond the model's weights");
        Assert.IsTrue(model.TrainingHistory.All(e => double.IsFinite(e.TrainingLosses["Nll"])));
    }
}
