using System;
using System.Linq;
using Microsoft.ML.Generative.Autoregressive;
using Microsoft.ML.Generative.Tests.Autoregressive;
using Microsoft.ML.Generative.Training;
using Microsoft.ML.Generative.Flows;
using Microsoft.ML.Generative.Vae;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Tests;

[TestClass]
public sealed class MuonTests
{
    /// <summary>
    /// The Newton–Schulz iteration acts on each singular value alone: for U = P diag(s) Qᵀ the result must be
    /// P diag(f⁵(s/‖s‖)) Qᵀ with f(σ) = aσ + bσ³ + cσ⁵ — computed here from the scalars, in float64, tall and wide.
    /// </summary>
    [TestMethod]
    [DataRow(48, 16)]
    [DataRow(16, 48)]
    public void OrthogonalizeIsTheQuinticIterationOnTheSingularValues(int rows, int columns)
    {
        using var scope = NewDisposeScope();
        var generator = new Generator(3);
        int k = Math.Min(rows, columns);
        var (p, _) = linalg.qr(randn(new long[] { rows, k }, dtype: float64, generator: generator));
        var (q, _) = linalg.qr(randn(new long[] { columns, k }, dtype: float64, generator: generator));
        var s = Enumerable.Range(0, k).Select(i => Math.Exp(-0.25 * i)).ToArray();   // condition number e^3.75
        var u = p.mm(diag(tensor(s))).mm(q.t());
        double norm = Math.Sqrt(s.Sum(v => v * v));
        var expected = s.Select(v =>
        {
            double x = v / (norm + 1e-7);
            for (int step = 0; step < 5; step++)
                x = 3.4445 * x - 4.7750 * x * x * x + 2.0315 * Math.Pow(x, 5);
            return x;
        }).ToArray();
        var reference = p.mm(diag(tensor(expected))).mm(q.t());
        var actual = Muon.Orthogonalize(u);
        Assert.AreEqual(0.0, (actual - reference).abs().max().item<double>(), 1e-12);
        // What the iteration is for: every singular value of the update near 1 (the quintic's band, not exactly 1).
        var singular = linalg.svdvals(actual).data<double>().ToArray();
        Assert.IsTrue(singular.All(v => v > 0.6 && v < 1.25), string.Join(", ", singular.Select(v => v.ToString("F3"))));
    }

    /// <summary>
    /// Two steps of a Linear(5, 7) whose weight is Muon's and bias Adam's, against the formulas: B ← μB + G,
    /// W ← W − η·f·√max(1, r/c)·O(G + μB) with the schedule factor f; the bias as torch's Adam.
    /// </summary>
    [TestMethod]
    public void MuonStepFollowsItsFormulaAndAdamTakesTheRest()
    {
        using var scope = NewDisposeScope();
        manual_seed(4);
        var layer = nn.Linear(5, 7);
        var weight = layer.weight!;
        var w0 = weight.detach().clone();
        var bias0 = layer.bias!.detach().clone();
        // AdamW with weight decay on matrices, as the autoregressive model sets it: Muon's matrix must take none, and the
        // bias (a vector) none either.
        using var optimizer = new FlatAdam(layer.parameters(), 0.01, weightDecay: 0.1, decoupled: true, decays: p => p.dim() >= 2,
            orthogonalized: p => p.dim() == 2, muonLearningRate: 0.05);
        var generator = new Generator(6);
        var gradients = new Tensor[2];
        var biasGradients = new Tensor[2];
        for (int step = 0; step < 2; step++)
        {
            optimizer.ZeroGrad();
            optimizer.LearningRate = step == 0 ? 0.01 : 0.005;   // a schedule at half the rate in step 2
            var x = randn(new long[] { 9, 5 }, generator: generator);
            layer.forward(x).pow(2).sum().backward();
            gradients[step] = weight.grad!.clone();
            biasGradients[step] = layer.bias!.grad!.clone();
            optimizer.Step();
        }
        double scale = Math.Sqrt(7.0 / 5.0), mu = Muon.Momentum;
        var b1 = gradients[0];
        var w1 = w0 - 0.05 * scale * Muon.Orthogonalize(gradients[0] + mu * b1);
        var b2 = mu * b1 + gradients[1];
        var w2 = w1 - 0.05 * 0.5 * scale * Muon.Orthogonalize(gradients[1] + mu * b2);
        Assert.AreEqual(0.0, (weight.detach() - w2).abs().max().item<float>(), 1e-6);

        // The bias: two steps of Adam (β 0.9, 0.999, ε 1e-8) from the same gradients.
        var m = zeros_like(bias0);
        var v = zeros_like(bias0);
        var bias = bias0.clone();
        for (int t = 1; t <= 2; t++)
        {
            var g = biasGradients[t - 1];
            m = 0.9 * m + 0.1 * g;
            v = 0.999 * v + 0.001 * g * g;
            double lr = t == 1 ? 0.01 : 0.005;
            bias = bias - lr / (1 - Math.Pow(0.9, t)) * m / (v.sqrt() / Math.Sqrt(1 - Math.Pow(0.999, t)) + 1e-8);
        }
        Assert.AreEqual(0.0, (layer.bias!.detach() - bias).abs().max().item<float>(), 1e-6);
    }

    /// <summary>
    /// Matrices of several shapes, two of one shape (one batch), tall and wide: one step of each equals the single-matrix
    /// formula, so batching them by shape changes nothing.
    /// </summary>
    [TestMethod]
    public void MatricesOfOneShapeAreOrthogonalizedAsABatchWithTheSameResult()
    {
        using var scope = NewDisposeScope();
        manual_seed(8);
        var layers = new[] { nn.Linear(5, 7, hasBias: false), nn.Linear(5, 7, hasBias: false), nn.Linear(7, 5, hasBias: false), nn.Linear(3, 3, hasBias: false) };
        var module = nn.Sequential(layers.Select((l, i) => ($"m{i}", (nn.Module<Tensor, Tensor>)l)).ToArray());
        var before = layers.Select(l => l.weight!.detach().clone()).ToArray();
        using var optimizer = new FlatAdam(module.parameters(), 0.01, orthogonalized: _ => true, muonLearningRate: 0.03);
        var generator = new Generator(2);
        optimizer.ZeroGrad();
        var loss = layers[2].forward(layers[0].forward(randn(new long[] { 4, 5 }, generator: generator))).pow(2).sum()
            + layers[2].forward(layers[1].forward(randn(new long[] { 4, 5 }, generator: generator))).pow(3).sum()
            + layers[3].forward(randn(new long[] { 4, 3 }, generator: generator)).sin().sum();
        loss.backward();
        var gradients = layers.Select(l => l.weight!.grad!.clone()).ToArray();
        optimizer.Step();
        for (int i = 0; i < layers.Length; i++)
        {
            double rows = before[i].shape[0], columns = before[i].shape[1];
            var expected = before[i] - 0.03 * Math.Sqrt(Math.Max(1, rows / columns)) * Muon.Orthogonalize(gradients[i] * (1 + Muon.Momentum));
            Assert.AreEqual(0.0, (layers[i].weight!.detach() - expected).abs().max().item<float>(), 1e-6, $"matrix {i}");
        }
    }

    [TestMethod]
    public void TransformerWithMuonLearnsAPatternAndIsDeterministic()
    {
        var options = AutoregressiveTests.Small(SequenceArchitecture.Transformer, epochs: 10);
        options.ContextLength = 12;
        options.BatchSize = 32;
        options.LearningRate = 1e-2;
        options.WarmupSteps = 10;
        options.Optimizer = GenerativeOptimizer.Muon;
        var rows = SequenceTestData.TwoPatterns(512);
        var a = AutoregressiveTests.Train(options, rows, out _, out _);
        double nll = a.TrainingHistory[^1].TrainingLosses["Nll"];
        // A perfect model pays log 2 / 11 = 0.063 nats per token; a uniform one log V = 1.9.
        Assert.IsTrue(nll < 0.12, $"final training NLL {nll}");
        var b = AutoregressiveTests.Train(options, rows, out _, out _);
        Assert.AreEqual(nll, b.TrainingHistory[^1].TrainingLosses["Nll"], "same seed, same model");
    }

    [TestMethod]
    public void ModelsWithoutHiddenMatricesRefuseMuon()
    {
        var ml = new MLContext(seed: 1);
        foreach (var architecture in new[] { SequenceArchitecture.Gru, SequenceArchitecture.Lstm })
        {
            var recurrent = AutoregressiveTests.Small(architecture);
            recurrent.Optimizer = GenerativeOptimizer.Muon;
            var error = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Generative().AutoregressiveModel(recurrent));
            Assert.AreEqual("Optimizer", error.ParamName);
            StringAssert.Contains(error.Message, "Muon");
            StringAssert.Contains(error.Message, architecture.ToString());
        }
        var vae = new VariationalAutoencoderOptions { Optimizer = GenerativeOptimizer.Muon };
        var refused = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Generative().VariationalAutoencoder(vae));
        Assert.AreEqual("Optimizer", refused.ParamName);
        var flow = new NormalizingFlowOptions { Optimizer = GenerativeOptimizer.Muon };
        refused = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Generative().NormalizingFlow(flow));
        Assert.AreEqual("Optimizer", refused.ParamName);
        foreach (double rate in new[] { 0, -1, double.NaN, double.PositiveInfinity, 1e300 })
        {
            var transformer = AutoregressiveTests.Small(SequenceArchitecture.Transformer);
            transformer.Optimizer = GenerativeOptimizer.Muon;
            transformer.MuonLearningRate = rate;
            refused = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Generative().AutoregressiveModel(transformer));
            Assert.AreEqual("MuonLearningRate", refused.ParamName, $"rate {rate}");
        }
    }

    /// <summary>The Transformer gives Muon exactly its blocks' attention and MLP matrices; everything else goes to AdamW.</summary>
    [TestMethod]
    [DataRow(true)]
    [DataRow(false)]
    public void MuonTrainsExactlyTheBlocksMatrices(bool tie)
    {
        using var scope = NewDisposeScope();
        var options = AutoregressiveTests.Small(SequenceArchitecture.Transformer);
        options.Optimizer = GenerativeOptimizer.Muon;
        options.TieWeights = tie;
        using var network = SequenceNetwork.Create(new SequenceNetworkArchitecture(SequenceArchitecture.Transformer, 27, 16, 32, 2, 2, 8, 0, tie));
        using var objective = new AutoregressiveObjective(network, options);
        var named = network.named_parameters().ToList();
        var muon = objective.Optimizer.OrthogonalizedParameters;
        var expected = named.Where(n => n.name.StartsWith("blocks.") && n.parameter.dim() == 2).Select(n => n.name).OrderBy(n => n).ToArray();
        Assert.AreEqual(8, expected.Length, string.Join(", ", expected));   // qkv, proj, fc, fcProj × 2 blocks
        var actual = named.Where(n => muon.Any(m => ReferenceEquals(m, n.parameter))).Select(n => n.name).OrderBy(n => n).ToArray();
        CollectionAssert.AreEqual(expected, actual);
        Assert.AreEqual(network.parameters().Sum(p => p.numel()), objective.Optimizer.Count, "every parameter is trained, once");
        options.Optimizer = GenerativeOptimizer.AdamW;
        using var adamW = new AutoregressiveObjective(network, options);
        Assert.AreEqual(0, adamW.Optimizer.OrthogonalizedParameters.Count);
    }

    /// <summary>A diverging Muon run names the Muon rate in its advice, and not a feature column to normalize.</summary>
    [TestMethod]
    public void ADivergedMuonRunNamesItsRate()
    {
        var options = AutoregressiveTests.Small(SequenceArchitecture.Transformer);
        options.Optimizer = GenerativeOptimizer.Muon;
        options.LearningRate = 1e30;
        options.MuonLearningRate = 1000;
        options.GradientClipNorm = 0;
        var error = Assert.Throws<InvalidOperationException>(() => AutoregressiveTests.Train(options, SequenceTestData.Names(100), out _, out _));
        StringAssert.Contains(error.Message, "MuonLearningRate");
        Assert.IsFalse(error.Message.Contains("Normalize"), error.Message);
    }
}
