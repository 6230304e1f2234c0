using System;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Generative.Gan;
using Microsoft.ML.Generative.Losses;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Generative.Tests.Gan;

/// <summary>Every adversarial loss trains a tiny GAN on a 2-D Gaussian mixture to samples with the data's moments.</summary>
[TestClass]
public sealed class GanQualityTests
{
    public TestContext TestContext { get; set; } = null!;

    /// <summary>
    /// Standardized distances between the moments of samples and data: the largest |Δmean| / sd, the largest
    /// |log(sd_sample / sd_data)| and |Δcorrelation|.
    /// </summary>
    internal static (double Mean, double LogSd, double Correlation) MomentErrors(float[][] data, float[][] sample)
    {
        var (m1, c1) = GanTestData.Moments(data);
        var (m2, c2) = GanTestData.Moments(sample);
        double mean = 0, logSd = 0;
        for (int j = 0; j < 2; j++)
        {
            double sd = Math.Sqrt(c1[j, j]);
            mean = Math.Max(mean, Math.Abs(m2[j] - m1[j]) / sd);
            logSd = Math.Max(logSd, Math.Abs(0.5 * Math.Log(c2[j, j] / c1[j, j])));
        }
        double r1 = c1[0, 1] / Math.Sqrt(c1[0, 0] * c1[1, 1]);
        double r2 = c2[0, 1] / Math.Sqrt(c2[0, 0] * c2[1, 1]);
        return (mean, logSd, Math.Abs(r2 - r1));
    }

    [TestMethod]
    [DataRow(AdversarialLoss.NonSaturating)]
    [DataRow(AdversarialLoss.Minimax)]
    [DataRow(AdversarialLoss.Wasserstein)]
    [DataRow(AdversarialLoss.Hinge)]
    [DataRow(AdversarialLoss.LeastSquares)]
    public void EachLossLearnsTheMixtureMoments(AdversarialLoss loss)
    {
        var ml = new MLContext(seed: 1);
        var rows = GanTestData.Mixture(1024);
        var options = GanTestData.Small(epochs: 60);
        options.Loss = loss;
        if (loss is AdversarialLoss.Hinge or AdversarialLoss.Wasserstein)
        {
            // The SN-GAN configuration (Miyato et al. 2018): spectrally normalized critic, Adam β₁ = 0. For Wasserstein
            // it is the Lipschitz constraint (no gradient penalty); WGAN-GP needs far more steps than a unit test has.
            options.SpectralNormalization = true;
            options.Beta1 = 0;
            if (loss == AdversarialLoss.Wasserstein)
                options.NumberOfEpochs = 150; // n_critic = 5: as many generator steps as 30 epochs of the others
        }
        var model = ml.Generative().GenerativeAdversarialNetwork(options).Fit(ml.Data.LoadFromEnumerable(rows));
        var data = rows.Select(r => r.Features).ToArray();
        var sample = GanTestData.Features(model.Sample(4000, seed: 3));
        var (mean, logSd, correlation) = MomentErrors(data, sample);
        TestContext.WriteLine($"{loss}: mean {mean:F3}, log sd {logSd:F3}, correlation {correlation:F3}; last {model.TrainingHistory[^1]}");
        // A generator that ignores the data (the untrained one) is far off; see UntrainedGeneratorIsFarOff.
        Assert.IsTrue(mean < 0.15, $"{loss}: standardized mean error {mean}");
        Assert.IsTrue(logSd < 0.2, $"{loss}: log standard-deviation ratio {logSd}");
        Assert.IsTrue(correlation < 0.15, $"{loss}: correlation error {correlation}");
        Assert.IsTrue(sample.All(r => r[0] >= data.Min(d => d[0]) && r[0] <= data.Max(d => d[0])), "samples stay in the observed range");
    }

    [TestMethod]
    public void UntrainedGeneratorIsFarOff()
    {
        // The thresholds above are not trivially met: one epoch at a tiny learning rate leaves G near its initialization.
        var ml = new MLContext(seed: 1);
        var rows = GanTestData.Mixture(1024);
        var options = GanTestData.Small(epochs: 1);
        options.LearningRate = 1e-6;
        options.GeneratorEmaDecay = 0;
        options.DivergencePatience = 0;
        var model = ml.Generative().GenerativeAdversarialNetwork(options).Fit(ml.Data.LoadFromEnumerable(rows));
        var (mean, logSd, _) = MomentErrors(rows.Select(r => r.Features).ToArray(), GanTestData.Features(model.Sample(4000, seed: 3)));
        TestContext.WriteLine($"untrained: mean {mean:F3}, log sd {logSd:F3}");
        Assert.IsTrue(mean >= 0.15 || logSd >= 0.2, $"untrained generator: mean {mean}, log sd {logSd}");
    }
}
