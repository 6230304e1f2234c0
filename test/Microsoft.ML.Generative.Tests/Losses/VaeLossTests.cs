using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Generative.Losses;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static Microsoft.ML.Generative.Tests.Losses.LossAssert;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Tests.Losses;

[TestClass]
public sealed class VaeLossTests
{
    private static readonly double Log2Pi = Math.Log(2 * Math.PI);

    // Two examples, two latent dimensions. Example 0: KL = 0.125 (mu 0.5, logVar 0) + (1 − ln2/2) (mu −1, logVar ln 2);
    // example 1 is the prior itself, KL = 0.
    private static Tensor Mu(ScalarType dtype = ScalarType.Float64) => tensor(new[] { 0.5, -1.0, 0, 0 }, dtype).reshape(2, 2);

    private static Tensor LogVar(ScalarType dtype = ScalarType.Float64) => tensor(new[] { 0, Math.Log(2), 0, 0 }, dtype).reshape(2, 2);

    [TestMethod]
    [DataRow(ScalarType.Float32)]
    [DataRow(ScalarType.Float64)]
    public void KlDivergence_MatchesHandComputedValues(ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        double tol = dtype == ScalarType.Float32 ? 1e-6 : 1e-12;
        double example0 = 0.125 + (1 - Math.Log(2) / 2);
        Close(new[] { example0, 0 }, VaeLosses.KlDivergenceStandardNormal(Mu(dtype), LogVar(dtype), LossReduction.None), tol);
        Close(example0, VaeLosses.KlDivergenceStandardNormal(Mu(dtype), LogVar(dtype), LossReduction.Sum), tol);
        Close(example0 / 2, VaeLosses.KlDivergenceStandardNormal(Mu(dtype), LogVar(dtype)), tol);
        ReductionsAgree(r => VaeLosses.KlDivergenceStandardNormal(Mu(dtype), LogVar(dtype), r), 2, dtype);
    }

    [TestMethod]
    public void KlDivergence_FreeBits_FloorsTheBatchMeanOfEachDimension()
    {
        using var scope = NewDisposeScope();
        // Batch means per dimension: 0.0625 (floored to 0.2) and 0.3267 (kept).
        double dim1 = (1 - Math.Log(2) / 2) / 2;
        Close(0.2 + dim1, VaeLosses.KlDivergenceStandardNormal(Mu(), LogVar(), LossReduction.Mean, freeBits: 0.2), 1e-12);
        Close(2 * (0.2 + dim1), VaeLosses.KlDivergenceStandardNormal(Mu(), LogVar(), LossReduction.Sum, freeBits: 0.2), 1e-12);
        // None floors each example's terms: max(0.125, 0.2) + max(0.653, 0.2), and 0.2 + 0.2.
        Close(new[] { 0.2 + 2 * dim1, 0.4 }, VaeLosses.KlDivergenceStandardNormal(Mu(), LogVar(), LossReduction.None, freeBits: 0.2), 1e-12);

        // The floored dimension gets no gradient; the other gets ∂(mean KL)/∂mu = mu / B.
        var mu = Mu().requires_grad_(true);
        var kl = VaeLosses.KlDivergenceStandardNormal(mu, LogVar(), freeBits: 0.2);
        var grad = autograd.grad(new[] { kl }, new[] { mu })[0];
        Close(new[] { 0, -0.5, 0, 0 }, grad, 1e-12);
    }

    [TestMethod]
    public void BernoulliNllWithLogits_MatchesHandComputedValues()
    {
        using var scope = NewDisposeScope();
        var logits = F64(new long[] { 2, 2 }, 0, 2, -1, 3);
        var target = F64(new long[] { 2, 2 }, 1, 0, 0.5, 1);
        // softplus(ℓ) − xℓ per element: ln 2 + softplus(2); softplus(−1) + 0.5 + softplus(3) − 3.
        Close(new[] { 2.820075191602918, 0.8618490390919646 }, VaeLosses.BernoulliNllWithLogits(logits, target, LossReduction.None), 1e-12);
        ReductionsAgree(r => VaeLosses.BernoulliNllWithLogits(logits, target, r), 2, ScalarType.Float64);
        ReductionsAgree(r => VaeLosses.BernoulliNllWithLogits(logits.to_type(ScalarType.Float32), target.to_type(ScalarType.Float32), r), 2, ScalarType.Float32);
    }

    [TestMethod]
    public void BernoulliNll_MatchesHandComputedValuesAndTheLogitsForm()
    {
        using var scope = NewDisposeScope();
        var p = F64(new long[] { 1, 2 }, 0.8, 0.3);
        var x = F64(new long[] { 1, 2 }, 1, 0);
        Close(-Math.Log(0.8) - Math.Log(0.7), VaeLosses.BernoulliNll(p, x), 1e-12);
        Close(VaeLosses.BernoulliNllWithLogits(p.logit(), x).ToDouble(), VaeLosses.BernoulliNll(p, x), 1e-12);
        var p3 = F64(new long[] { 3, 2 }, 0.8, 0.3, 0.5, 0.5, 0.01, 0.99);
        var x3 = F64(new long[] { 3, 2 }, 1, 0, 0.2, 1, 0, 1);
        ReductionsAgree(r => VaeLosses.BernoulliNll(p3, x3, r), 3, ScalarType.Float64);
    }

    [TestMethod]
    [DataRow(ScalarType.Float32, 1e-7)]
    [DataRow(ScalarType.Float64, 1e-12)]
    public void BernoulliNll_ProbabilitiesOfExactlyZeroAndOne_AreFinite(ScalarType dtype, double eps)
    {
        using var scope = NewDisposeScope();
        var p = tensor(new[] { 0.0, 1, 0, 1 }, dtype).reshape(1, 4).requires_grad_(true);
        var x = tensor(new[] { 0.0, 1, 1, 0 }, dtype).reshape(1, 4);
        var loss = VaeLosses.BernoulliNll(p, x);
        // p is clamped to [ε, 1 − ε]: the two confident mistakes cost −log ε and −log(1 − (1 − ε)), with 1 − ε
        // rounded to the dtype; the two correct elements cost about ε each.
        double oneMinusEps = dtype == ScalarType.Float32 ? (float)(1 - eps) : 1 - eps;
        Close(-Math.Log(eps) - Math.Log(1 - oneMinusEps), loss, dtype == ScalarType.Float32 ? 1e-4 : 1e-9);
        Assert.IsGreaterThan(-2 * Math.Log(eps) - 0.5, loss.ToDouble(), "each mistake costs about −log ε");
        AllFinite(autograd.grad(new[] { loss }, new[] { p })[0], "gradient");
    }

    [TestMethod]
    public void Losses_OfExamplesWithoutFeatures_AreZero()
    {
        using var scope = NewDisposeScope();
        // Σ over an empty set of features: 0 per example, not an exception from the range checks.
        var empty = zeros(2, 0);
        Close(new[] { 0.0, 0 }, VaeLosses.BernoulliNll(empty, empty, LossReduction.None), 0);
        Close(new[] { 0.0, 0 }, VaeLosses.CategoricalNll(zeros(2, 0, 3), zeros(new long[] { 2, 0 }, ScalarType.Int64), LossReduction.None), 0);
    }

    [TestMethod]
    public void BernoulliNll_RejectsTheRandnDecoderOutputOfThePyTorchExample()
    {
        using var scope = NewDisposeScope();
        var recon = randn(new long[] { 8, 6 }, generator: new Generator(7));
        var x = rand(new long[] { 8, 6 }, generator: new Generator(8));
        var (min, max) = (recon.min().ToDouble(), recon.max().ToDouble());
        var e = Throws<ArgumentOutOfRangeException>(() => VaeLosses.BernoulliNll(recon, x, LossReduction.Sum),
            "probabilities must lie in [0, 1]", "BernoulliNllWithLogits", min.ToString("G6", System.Globalization.CultureInfo.InvariantCulture),
            max.ToString("G6", System.Globalization.CultureInfo.InvariantCulture));
        Assert.AreEqual("probabilities", e.ParamName);
    }

    [TestMethod]
    public void GaussianNll_FixedSigma_MatchesHandComputedValues()
    {
        using var scope = NewDisposeScope();
        var mean = F64(new long[] { 2, 2 }, 0, 1, 0.5, -0.5);
        var x = F64(new long[] { 2, 2 }, 1, 1, 0, 0);
        // ½ Σ [log 2π + 2 log σ + (x − μ)²/σ²] with σ = 2.
        double constant = 2 * (0.5 * Log2Pi + Math.Log(2));
        Close(new[] { constant + 1.0 / 8, constant + 0.5 / 8 }, VaeLosses.GaussianNll(mean, x, 2.0, LossReduction.None), 1e-12);
        Assert.AreEqual(3.349171427529236, constant + 1.0 / 8, 1e-12); // the same number, written out
        ReductionsAgree(r => VaeLosses.GaussianNll(mean, x, 2.0, r), 2, ScalarType.Float64);
        ReductionsAgree(r => VaeLosses.GaussianNll(mean.to_type(ScalarType.Float32), x.to_type(ScalarType.Float32), 2.0, r), 2, ScalarType.Float32);
    }

    [TestMethod]
    public void GaussianNll_LearnedLogVar_MatchesHandValues_TheSigmaForm_AndBroadcasts()
    {
        using var scope = NewDisposeScope();
        var mean = F64(new long[] { 1, 2 }, 0, 1);
        var x = F64(new long[] { 1, 2 }, 1, 3);
        var logVar = F64(new long[] { 1, 2 }, 0, Math.Log(4));
        // ½(log 2π + 0 + 1) + ½(log 2π + log 4 + 4/4)
        Close(3.5310242469692907, VaeLosses.GaussianNll(mean, logVar, x), 1e-12);

        var means = randn(new long[] { 3, 4 }, ScalarType.Float64, generator: new Generator(1));
        var data = randn(new long[] { 3, 4 }, ScalarType.Float64, generator: new Generator(2));
        var perFeature = F64(-1.0, 0.0, 0.5, 2.0);
        Close(Values(VaeLosses.GaussianNll(means, perFeature.expand(3, 4), data, LossReduction.None)),
            VaeLosses.GaussianNll(means, perFeature, data, LossReduction.None), 1e-12, "[D] log-variance broadcast over the batch");
        Close(Values(VaeLosses.GaussianNll(means, data, 0.7, LossReduction.None)),
            VaeLosses.GaussianNll(means, full(1, 2 * Math.Log(0.7), ScalarType.Float64), data, LossReduction.None), 1e-12,
            "logVar = 2 log σ must equal the fixed-σ form");
        ReductionsAgree(r => VaeLosses.GaussianNll(means, perFeature, data, r), 3, ScalarType.Float64);
    }

    [TestMethod]
    public void CategoricalNll_IndexOneHotAndSoftTargets_MatchHandComputedValues()
    {
        using var scope = NewDisposeScope();
        // One example, two groups of three classes: softmax [1/6, 2/6, 3/6] and uniform.
        var logits = F64(new long[] { 1, 2, 3 }, 0, Math.Log(2), Math.Log(3), 0, 0, 0);
        var indices = tensor(new long[] { 2, 0 }).reshape(1, 2);
        Close(Math.Log(2) + Math.Log(3), VaeLosses.CategoricalNll(logits, indices), 1e-12);
        var oneHot = F64(new long[] { 1, 2, 3 }, 0, 0, 1, 1, 0, 0);
        Close(Math.Log(2) + Math.Log(3), VaeLosses.CategoricalNll(logits, oneHot), 1e-12);
        var soft = F64(new long[] { 1, 2, 3 }, 0, 0.5, 0.5, 1.0 / 3, 1.0 / 3, 1.0 / 3);
        Close(-(0.5 * Math.Log(2.0 / 6) + 0.5 * Math.Log(3.0 / 6)) - Math.Log(1.0 / 3), VaeLosses.CategoricalNll(logits, soft), 1e-12);

        var batchLogits = randn(new long[] { 4, 3, 5 }, generator: new Generator(3));
        var batchIndices = randint(0, 5, new long[] { 4, 3 }, generator: new Generator(4));
        ReductionsAgree(r => VaeLosses.CategoricalNll(batchLogits, batchIndices, r), 4, ScalarType.Float32);
        // [B, C] logits with [B] indices: one group.
        Close(Values(VaeLosses.CategoricalNll(batchLogits[.., 0..1, ..], batchIndices[.., 0..1], LossReduction.None)),
            VaeLosses.CategoricalNll(batchLogits[.., 0, ..], batchIndices[.., 0], LossReduction.None), 1e-6);
    }

    [TestMethod]
    [DataRow(ScalarType.Float32, 1e-4)]
    [DataRow(ScalarType.Float64, 1e-9)]
    public void Elbo_ReproducesThePyTorchVaeExampleLoss(ScalarType dtype, double tolerance)
    {
        using var scope = NewDisposeScope();
        // The PyTorch VAE example, with a decoder that ends in a sigmoid (valid probabilities):
        //   BCE = F.binary_cross_entropy(recon_x, x, reduction='sum'); KLD = -0.5 * sum(1 + logvar - mu^2 - exp(logvar))
        var g = new Generator(42);
        var recon = randn(new long[] { 5, 12 }, dtype, generator: g).sigmoid();
        var x = rand(new long[] { 5, 12 }, dtype, generator: g);
        var mu = randn(new long[] { 5, 3 }, dtype, generator: g);
        var logVar = randn(new long[] { 5, 3 }, dtype, generator: g).mul(0.5);
        var bce = nn.functional.binary_cross_entropy(recon, x, reduction: nn.Reduction.Sum);
        var kld = (1 + logVar - mu.pow(2) - logVar.exp()).sum().mul(-0.5);

        using var elbo = VaeLosses.Elbo(VaeLosses.BernoulliNll(recon, x, LossReduction.None), mu, logVar, reduction: LossReduction.Sum);
        Close((bce + kld).ToDouble(), elbo.Loss, tolerance * 100, "Loss");
        Close(bce.ToDouble(), elbo.Reconstruction, tolerance * 100, "Reconstruction");
        Close(kld.ToDouble(), elbo.Kl, tolerance, "Kl");
    }

    [TestMethod]
    public void Elbo_WeightsTheKlByBeta_ForEveryReduction_AndKeepsTheCallersTensors()
    {
        using var scope = NewDisposeScope();
        var reconstruction = F64(3.0, 5.0);
        foreach (var reduction in new[] { LossReduction.Mean, LossReduction.Sum, LossReduction.None })
        {
            using var elbo = VaeLosses.Elbo(reconstruction, Mu(), LogVar(), beta: 0.5, reduction: reduction);
            using var kl = VaeLosses.KlDivergenceStandardNormal(Mu(), LogVar(), reduction);
            Close(Values(kl), elbo.Kl, 1e-12, $"{reduction} Kl");
            double[] expectedReconstruction = reduction switch
            {
                LossReduction.Mean => new[] { 4.0 },
                LossReduction.Sum => new[] { 8.0 },
                _ => new[] { 3.0, 5.0 },
            };
            Close(expectedReconstruction, elbo.Reconstruction, 1e-12, $"{reduction} Reconstruction");
            Close(Values(elbo.Reconstruction).Zip(Values(elbo.Kl), (r, k) => r + 0.5 * k).ToArray(), elbo.Loss, 1e-12, $"{reduction} Loss");
        }
        // Disposing the ElboLoss (above, including with None) must leave the caller's tensor alive.
        Close(new[] { 3.0, 5.0 }, reconstruction, 0);
        Close(Values(VaeLosses.KlDivergenceStandardNormal(Mu(), LogVar(), freeBits: 0.2)),
            VaeLosses.Elbo(F64(0.0, 0.0), Mu(), LogVar(), freeBits: 0.2).Kl, 1e-12, "free bits pass through");
    }

    [TestMethod]
    public void LogDensities_MatchHandComputedValues_AndBroadcastOverSamples()
    {
        using var scope = NewDisposeScope();
        var z = F64(new long[] { 1, 2 }, 1, 0);
        // −½(log 2π + 0 + 1) − ½(log 2π + log 4 + 0)
        Close(new[] { -0.5 * (Log2Pi + 1) - 0.5 * (Log2Pi + Math.Log(4)) },
            VaeLosses.GaussianLogDensity(z, F64(new long[] { 1, 2 }, 0, 0), F64(new long[] { 1, 2 }, 0, Math.Log(4))), 1e-12);
        Close(new[] { -0.5 * (2 * Log2Pi + 1) }, VaeLosses.StandardNormalLogDensity(z), 1e-12);

        var samples = randn(new long[] { 3, 2, 4 }, ScalarType.Float64, generator: new Generator(5)); // [k, B, L]
        var mu = randn(new long[] { 2, 4 }, ScalarType.Float64, generator: new Generator(6));
        var logVar = randn(new long[] { 2, 4 }, ScalarType.Float64, generator: new Generator(7));
        var broadcast = VaeLosses.GaussianLogDensity(samples, mu, logVar);
        CollectionAssert.AreEqual(new long[] { 3, 2 }, broadcast.shape);
        Close(Values(VaeLosses.GaussianLogDensity(samples, mu.expand(3, 2, 4), logVar.expand(3, 2, 4))), broadcast, 1e-12);
        Close(Values(VaeLosses.GaussianLogDensity(samples, zeros_like(samples), zeros_like(samples))),
            VaeLosses.StandardNormalLogDensity(samples), 1e-12);
    }

    [TestMethod]
    public void ImportanceWeightedNll_WithOneSample_IsTheSingleSampleNegativeElbo()
    {
        using var scope = NewDisposeScope();
        var g = new Generator(11);
        var x = rand(new long[] { 4, 6 }, ScalarType.Float64, generator: g);
        var mu = randn(new long[] { 4, 2 }, ScalarType.Float64, generator: g);
        var logVar = randn(new long[] { 4, 2 }, ScalarType.Float64, generator: g).mul(0.3);
        var decoder = randn(new long[] { 2, 6 }, ScalarType.Float64, generator: g);
        var z = mu + logVar.mul(0.5).exp() * randn(new long[] { 4, 2 }, ScalarType.Float64, generator: g);

        var reconstructionNll = VaeLosses.BernoulliNllWithLogits(z.matmul(decoder), x, LossReduction.None);
        var logPrior = VaeLosses.StandardNormalLogDensity(z);
        var logPosterior = VaeLosses.GaussianLogDensity(z, mu, logVar);
        var iwae = VaeLosses.ImportanceWeightedNll(reconstructionNll.neg().unsqueeze(0), logPrior.unsqueeze(0), logPosterior.unsqueeze(0), LossReduction.None);
        // −(log p(x|z) + log p(z) − log q(z|x)) for the same z.
        Close(Values(reconstructionNll + logPosterior - logPrior), iwae, 1e-12);
    }

    [TestMethod]
    public void ImportanceWeightedNll_IsBelowTheElbo_AndApproachesTheTrueLogLikelihood()
    {
        using var scope = NewDisposeScope();
        // Linear Gaussian model: z ~ N(0, 1), x | z ~ N(w z + b, σ² I₂), so p(x) = N(b, w wᵀ + σ² I) and the
        // posterior p(z | x) = N(m, 1/P) with P = 1 + |w|²/σ², m = wᵀ(x − b)/(σ² P).
        double[] w = { 1.5, -0.5 }, b = { 0.2, 0.1 };
        double sigma2 = 0.25, wNorm2 = w[0] * w[0] + w[1] * w[1], precision = 1 + wNorm2 / sigma2;
        double[][] data = { new[] { 1.0, 0.3 }, new[] { -0.8, 0.9 }, new[] { 2.0, -0.5 } };
        double[] trueNll = data.Select(x =>
        {
            double[] d = { x[0] - b[0], x[1] - b[1] };
            double wd = w[0] * d[0] + w[1] * d[1];
            double quad = ((d[0] * d[0] + d[1] * d[1]) - wd * wd / (sigma2 + wNorm2)) / sigma2; // Sherman–Morrison
            double logDet = 2 * Math.Log(sigma2) + Math.Log(precision);                         // determinant lemma
            return Log2Pi + 0.5 * logDet + 0.5 * quad;
        }).ToArray();
        double[] posteriorMean = data.Select(x => (w[0] * (x[0] - b[0]) + w[1] * (x[1] - b[1])) / (sigma2 * precision)).ToArray();

        var wT = tensor(w);
        var bT = tensor(b);
        var logSigma2 = full(1, Math.Log(sigma2), ScalarType.Float64);
        // Mean IWAE NLL of each data point over `repeats` independent estimates, proposal
        // q(z | x) = N(m + shift, varianceScale / P).
        double[] Estimate(int k, int repeats, double shift, double varianceScale, Generator g)
        {
            using var inner = NewDisposeScope();
            var x = tensor(Enumerable.Range(0, repeats).SelectMany(_ => data.SelectMany(v => v)).ToArray()).reshape(-1, 2);    // [N, 2]
            var qMean = tensor(Enumerable.Range(0, repeats).SelectMany(_ => posteriorMean).Select(m => m + shift).ToArray()).reshape(-1, 1); // [N, 1]
            var qLogVar = full(1, Math.Log(varianceScale / precision), ScalarType.Float64);
            var z = qMean + qLogVar.mul(0.5).exp() * randn(new long[] { k, qMean.shape[0], 1 }, ScalarType.Float64, generator: g); // [k, N, 1]
            var nll = VaeLosses.ImportanceWeightedNll(
                VaeLosses.GaussianLogDensity(x, z * wT + bT, logSigma2),
                VaeLosses.StandardNormalLogDensity(z),
                VaeLosses.GaussianLogDensity(z, qMean, qLogVar), LossReduction.None);
            return Values(nll.reshape(repeats, data.Length).mean(new long[] { 0 }));
        }

        // The exact posterior as proposal makes every importance weight equal p(x): the bound is tight for any k.
        Close(trueNll, tensor(Estimate(3, 2, 0, 1, new Generator(1))), 1e-9, "exact posterior");

        // A shifted, over-dispersed proposal: the bound tightens as k grows, from the ELBO (k = 1) towards −log p(x).
        var generator = new Generator(2024);
        var byK = new[] { 1, 4, 16, 64 }.Select(k => (k, nll: Estimate(k, 2000, 0.5, 3.0, generator))).ToArray();
        var large = Estimate(1000, 200, 0.5, 3.0, generator);
        for (int i = 0; i < data.Length; i++)
        {
            Assert.IsGreaterThan(trueNll[i] + 0.1, byK[0].nll[i], $"x{i}: the ELBO (k = 1) should be visibly loose");
            for (int j = 1; j < byK.Length; j++)
            {
                Assert.IsLessThan(byK[j - 1].nll[i], byK[j].nll[i],
                    $"x{i}: IWAE NLL with k = {byK[j].k} must be below k = {byK[j - 1].k}");
            }
            Assert.IsGreaterThan(trueNll[i] - 0.01, byK[^1].nll[i], $"x{i}: the bound stays above −log p(x) (up to noise)");
            Assert.AreEqual(trueNll[i], large[i], 0.01, $"x{i}: k = 1000 should be within 0.01 nats of −log p(x)");
        }
    }

    [TestMethod]
    public void Losses_StayFinite_ForExtremeLogitsAndLogVariances()
    {
        using var scope = NewDisposeScope();
        var logits = F32(new long[] { 2, 2 }, 100, -100, -100, 100).requires_grad_(true);
        var bits = F32(new long[] { 2, 2 }, 0, 1, 0, 1);
        var mu = F32(new long[] { 2, 2 }, 3, -3, 0, 1).requires_grad_(true);
        var logVar = F32(new long[] { 2, 2 }, 30, -30, -30, 30).requires_grad_(true);
        var categorical = F32(new long[] { 2, 1, 3 }, 100, -100, 0, -100, 100, 100).requires_grad_(true);
        var losses = new (string, Tensor, Tensor[])[]
        {
            ("BernoulliNllWithLogits", VaeLosses.BernoulliNllWithLogits(logits, bits), new[] { logits }),
            ("KL", VaeLosses.KlDivergenceStandardNormal(mu, logVar), new[] { mu, logVar }),
            ("GaussianNll(logVar)", VaeLosses.GaussianNll(mu, logVar, bits), new[] { mu, logVar }),
            ("GaussianLogDensity", VaeLosses.GaussianLogDensity(bits, mu, logVar).sum(), new[] { mu, logVar }),
            ("CategoricalNll", VaeLosses.CategoricalNll(categorical, tensor(new long[] { 1, 0 }).reshape(2, 1)), new[] { categorical }),
            ("ImportanceWeightedNll", VaeLosses.ImportanceWeightedNll(logits.mul(1e30f), logVar, logits), new[] { logits, logVar }),
        };
        foreach (var (name, loss, inputs) in losses)
        {
            AllFinite(loss, name);
            foreach (var grad in autograd.grad(new[] { loss }, inputs))
            {
                AllFinite(grad, $"gradient of {name}");
            }
        }
    }

    [TestMethod]
    public void Gradients_MatchFiniteDifferences()
    {
        using var scope = NewDisposeScope();
        var g = new Generator(99);
        var a = randn(new long[] { 3, 4 }, ScalarType.Float64, generator: g);
        var b = randn(new long[] { 3, 4 }, ScalarType.Float64, generator: g);
        var x01 = rand(new long[] { 3, 4 }, ScalarType.Float64, generator: g);
        var p = rand(new long[] { 3, 4 }, ScalarType.Float64, generator: g).mul(0.8).add(0.1);
        var perFeature = randn(new long[] { 4 }, ScalarType.Float64, generator: g);

        FiniteDifference.AssertGradientsMatch(t => VaeLosses.KlDivergenceStandardNormal(t[0], t[1]), a, b);
        FiniteDifference.AssertGradientsMatch(t => VaeLosses.KlDivergenceStandardNormal(t[0], t[1], LossReduction.None), a, b);
        FiniteDifference.AssertGradientsMatch(t => VaeLosses.KlDivergenceStandardNormal(t[0], t[1], freeBits: 0.05), Mu(), LogVar());
        FiniteDifference.AssertGradientsMatch(t => VaeLosses.BernoulliNllWithLogits(t[0], x01, LossReduction.Sum), a);
        FiniteDifference.AssertGradientsMatch(t => VaeLosses.BernoulliNll(t[0], x01), p);
        FiniteDifference.AssertGradientsMatch(t => VaeLosses.GaussianNll(t[0], b, 0.7), a);
        FiniteDifference.AssertGradientsMatch(t => VaeLosses.GaussianNll(t[0], t[1], b, LossReduction.None), a, perFeature);
        FiniteDifference.AssertGradientsMatch(t => VaeLosses.GaussianNll(t[0], t[1], x01), a, b);
        FiniteDifference.AssertGradientsMatch(t => VaeLosses.CategoricalNll(t[0], tensor(new long[] { 0, 3, 1, 2, 2, 0 }).reshape(3, 2)), a.reshape(3, 2, 2).repeat(1, 1, 2));
        FiniteDifference.AssertGradientsMatch(t => VaeLosses.CategoricalNll(t[0], t[1].softmax(-1)), a.reshape(3, 2, 2), b.reshape(3, 2, 2));
        FiniteDifference.AssertGradientsMatch(t => VaeLosses.Elbo(t[0], t[1], t[2], beta: 0.7).Loss, perFeature[0..3], a, b);
        FiniteDifference.AssertGradientsMatch(t => VaeLosses.GaussianLogDensity(t[0], t[1], t[2]), x01, a, b);
        FiniteDifference.AssertGradientsMatch(t => VaeLosses.StandardNormalLogDensity(t[0]), a);
        FiniteDifference.AssertGradientsMatch(t => VaeLosses.ImportanceWeightedNll(t[0], t[1], t[2]), a, b, x01);
    }

    [TestMethod]
    public void Losses_LeaveOnlyTheirResults_AndDoNotTouchTheirInputs()
    {
        using var scope = NewDisposeScope();
        var mu = Mu();
        var logVar = LogVar();
        var logits = F64(new long[] { 2, 2 }, 0, 1, 2, 3);
        var labels = tensor(new long[] { 0, 1 });
        LeavesOnly(1, () => VaeLosses.KlDivergenceStandardNormal(mu, logVar, freeBits: 0.1), "KlDivergenceStandardNormal");
        var probabilities = logits.sigmoid();
        var bits = F64(new long[] { 2, 2 }, 0, 1, 0.5, 1);
        LeavesOnly(1, () => VaeLosses.BernoulliNll(probabilities, bits, LossReduction.None), "BernoulliNll");
        LeavesOnly(1, () => VaeLosses.BernoulliNllWithLogits(logits, bits), "BernoulliNllWithLogits");
        LeavesOnly(1, () => VaeLosses.GaussianNll(logits, mu, 1.5), "GaussianNll(σ)");
        LeavesOnly(1, () => VaeLosses.GaussianNll(logits, logVar, mu), "GaussianNll(logVar)");
        LeavesOnly(1, () => VaeLosses.CategoricalNll(logits, labels), "CategoricalNll");
        var reconstruction = labels.to_type(ScalarType.Float64);
        LeavesOnly(3, () => VaeLosses.Elbo(reconstruction, mu, logVar, reduction: LossReduction.None), "Elbo");
        LeavesOnly(3, () => VaeLosses.Elbo(reconstruction, mu, logVar, freeBits: 0.3), "Elbo");
        LeavesOnly(1, () => VaeLosses.GaussianLogDensity(logits, mu, logVar), "GaussianLogDensity");
        LeavesOnly(1, () => VaeLosses.StandardNormalLogDensity(logits), "StandardNormalLogDensity");
        LeavesOnly(1, () => VaeLosses.ImportanceWeightedNll(logits, mu, logVar), "ImportanceWeightedNll");
        Close(new[] { 0.5, -1.0, 0, 0 }, mu, 0, "mu unchanged");
        Close(new[] { 0.0, 1, 2, 3 }, logits, 0, "logits unchanged");
        Assert.IsFalse(mu.requires_grad);
    }

    public static IEnumerable<object[]> BadInputs()
    {
        static Tensor M(params long[] shape) => zeros(shape);
        yield return Case<ArgumentNullException>("KL null mu", () => VaeLosses.KlDivergenceStandardNormal(null!, M(2, 3)), "mu", "[B, L]");
        yield return Case<ArgumentNullException>("KL null logVar", () => VaeLosses.KlDivergenceStandardNormal(M(2, 3), null!), "logVar", "[B, L]");
        yield return Case<ArgumentException>("KL shape mismatch", () => VaeLosses.KlDivergenceStandardNormal(M(2, 3), M(2, 4)), "logVar", "[2, 3]", "[2, 4]");
        yield return Case<ArgumentException>("KL rank 1", () => VaeLosses.KlDivergenceStandardNormal(M(3), M(3)), "mu", "rank 2", "[3]");
        yield return Case<ArgumentException>("KL int mu", () => VaeLosses.KlDivergenceStandardNormal(zeros(2, 3, ScalarType.Int64), M(2, 3)), "mu", "Int64", "float32 or float64", "to_type");
        yield return Case<ArgumentException>("KL dtype mismatch", () => VaeLosses.KlDivergenceStandardNormal(M(2, 3), zeros(2, 3, ScalarType.Float64)), "logVar", "Float64", "Float32");
        yield return Case<ArgumentException>("KL empty batch", () => VaeLosses.KlDivergenceStandardNormal(M(0, 3), M(0, 3)), "mu", "empty batch", "[0, 3]");
        yield return Case<ArgumentOutOfRangeException>("KL negative free bits", () => VaeLosses.KlDivergenceStandardNormal(M(2, 3), M(2, 3), freeBits: -0.5), "freeBits", "≥ 0", "-0.5");
        yield return Case<ArgumentOutOfRangeException>("KL NaN free bits", () => VaeLosses.KlDivergenceStandardNormal(M(2, 3), M(2, 3), freeBits: double.NaN), "freeBits", "NaN");
        yield return Case<ArgumentOutOfRangeException>("KL unknown reduction", () => VaeLosses.KlDivergenceStandardNormal(M(2, 3), M(2, 3), (LossReduction)7), "reduction", "Mean, Sum, None", "7");
        yield return Case<ArgumentException>("BCE-logits target shape", () => VaeLosses.BernoulliNllWithLogits(M(2, 3), M(3, 2)), "target", "[2, 3]", "[3, 2]");
        yield return Case<ArgumentException>("BCE-logits int target", () => VaeLosses.BernoulliNllWithLogits(M(2, 3), zeros(2, 3, ScalarType.Int32)), "target", "Int32");
        yield return Case<ArgumentNullException>("BCE-logits null target", () => VaeLosses.BernoulliNllWithLogits(M(2, 3), null!), "target", "[2, 3]");
        yield return Case<ArgumentException>("BCE-logits scalar", () => VaeLosses.BernoulliNllWithLogits(tensor(1f), tensor(1f)), "logits", "rank 1 or more", "[]");
        yield return Case<ArgumentOutOfRangeException>("BCE probability above 1", () => VaeLosses.BernoulliNll(F32(new long[] { 1, 2 }, 0.5f, 1.5f), M(1, 2)), "probabilities", "[0.5, 1.5]", "BernoulliNllWithLogits");
        yield return Case<ArgumentOutOfRangeException>("BCE NaN probability", () => VaeLosses.BernoulliNll(F32(new long[] { 1, 2 }, 0.5f, float.NaN), M(1, 2)), "probabilities", "NaN");
        yield return Case<ArgumentOutOfRangeException>("Gaussian sigma 0", () => VaeLosses.GaussianNll(M(2, 3), M(2, 3), 0.0), "sigma", "> 0", "is 0");
        yield return Case<ArgumentOutOfRangeException>("Gaussian sigma negative", () => VaeLosses.GaussianNll(M(2, 3), M(2, 3), -1.0), "sigma", "-1");
        yield return Case<ArgumentOutOfRangeException>("Gaussian sigma infinite", () => VaeLosses.GaussianNll(M(2, 3), M(2, 3), double.PositiveInfinity), "sigma", "finite");
        yield return Case<ArgumentException>("Gaussian logVar not broadcastable", () => VaeLosses.GaussianNll(M(2, 4), M(3), M(2, 4)), "logVar", "[3]", "[2, 4]", "broadcasts", "[4]");
        yield return Case<ArgumentException>("Gaussian logVar larger than mean", () => VaeLosses.GaussianNll(M(2, 4), M(5, 2, 4), M(2, 4)), "logVar", "[5, 2, 4]");
        yield return Case<ArgumentException>("Gaussian target shape", () => VaeLosses.GaussianNll(M(2, 4), M(4), M(2, 3)), "target", "[2, 4]", "[2, 3]");
        yield return Case<ArgumentException>("Categorical float index-shaped target", () => VaeLosses.CategoricalNll(M(2, 3, 5), M(2, 3)), "target", "float", "[2, 3, 5]", "int64");
        yield return Case<ArgumentException>("Categorical int32 target", () => VaeLosses.CategoricalNll(M(2, 3, 5), zeros(2, 3, ScalarType.Int32)), "target", "Int32", "Int64");
        yield return Case<ArgumentException>("Categorical index shape", () => VaeLosses.CategoricalNll(M(2, 3, 5), zeros(2, 4, ScalarType.Int64)), "target", "[2, 3]", "[2, 4]");
        yield return Case<ArgumentOutOfRangeException>("Categorical index = C", () => VaeLosses.CategoricalNll(M(1, 2, 5), tensor(new long[] { 0, 5 }).reshape(1, 2)), "target", "[0, 4]", "5 classes");
        yield return Case<ArgumentOutOfRangeException>("Categorical negative index", () => VaeLosses.CategoricalNll(M(1, 2, 5), tensor(new long[] { -1, 2 }).reshape(1, 2)), "target", "[0, 4]", "-1");
        yield return Case<ArgumentException>("Categorical rank 1 logits", () => VaeLosses.CategoricalNll(M(5), zeros(1, ScalarType.Int64)), "logits", "[B, G, C]", "[5]");
        yield return Case<ArgumentOutOfRangeException>("Elbo negative beta", () => VaeLosses.Elbo(M(2), M(2, 3), M(2, 3), beta: -1), "beta", "≥ 0", "-1");
        yield return Case<ArgumentException>("Elbo unreduced reconstruction", () => VaeLosses.Elbo(M(2, 6), M(2, 3), M(2, 3)), "reconstructionNll", "[2]", "[2, 6]", "LossReduction.None");
        yield return Case<ArgumentException>("Elbo batch mismatch", () => VaeLosses.Elbo(M(3), M(2, 3), M(2, 3)), "reconstructionNll", "2", "[3]");
        yield return Case<ArgumentException>("Log density not broadcastable", () => VaeLosses.GaussianLogDensity(M(4, 3), M(2, 3), M(2, 3)), "[4, 3]", "[2, 3]", "broadcast");
        yield return Case<ArgumentException>("Standard normal density of a scalar", () => VaeLosses.StandardNormalLogDensity(tensor(1f)), "z", "[..., L]");
        yield return Case<ArgumentException>("IWAE k = 0", () => VaeLosses.ImportanceWeightedNll(M(0, 3), M(0, 3), M(0, 3)), "logLikelihood", "k = 0", "k ≥ 1");
        yield return Case<ArgumentException>("IWAE rank 1", () => VaeLosses.ImportanceWeightedNll(M(3), M(3), M(3)), "logLikelihood", "rank 2", "[k, B]");
        yield return Case<ArgumentException>("IWAE shape mismatch", () => VaeLosses.ImportanceWeightedNll(M(4, 3), M(4, 3), M(3, 4)), "logPosterior", "[4, 3]", "[3, 4]");
        yield return Case<ArgumentNullException>("IWAE null prior", () => VaeLosses.ImportanceWeightedNll(M(4, 3), null!, M(4, 3)), "logPrior", "[k, B]");
    }

    [TestMethod]
    [DynamicData(nameof(BadInputs), DynamicDataDisplayName = nameof(CaseName), DynamicDataDisplayNameDeclaringType = typeof(LossAssert))]
    public void BadInput_ThrowsAnArgumentExceptionThatSaysWhatIsWrong(string name, Action check) => check();
}
