using System;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Gan;
using Microsoft.ML.Generative.Losses;
using Microsoft.ML.Generative.Tests.Vae;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Generative.Tests.Gan;

[TestClass]
public sealed class GanBadInputTests
{
    private static Exception FitFails<T>(T[] rows, GenerativeAdversarialNetworkOptions? options = null) where T : class
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(rows);
        return Assert.Throws<Exception>(() => ml.Generative().GenerativeAdversarialNetwork(options ?? GanTestData.Small(epochs: 1)).Fit(data));
    }

    [TestMethod]
    public void InvalidOptionsAreRejectedWithTheOptionNameAndTheFix()
    {
        var ml = new MLContext(seed: 1);
        ArgumentException Rejects(string option, Action<GenerativeAdversarialNetworkOptions> change)
        {
            var options = GanTestData.Small(epochs: 1);
            change(options);
            var e = Assert.Throws<ArgumentException>(() => ml.Generative().GenerativeAdversarialNetwork(options));
            StringAssert.Contains(e.Message, option);
            return e;
        }
        Rejects("LatentDimension", o => o.LatentDimension = 0);
        Rejects("GeneratorHiddenLayerSizes", o => o.GeneratorHiddenLayerSizes = new[] { 8, 0 });
        Rejects("DiscriminatorHiddenLayerSizes", o => o.DiscriminatorHiddenLayerSizes = new[] { 0 });
        Rejects("DiscriminatorHiddenLayerSizes", o => o.DiscriminatorHiddenLayerSizes = null!);
        Rejects("CriticStepsPerGeneratorStep", o => o.CriticStepsPerGeneratorStep = 0);
        Rejects("GradientPenaltyWeight", o => o.GradientPenaltyWeight = -1);
        Rejects("GradientPenaltyWeight", o => o.GradientPenaltyWeight = double.NaN);
        Rejects("R1Weight", o => o.R1Weight = -0.1);
        Rejects("GeneratorLearningRate", o => o.GeneratorLearningRate = 0);
        Rejects("DiscriminatorLearningRate", o => o.DiscriminatorLearningRate = double.PositiveInfinity);
        Rejects("DiscriminatorDropout", o => o.DiscriminatorDropout = 1);
        Rejects("GeneratorEmaDecay", o => o.GeneratorEmaDecay = 1);
        Rejects("LabelSmoothing", o => o.LabelSmoothing = 0.5);
        Rejects("Loss", o => o.Loss = (AdversarialLoss)9);
        Rejects("Activation", o => o.Activation = (GanActivation)9);
        Rejects("DiscriminatorScoreColumnName", o => o.DiscriminatorScoreColumnName = " ");
        Rejects("NumberOfEpochs", o => o.NumberOfEpochs = 0);
        var smoothing = Rejects("LabelSmoothing", o => { o.Loss = AdversarialLoss.Hinge; o.LabelSmoothing = 0.1; });
        StringAssert.Contains(smoothing.Message, "NonSaturating");

        // Wasserstein without any Lipschitz constraint is refused, and the message gives both fixes.
        var w = Rejects("GradientPenaltyWeight", o => { o.Loss = AdversarialLoss.Wasserstein; o.GradientPenaltyWeight = 0; });
        StringAssert.Contains(w.Message, "Lipschitz");
        StringAssert.Contains(w.Message, "SpectralNormalization = true");
        // Either constraint is enough; the default penalty is 10 and the default n_critic 5.
        var withPenalty = new GenerativeAdversarialNetworkOptions { Loss = AdversarialLoss.Wasserstein };
        Assert.AreEqual(10, withPenalty.EffectiveGradientPenaltyWeight);
        Assert.AreEqual(5, withPenalty.EffectiveCriticSteps);
        ml.Generative().GenerativeAdversarialNetwork(new GenerativeAdversarialNetworkOptions { Loss = AdversarialLoss.Wasserstein, GradientPenaltyWeight = 0, SpectralNormalization = true });
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Generative().GenerativeAdversarialNetwork(latentDimension: 0));

        // The GAN defaults.
        var defaults = new GenerativeAdversarialNetworkOptions();
        Assert.AreEqual(2e-4, defaults.LearningRate);
        Assert.AreEqual(0.5, defaults.Beta1);
        Assert.AreEqual(0.999, defaults.Beta2);
        Assert.AreEqual(0.999, defaults.GeneratorEmaDecay);
        Assert.AreEqual(AdversarialLoss.NonSaturating, defaults.Loss);
        Assert.AreEqual(1, defaults.EffectiveCriticSteps);
        Assert.AreEqual(0, defaults.EffectiveGradientPenaltyWeight);
        CollectionAssert.AreEqual(new[] { 256, 512 }, defaults.GeneratorHiddenLayerSizes);
        CollectionAssert.AreEqual(new[] { 512, 256 }, defaults.DiscriminatorHiddenLayerSizes);
    }

    [TestMethod]
    public void SchemaProblemsNameTheColumn()
    {
        var missing = GanTestData.Small(epochs: 1);
        missing.FeatureColumnName = "Pixels";
        var e = FitFails(GanTestData.Mixture(10), missing);
        StringAssert.Contains(e.Message, "'Pixels' was not found");
        e = FitFails(Enumerable.Range(0, 10).Select(_ => new VaeBadInputTests.DoubleRow()).ToArray());
        StringAssert.Contains(e.Message, "known-size vector of Single");
        e = FitFails(Array.Empty<Row2>());
        StringAssert.Contains(e.Message, "empty");
        var rows = GanTestData.Mixture(30);
        rows[12].Features[1] = float.NaN;
        e = FitFails(rows);
        StringAssert.Contains(e.Message, "row 12");
    }

    [TestMethod]
    public void SamplingAndGenerateRejectBadArguments()
    {
        var ml = new MLContext(seed: 1);
        var model = ml.Generative().GenerativeAdversarialNetwork(GanTestData.Small(epochs: 1)).Fit(ml.Data.LoadFromEnumerable(GanTestData.Mixture(64)));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => model.Sample(0, seed: 1));
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => model.Generate(new[] { new float[3] }));
        StringAssert.Contains(e.Message, "4 values");
        e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => model.Generate(new[] { new float[] { 0, float.NaN, 0, 0 } }));
        StringAssert.Contains(e.Message, "finite");
        Assert.ThrowsExactly<ArgumentNullException>(() => model.Generate(null!));
        Assert.IsEmpty(model.Generate(Array.Empty<float[]>()));
        var other = ml.Data.LoadFromEnumerable(TestData.BinaryPrototypes(5));
        var wrongWidth = Assert.Throws<ArgumentException>(() => model.Transform(other));
        StringAssert.Contains(wrongWidth.Message, "trained on vectors of 2 values, got 16");
    }

    [TestMethod]
    public void NonFiniteLossFailsWithEpochBatchAndAdvice()
    {
        // Without the output map, enormous raw values overflow the discriminator in float32.
        var rows = GanTestData.Mixture(64);
        foreach (var r in rows)
            r.Features[0] = 3e38f;
        var options = GanTestData.Small(epochs: 2);
        options.OutputScaling = GanOutputScaling.None;
        var e = FitFails(rows, options);
        Assert.IsInstanceOfType<InvalidOperationException>(e);
        StringAssert.Contains(e.Message, "epoch 1, batch 1");
        StringAssert.Contains(e.Message, "discriminator loss");
    }

    [TestMethod]
    public void ADiscriminatorThatWinsOutrightFailsWithAdvice()
    {
        // Rows only at the corners of their range, a frozen generator near the centre, a fast discriminator: the
        // discriminator separates real from generated rows perfectly.
        var random = new Random(1);
        var corners = Enumerable.Range(0, 256).Select(_ => new Row2
        {
            Features = new[] { random.Next(2) + 0.01f * (float)random.NextDouble(), random.Next(2) + 0.01f * (float)random.NextDouble() },
        }).ToArray();
        var options = GanTestData.Small(epochs: 40);
        options.GeneratorLearningRate = 1e-9;
        options.DiscriminatorLearningRate = 1e-2;
        options.DivergencePatience = 3;
        var e = FitFails(corners, options);
        Assert.IsInstanceOfType<InvalidOperationException>(e, e.ToString());
        StringAssert.Contains(e.Message, "discriminator loss stayed below");
        StringAssert.Contains(e.Message, "DiscriminatorLearningRate");
        StringAssert.Contains(e.Message, "DivergencePatience = 0");

        // Turned off, the same run returns a model.
        options.DivergencePatience = 0;
        var ml = new MLContext(seed: 1);
        Assert.IsNotNull(ml.Generative().GenerativeAdversarialNetwork(options).Fit(ml.Data.LoadFromEnumerable(corners)));
    }

    [TestMethod]
    public void ModeCollapseFailsWithAdvice()
    {
        var ml = new MLContext(seed: 1);
        var options = GanTestData.Small(epochs: 2);
        var model = ml.Generative().GenerativeAdversarialNetwork(options).Fit(ml.Data.LoadFromEnumerable(GanTestData.Mixture(256)));
        var network = model.Network;
        Assert.IsTrue(network.TrainingSpread > 0.3 && network.TrainingSpread < 0.7, $"training spread {network.TrainingSpread}");
        GenerativeAdversarialNetworkEstimator.CheckModeCollapse(network, seed: 1);   // a trained generator passes

        // A generator whose output layer ignores z makes one row for every noise vector.
        using (TorchSharp.torch.no_grad())
            foreach (var p in network.GeneratorEmaModule!.named_parameters().Where(p => p.name.StartsWith("output.", StringComparison.Ordinal) && p.name.EndsWith("weight", StringComparison.Ordinal)))
                p.parameter.zero_();
        Assert.AreEqual(0, GenerativeAdversarialNetworkEstimator.SampleSpread(network, 64, seed: 1), 1e-7);
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => GenerativeAdversarialNetworkEstimator.CheckModeCollapse(network, seed: 1));
        StringAssert.Contains(e.Message, "mode collapse");
        StringAssert.Contains(e.Message, "DivergencePatience = 0");
    }
}
