using System;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Losses;
using Microsoft.ML.Generative.Training;
using Microsoft.ML.Generative.Vae;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Tests.Vae;

/// <summary>The VAE's hand-written training step (<see cref="VaeTrainingStep"/>) against autograd on the same model and noise.</summary>
[TestClass]
public sealed class VaeTrainingStepTests
{
    /// <summary>
    /// Loss, its two terms and every parameter's gradient equal autograd's for: one hidden layer with a batch large enough
    /// for the passes to split over the OpenMP threads (131 × 300 logits; hidden size 130, a vector tail of 2), and two
    /// hidden layers on a small batch (input 13 and latent 5: scalar tails); β ≠ 1.
    /// </summary>
    [TestMethod]
    [DataRow(300, new[] { 130 }, 7, 131, 0.7, 0.0)]
    [DataRow(13, new[] { 24, 9 }, 5, 6, 1.0, 0.0)]
    [DataRow(784, new[] { 400 }, 20, 128, 1.0, 0.0)]
    [DataRow(300, new[] { 130 }, 7, 131, 0.7, 0.5)]     // a Gaussian with σ = 0.5
    [DataRow(13, new[] { 24, 9 }, 5, 6, 1.0, 2.0)]
    public void LossAndGradientsEqualAutograd(int input, int[] hidden, int latent, int rows, double beta, double sigma)
    {
        using var scope = NewDisposeScope();
        manual_seed(5);
        var likelihood = sigma == 0 ? VaeLikelihood.Bernoulli : VaeLikelihood.GaussianFixedVariance;
        var network = new VaeNetwork(new VaeArchitecture(input, latent, hidden, VaeActivation.Relu, likelihood));
        using var adam = new FlatAdam(network.parameters(), 1e-3);
        var options = new VariationalAutoencoderOptions
        {
            LatentDimension = latent, HiddenLayerSizes = hidden, Beta = beta, Likelihood = likelihood, FixedStandardDeviation = sigma == 0 ? 1 : sigma,
        };
        var step = VaeTrainingStep.TryCreate(network, options, customReconstruction: false, adam);
        Assert.IsNotNull(step);
        var x = sigma == 0 ? rand(rows, input) : randn(rows, input).mul_(3);
        x[0] = x[0].gt(0.5).to_type(ScalarType.Float32);       // a binary row: targets 0 and 1 exactly
        var noise = randn(rows, latent);
        // Stale gradients must not survive: the step overwrites every one.
        using (no_grad())
            adam.Gradients.fill_(float.NaN);
        var (loss, reconstruction, kl) = step!.Run(x, noise, beta);
        var handWritten = adam.Gradients.clone();
        Assert.IsFalse(handWritten.isnan().any().item<bool>(), "a gradient was not written");

        adam.ZeroGrad();
        var (mu, logVar) = network.Encode(x);
        var z = noise * logVar.mul(0.5).exp() + mu;
        var decoded = network.Decode(z);
        var nll = VaeObjective.ReconstructionNll(network, decoded, x, options.FixedStandardDeviation);
        using var elbo = VaeLosses.Elbo(nll, mu, logVar, beta, LossReduction.Mean);
        elbo.Loss.backward();
        var autograd = adam.Gradients;

        Assert.AreEqual(elbo.Loss.item<float>(), loss, 2e-5 * Math.Abs(loss));
        Assert.AreEqual(elbo.Reconstruction.item<float>(), reconstruction, 2e-5 * Math.Abs(reconstruction));
        Assert.AreEqual(elbo.Kl.item<float>(), kl, 2e-5 * Math.Abs(kl) + 1e-6);
        double scale = autograd.abs().max().item<float>();
        double difference = (handWritten - autograd).abs().max().item<float>();
        Assert.IsTrue(difference <= 1e-5 * scale, $"gradients differ by {difference:E2} (largest gradient {scale:E2})");
    }

    /// <summary>
    /// The Bernoulli likelihood's log(1 + e^{−|ℓ|}) (<see cref="VectorMath.Log1pUnit"/>): relative error below 2·10⁻⁷
    /// against float64 over e ∈ [0, 1], down to 1e-29 (normal floats; exact as e → 0), and log 2 at e = 1.
    /// </summary>
    [TestMethod]
    public void Log1pOfTheUnitIntervalIsAccurate()
    {
        double worst = 0;
        var lanes = new float[8];
        for (int k = 0; k < 4000; k++)
        {
            for (int i = 0; i < 8; i++)
                lanes[i] = k < 2000 ? (k * 8 + i) / 15999f : MathF.Pow(10, -1 - (k - 2000) * 8 % 280 / 10f - i * 0.05f);
            var result = VectorMath.Log1pUnit(System.Runtime.Intrinsics.Vector256.Create(lanes));
            for (int i = 0; i < 8; i++)
            {
                // log(1 + x) in float64 loses x's digits below 1e-4 (1 + x rounds): the series there.
                double x = lanes[i], exact = x < 1e-4 ? x - x * x / 2 + x * x * x / 3 : Math.Log(1 + x);
                if (exact > 0)
                    worst = Math.Max(worst, Math.Abs(result[i] - exact) / exact);
            }
        }
        Assert.IsTrue(worst < 2e-7, $"worst relative error {worst:E2}");
        Assert.AreEqual(0f, VectorMath.Log1pUnit(System.Runtime.Intrinsics.Vector256<float>.Zero)[0]);
        Assert.AreEqual(Math.Log(2), VectorMath.Log1pUnit(System.Runtime.Intrinsics.Vector256.Create(1f))[0], 1e-7);
    }

    [TestMethod]
    public void OtherFormsTrainThroughAutograd()
    {
        using var scope = NewDisposeScope();
        VaeTrainingStep? Try(VaeArchitecture architecture, VariationalAutoencoderOptions options, bool custom = false)
        {
            var network = new VaeNetwork(architecture);
            using var adam = new FlatAdam(network.parameters(), 1e-3);
            return VaeTrainingStep.TryCreate(network, options, custom, adam);
        }
        var plain = new VariationalAutoencoderOptions();
        Assert.IsNotNull(Try(new VaeArchitecture(8, 2, new[] { 4 }, VaeActivation.Relu, VaeLikelihood.Bernoulli), plain));
        Assert.IsNull(Try(new VaeArchitecture(8, 2, new[] { 4 }, VaeActivation.Silu, VaeLikelihood.Bernoulli), plain));
        Assert.IsNotNull(Try(new VaeArchitecture(8, 2, new[] { 4 }, VaeActivation.Relu, VaeLikelihood.GaussianFixedVariance), plain));
        Assert.IsNull(Try(new VaeArchitecture(8, 2, new[] { 4 }, VaeActivation.Relu, VaeLikelihood.GaussianLearnedVariance), plain));
        Assert.IsNull(Try(new VaeArchitecture(8, 2, new[] { 4 }, VaeActivation.Relu, VaeLikelihood.Bernoulli, ConditionWidth: 3), plain));
        Assert.IsNull(Try(new VaeArchitecture(8, 2, new[] { 4 }, VaeActivation.Relu, VaeLikelihood.Bernoulli), new VariationalAutoencoderOptions { FreeBits = 0.1 }));
        Assert.IsNull(Try(new VaeArchitecture(8, 2, new[] { 4 }, VaeActivation.Relu, VaeLikelihood.Bernoulli), plain, custom: true));

        // The objective a Fit with the default options builds trains through the hand-written step.
        using var noise = new Generator(1);
        using var objective = new VaeObjective(new VaeNetwork(new VaeArchitecture(784, 20, new[] { 400 }, VaeActivation.Relu, VaeLikelihood.Bernoulli)),
            new VariationalAutoencoderOptions(), noise, 2);
        Assert.IsTrue(objective.HandWritten);
    }

    /// <summary>
    /// A loss that overflows float32 is refused before any weight changes (as autograd's), even where the float64 KL sum
    /// is still finite: a log-variance head biased to 95 makes e^λ overflow float32.
    /// </summary>
    [TestMethod]
    public void AFloat32OverflowIsRefusedBeforeTheWeightsChange()
    {
        using var scope = NewDisposeScope();
        manual_seed(5);
        var network = new VaeNetwork(new VaeArchitecture(16, 2, new[] { 8 }, VaeActivation.Relu, VaeLikelihood.Bernoulli));
        using (no_grad())
            network.LogVarHead.bias!.fill_(95);
        using var noise = new Generator(1);
        using var objective = new VaeObjective(network, new VariationalAutoencoderOptions { LatentDimension = 2, HiddenLayerSizes = new[] { 8 } }, noise, 2);
        Assert.IsTrue(objective.HandWritten);
        var before = network.parameters().Select(p => p.detach().clone()).ToArray();
        var error = Assert.ThrowsExactly<NonFiniteLossException>(() => objective.TrainStep(rand(4, 16), new StepInfo(1, 1, 1, 1, null)));
        Assert.IsTrue(double.IsPositiveInfinity(error.Value), $"loss {error.Value}");
        foreach (var (p, q) in network.parameters().Zip(before))
            Assert.IsTrue(p.eq(q).all().item<bool>(), "a weight changed");
    }

    /// <summary>Fit, Transform and Sample of the default form leave no tensor behind but the weights.</summary>
    [TestMethod]
    public void LeavesNoLiveTensors()
    {
        var ml = new MLContext(seed: 1);
        var data = TestData.Load(ml, TestData.BinaryPrototypes(300, seed: 0));
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        var model = ml.Generative().VariationalAutoencoder(new VariationalAutoencoderOptions
        {
            LatentDimension = 2, HiddenLayerSizes = new[] { 16 }, NumberOfEpochs = 2, BatchSize = 32, ValidationFraction = 0.2,
        }).Fit(data);
        _ = model.Transform(data).GetColumn<float>("Score").ToArray();
        long weights = model.Network.state_dict().Count;
        Assert.AreEqual(before + weights, DisposeScopeManager.Statistics.ThreadTotalLiveCount, "tensors left by Fit and Transform");
    }

    /// <summary>
    /// Whole fits, hand-written and autograd, from one seed: the same noise and batches, so the two models differ only by
    /// rounding — their final training losses and test scores agree closely; and the default options do use the
    /// hand-written step.
    /// </summary>
    [TestMethod]
    public void FitsAgreeWithTheAutogradStep()
    {
        (double Loss, double Score) Fit(bool handWritten)
        {
            bool before = VaeObjective.UseHandWrittenStep;
            VaeObjective.UseHandWrittenStep = handWritten;
            try
            {
                var ml = new MLContext(seed: 3);
                var train = TestData.Load(ml, TestData.BinaryPrototypes(512, seed: 0));
                var test = TestData.Load(ml, TestData.BinaryPrototypes(256, seed: 1));
                var model = ml.Generative().VariationalAutoencoder(new VariationalAutoencoderOptions
                {
                    LatentDimension = 2, HiddenLayerSizes = new[] { 32 }, NumberOfEpochs = 8, BatchSize = 32, LearningRate = 1e-2,
                }).Fit(train);
                return (model.TrainingHistory[^1].TrainingLoss, model.Transform(test).GetColumn<float>("Score").ToArray().Average());
            }
            finally
            {
                VaeObjective.UseHandWrittenStep = before;
            }
        }
        var hand = Fit(true);
        var auto = Fit(false);
        // Different paths, so not bit-identical (the switch did change the step).
        Assert.AreNotEqual(auto.Loss, hand.Loss);
        Assert.AreEqual(auto.Loss, hand.Loss, 0.01 * auto.Loss, $"training loss: hand-written {hand.Loss}, autograd {auto.Loss}");
        Assert.AreEqual(auto.Score, hand.Score, 0.01 * auto.Score, $"test score: hand-written {hand.Score}, autograd {auto.Score}");
        Assert.IsTrue(hand.Loss < 7.0, $"the hand-written step did not learn: {hand.Loss}");
    }
}
