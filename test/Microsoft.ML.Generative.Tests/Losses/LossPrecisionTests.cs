using System;
using System.Linq;
using Microsoft.ML.Generative.Losses;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static Microsoft.ML.Generative.Tests.Losses.LossAssert;
using static Microsoft.ML.Generative.Tests.Losses.Reference;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Tests.Losses;

/// <summary>
/// The closed forms at tiny and huge magnitudes, in float32 and float64, against values computed independently in
/// managed float64 (<see cref="Reference"/>). float32 results are compared with the float64 reference at the same
/// (float32-rounded) inputs.
/// </summary>
[TestClass]
public sealed class LossPrecisionTests
{
    /// <summary>Relative tolerance in units of the dtype's unit roundoff (½ ulp of 1): 8 allows a few ulps.</summary>
    private static double Ulps(ScalarType dtype, double count = 8) => count * (dtype == ScalarType.Float32 ? 5.96e-8 : 1.11e-16);

    /// <summary>The input as the dtype stores it, back in float64.</summary>
    private static double Stored(double value, ScalarType dtype) => dtype == ScalarType.Float32 ? (float)value : value;

    private static void AssertRelative(double expected, double actual, double tolerance, string what)
    {
        if (double.IsInfinity(expected))
        {
            Assert.AreEqual(expected, actual, $"{what}: expected {expected}, got {actual:R}");
            return;
        }
        Assert.IsLessThanOrEqualTo(tolerance, RelativeError(expected, actual),
            $"{what}: expected {expected:R}, got {actual:R} (relative error {RelativeError(expected, actual):G3}, tolerance {tolerance:G3})");
    }

    // ---- KL(N(μ, e^λ) ‖ N(0, 1)) = ½(μ² + e^λ − 1 − λ) ----

    [TestMethod]
    public void Kl_TheIssueInputs_GiveTheirTrueValues()
    {
        using var scope = NewDisposeScope();
        // Issue 14: logVar = 1e-6f returned −2.98e-8 (true ≈ 2.5e-13); logVar = 1e-4f returned 0 (true ≈ 2.5e-9).
        foreach (float logVar in new[] { 1e-6f, 1e-4f })
        {
            var kl = VaeLosses.KlDivergenceStandardNormal(zeros(1, 1), tensor(new[] { logVar }).reshape(1, 1)).ToDouble();
            double expected = 0.5 * ExpM1MinusX(logVar);
            double leadingTerm = logVar * (double)logVar / 4;
            Assert.AreEqual(leadingTerm, 0.5 * ExpM1MinusX(logVar), leadingTerm * 1e-3, "reference ≈ λ²/4");
            AssertRelative(expected, kl, Ulps(ScalarType.Float32), $"KL at logVar = {logVar}");
        }
    }

    [TestMethod]
    [DataRow(ScalarType.Float32)]
    [DataRow(ScalarType.Float64)]
    public void Kl_IsExact_FromTinyToHugeLogVariances(ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        double[] magnitudes = { 1e-300, 1e-30, 1e-12, 1e-7, 1e-6, 1e-4, 1e-3, 0.01, 0.1, 0.3, 0.4999, 0.5, 0.5001, 0.7, 1, 2, 5, 20, 80 };
        var logVars = magnitudes.SelectMany(m => new[] { m, -m }).Concat(new[] { 0.0, -500, -1e4, 1e4, double.PositiveInfinity, double.NegativeInfinity })
            .Select(v => Stored(v, dtype)).ToArray();
        double[] mus = { 0, 1e-20, 1e-3 };
        foreach (double mu in mus.Select(m => Stored(m, dtype)))
        {
            var kl = Values(VaeLosses.KlDivergenceStandardNormal(full(logVars.Length, 1, mu, dtype), tensor(logVars, dtype).reshape(-1, 1), LossReduction.None));
            for (int i = 0; i < logVars.Length; i++)
            {
                double expected = 0.5 * (mu * mu + ExpM1MinusX(logVars[i]));
                if (dtype == ScalarType.Float32 && expected > float.MaxValue)
                {
                    expected = double.PositiveInfinity;
                }
                Assert.IsGreaterThanOrEqualTo(0, kl[i], $"KL must never be negative (mu {mu}, logVar {logVars[i]:R}): {kl[i]:R}");
                if (dtype == ScalarType.Float32 && Math.Abs(logVars[i]) < 1.5e-8)
                {
                    // float32 evaluates g(λ) as expm1(λ) − λ in float64: for |λ| < 1.5e-8 (g < 1.2e-16) the documented
                    // bound is absolute, 1.7e-24 on g, i.e. 8.5e-25 on ½g.
                    Assert.AreEqual(expected, kl[i], 8.5e-25 + Ulps(dtype) * expected, $"KL at mu {mu}, logVar {logVars[i]:R}");
                    continue;
                }
                AssertRelative(expected, kl[i], Ulps(dtype), $"KL at mu {mu}, logVar {logVars[i]:R}");
            }
        }
    }

    [TestMethod]
    [DataRow(ScalarType.Float32)]
    [DataRow(ScalarType.Float64)]
    public void Kl_OfNearlyCollapsedDimensions_IsNeverNegative(ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        // Issue 14: in float64, about 5% of random |logVar| ≤ 1e-3 came out negative.
        var g = new Generator(14);
        var logVar = rand(new long[] { 4000, 8 }, dtype, generator: g).mul_(2e-3).sub_(1e-3);
        var mu = randn(new long[] { 4000, 8 }, dtype, generator: g).mul_(1e-6);
        var perExample = VaeLosses.KlDivergenceStandardNormal(mu, logVar, LossReduction.None);
        Assert.IsGreaterThanOrEqualTo(0, perExample.min().ToDouble(), "per-example KL");
        var lv = Values(logVar);
        var m = Values(mu);
        var values = Values(perExample);
        for (int i = 0; i < 50; i++)
        {
            double expected = Enumerable.Range(0, 8).Sum(j => 0.5 * (m[i * 8 + j] * m[i * 8 + j] + ExpM1MinusX(lv[i * 8 + j])));
            AssertRelative(expected, values[i], Ulps(dtype, 16), $"example {i}");
        }
        Assert.IsGreaterThanOrEqualTo(0, VaeLosses.KlDivergenceStandardNormal(mu, logVar, freeBits: 1e-9).ToDouble(), "free bits");
    }

    [TestMethod]
    public void Kl_GradientMatchesFiniteDifferences_OnBothSidesOfTheSeriesBound()
    {
        using var scope = NewDisposeScope();
        var mu = F64(new long[] { 2, 5 }, 0.3, -0.2, 0, 1e-3, 2, -1, 0.5, 0.1, 0, 0);
        var logVar = F64(new long[] { 2, 5 }, -0.7, -0.4999, -1e-3, 0, 1e-4, 0.2, 0.4999, 0.5, 0.6, 3);
        FiniteDifference.AssertGradientsMatch(t => VaeLosses.KlDivergenceStandardNormal(t[0], t[1], LossReduction.None), mu, logVar);
        // ∂KL/∂λ = ½ expm1(λ): exact, also where the value is tiny.
        var leaf = F64(new long[] { 1, 3 }, 1e-8, -1e-5, 0.25).requires_grad_(true);
        var grad = autograd.grad(new[] { VaeLosses.KlDivergenceStandardNormal(zeros(1, 3, ScalarType.Float64), leaf, LossReduction.Sum) }, new[] { leaf })[0];
        var expected = new[] { 1e-8, -1e-5, 0.25 }.Select(x => 0.5 * (ExpM1MinusX(x) + x)).ToArray();
        var actual = Values(grad);
        for (int i = 0; i < 3; i++)
        {
            AssertRelative(expected[i], actual[i], 1e-9, $"∂KL/∂logVar[{i}]");
        }
    }

    // ---- Bernoulli: x·softplus(−ℓ) + (1 − x)·softplus(ℓ), and −x log p − (1 − x) log(1 − p) ----

    [TestMethod]
    [DataRow(ScalarType.Float32)]
    [DataRow(ScalarType.Float64)]
    public void BernoulliNllWithLogits_IsExact_ForTinyAndHugeLogits(ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        double[] magnitudes = { 0, 1e-30, 1e-8, 0.5, 1, 5, 15, 19, 21, 25, 30, 36, 45, 80, 100, 1e4, 1e30 };
        var logits = magnitudes.SelectMany(m => new[] { m, -m }).Select(v => Stored(v, dtype)).ToArray();
        foreach (double x in new[] { 0, 1, 0.5, 0.3, 1e-9 }.Select(v => Stored(v, dtype)))
        {
            var nll = Values(VaeLosses.BernoulliNllWithLogits(tensor(logits, dtype).reshape(-1, 1), full(logits.Length, 1, x, dtype), LossReduction.None));
            for (int i = 0; i < logits.Length; i++)
            {
                double expected = x * Softplus(-logits[i]) + (1 - x) * Softplus(logits[i]);
                Assert.IsGreaterThanOrEqualTo(0, nll[i], $"never negative (ℓ = {logits[i]:R}, x = {x:R})");
                if (expected < (dtype == ScalarType.Float32 ? 1e-37 : 1e-307))
                {
                    Assert.AreEqual(expected, nll[i], dtype == ScalarType.Float32 ? 1e-44 : 1e-322, $"ℓ = {logits[i]:R}, x = {x:R}");
                    continue;
                }
                AssertRelative(expected, nll[i], Ulps(dtype), $"ℓ = {logits[i]:R}, x = {x:R}");
            }
        }
    }

    [TestMethod]
    [DataRow(ScalarType.Float32)]
    [DataRow(ScalarType.Float64)]
    public void BernoulliNll_IsExact_NearZeroAndNeverNegative(ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        // Inside the clamp [ε, 1 − ε]; p → x is where x(log p − log(1 − p)) + log(1 − p) cancelled.
        double[] ps = { 1e-6, 1e-4, 0.01, 0.3, 0.5, 0.7, 0.99, 1 - 1e-4, 1 - 1e-6 };
        if (dtype == ScalarType.Float64)
        {
            ps = ps.Concat(new[] { 1e-11, 1 - 1e-10 }).ToArray();
        }
        ps = ps.Select(v => Stored(v, dtype)).ToArray();
        foreach (double x in new[] { 0, 1, 0.5, 0.3 }.Select(v => Stored(v, dtype)))
        {
            var nll = Values(VaeLosses.BernoulliNll(tensor(ps, dtype).reshape(-1, 1), full(ps.Length, 1, x, dtype), LossReduction.None));
            for (int i = 0; i < ps.Length; i++)
            {
                double expected = -x * Math.Log(ps[i]) - (1 - x) * Log1P(-ps[i]);
                Assert.IsGreaterThanOrEqualTo(0, nll[i], $"never negative (p = {ps[i]:R}, x = {x:R})");
                AssertRelative(expected, nll[i], Ulps(dtype), $"p = {ps[i]:R}, x = {x:R}");
            }
        }
    }

    [TestMethod]
    public void BernoulliGradients_MatchFiniteDifferences_ForConfidentDecoders()
    {
        using var scope = NewDisposeScope();
        var logits = F64(new long[] { 2, 4 }, -45, -30, -1e-3, 0, 2, 25, 38, 60);
        var x = F64(new long[] { 2, 4 }, 0, 1, 0.5, 1, 0, 1, 0.2, 1);
        FiniteDifference.AssertGradientsMatch(t => VaeLosses.BernoulliNllWithLogits(t[0], x, LossReduction.None), logits);
        // ∂/∂ℓ = σ(ℓ) − x, to the last bit where it is tiny.
        var leaf = logits.clone().requires_grad_(true);
        var grad = Values(autograd.grad(new[] { VaeLosses.BernoulliNllWithLogits(leaf, x, LossReduction.Sum) }, new[] { leaf })[0]);
        var l = Values(logits);
        var xs = Values(x);
        for (int i = 0; i < l.Length; i++)
        {
            // σ(ℓ) − x = x·(−σ(−ℓ)) + (1 − x)·σ(ℓ), each σ evaluated without cancellation.
            double expected = -xs[i] / (1 + Math.Exp(l[i])) + (1 - xs[i]) / (1 + Math.Exp(-l[i]));
            // For x ∉ {0, 1}, σ(ℓ) − x itself cancels near ℓ = logit(x): allow ε·x absolute there.
            Assert.AreEqual(expected, grad[i], 1e-14 * Math.Abs(expected) + 4e-16 * xs[i], $"∂NLL/∂ℓ[{i}]");
        }
        // Probabilities far enough from 0 and 1 for the finite-difference step (1e-5) to stay in [0, 1] and accurate.
        var p = F64(new long[] { 1, 4 }, 0.01, 0.3, 0.999, 0.9);
        FiniteDifference.AssertGradientsMatch(t => VaeLosses.BernoulliNll(t[0], F64(new long[] { 1, 4 }, 0, 1, 1, 0.5)), p);
    }

    // ---- Gaussian forms, ½z² forms and softplus forms at huge and tiny magnitudes ----

    [TestMethod]
    [DataRow(ScalarType.Float32)]
    [DataRow(ScalarType.Float64)]
    public void GaussianNll_FixedSigma_HasNoEarlyOverflowOrNaN(ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        double[] sigmas = dtype == ScalarType.Float32 ? new[] { 1e-30, 1e-3, 1, 1e30 } : new[] { 1e-300, 1e-3, 1, 1e300 };
        double[] residuals = { 0, 1e-20, 1, 1e10 };
        foreach (double sigma in sigmas)
        {
            var r = residuals.Select(v => Stored(v, dtype)).ToArray();
            var nll = Values(VaeLosses.GaussianNll(zeros(r.Length, 1, dtype), tensor(r, dtype).reshape(-1, 1), sigma, LossReduction.None));
            for (int i = 0; i < r.Length; i++)
            {
                double t = r[i] / sigma, quadratic = 0.5 * t * t, constant = 0.5 * Math.Log(2 * Math.PI) + Math.Log(sigma);
                double expected = quadratic + constant;
                if (dtype == ScalarType.Float32 && Math.Abs(expected) > float.MaxValue || double.IsInfinity(quadratic))
                {
                    Assert.AreEqual(double.PositiveInfinity, nll[i], $"σ = {sigma}, x − μ = {r[i]}: the true value overflows");
                    continue;
                }
                Assert.AreEqual(expected, nll[i], Ulps(dtype) * (quadratic + Math.Abs(constant)), $"σ = {sigma}, x − μ = {r[i]}");
            }
        }
    }

    [TestMethod]
    [DataRow(ScalarType.Float32)]
    [DataRow(ScalarType.Float64)]
    public void GaussianNll_LearnedLogVar_AndLogDensity_HaveNoEarlyOverflowOrNaN(ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        double[] logVars = { -150, -50, 0, 50, 150 };
        double[] residuals = { 0, 1e-30, 1, 1e15 };
        var pairs = logVars.SelectMany(l => residuals.Select(r => (l, r: Stored(r, dtype)))).ToArray();
        var lv = tensor(pairs.Select(p => p.l).ToArray(), dtype).reshape(-1, 1);
        var x = tensor(pairs.Select(p => p.r).ToArray(), dtype).reshape(-1, 1);
        var mean = zeros(pairs.Length, 1, dtype);
        var nll = Values(VaeLosses.GaussianNll(mean, lv, x, LossReduction.None));
        var density = Values(VaeLosses.GaussianLogDensity(x, mean, lv));
        for (int i = 0; i < pairs.Length; i++)
        {
            var (l, r) = pairs[i];
            double quadratic = 0.5 * r * r * Math.Exp(-l), rest = 0.5 * (Math.Log(2 * Math.PI) + l);
            double expected = quadratic + rest;
            string what = $"logVar = {l}, x − μ = {r}";
            if (dtype == ScalarType.Float32 && Math.Abs(expected) > float.MaxValue)
            {
                Assert.AreEqual(double.PositiveInfinity, nll[i], what);
                continue;
            }
            Assert.AreEqual(expected, nll[i], Ulps(dtype) * (quadratic + Math.Abs(rest)), $"GaussianNll: {what}");
            Assert.AreEqual(-expected, density[i], Ulps(dtype) * (quadratic + Math.Abs(rest)), $"GaussianLogDensity: {what}");
        }
    }

    [TestMethod]
    [DataRow(ScalarType.Float32)]
    [DataRow(ScalarType.Float64)]
    public void HalfSquareForms_OverflowOnlyWhenTheValueDoes(ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        // ½z² = 2e38 fits float32 (max 3.4e38) although z² = 4e38 does not; in float64 the same at 1.5e154.
        double z = dtype == ScalarType.Float32 ? 2e19 : 1.5e154;
        double expected = 0.5 * z * z;
        var big = full(1, 1, z, dtype);
        AssertRelative(expected + 0.5 * Math.Log(2 * Math.PI), FlowLosses.NegativeLogLikelihood(big, zeros(1, dtype), LossReduction.Sum).ToDouble(), Ulps(dtype), "flow NLL");
        AssertRelative(-expected - 0.5 * Math.Log(2 * Math.PI), VaeLosses.StandardNormalLogDensity(big).sum().ToDouble(), Ulps(dtype), "standard normal log-density");
        AssertRelative(expected, AdversarialLosses.GeneratorLoss(AdversarialLoss.LeastSquares, full(1, z + 1, dtype)).ToDouble(), Ulps(dtype), "LSGAN generator");
        AssertRelative(expected, AdversarialLosses.DiscriminatorLoss(AdversarialLoss.LeastSquares, ones(1, dtype), full(1, z, dtype)).ToDouble(), Ulps(dtype), "LSGAN discriminator");
    }

    [TestMethod]
    public void AdversarialSoftplusForms_AreExactInFloat64_BeyondLibtorchsThreshold()
    {
        using var scope = NewDisposeScope();
        // softplus(25) = 25 + 1.389e-11: libtorch's default threshold (20) returns 25, a relative error of 5.6e-13.
        foreach (double v in new[] { 19.0, 21, 25, 33, 39, 41, 60 })
        {
            var logit = F64(v);
            AssertRelative(2 * Softplus(v), AdversarialLosses.DiscriminatorLoss(AdversarialLoss.NonSaturating, F64(-v), logit).ToDouble(), Ulps(ScalarType.Float64), $"D at r = −{v}, f = {v}");
            AssertRelative(Softplus(-v), AdversarialLosses.GeneratorLoss(AdversarialLoss.NonSaturating, logit).ToDouble(), Ulps(ScalarType.Float64), $"G at f = {v}");
            AssertRelative(-Softplus(v), AdversarialLosses.GeneratorLoss(AdversarialLoss.Minimax, logit).ToDouble(), Ulps(ScalarType.Float64), $"minimax G at f = {v}");
        }
        FiniteDifference.AssertGradientsMatch(t => AdversarialLosses.DiscriminatorLoss(AdversarialLoss.NonSaturating, t[0], t[1], LossReduction.None), F64(-30, 25, 0.5), F64(22, -35, 45));
    }

    // ---- IWAE log-mean-exp, dequantization, perplexity ----

    [TestMethod]
    [DataRow(ScalarType.Float32)]
    [DataRow(ScalarType.Float64)]
    public void ImportanceWeightedNll_IsExact_WhenTheWeightsNearlyAgree(ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        // w = ±δ around c: −log mean e^w = −c − log cosh δ, a tiny correction that log k − logsumexp(w) loses.
        foreach (double c in new[] { 0.0, 1e-9, -3, 700 })
        {
            foreach (double delta in new[] { 1e-10, 1e-6, 1e-3, 0.5, 30 })
            {
                double hi = Stored(c + delta, dtype), lo = Stored(c - delta, dtype);
                var logLikelihood = tensor(new[] { hi, lo }, dtype).reshape(2, 1);
                var zero = zeros(2, 1, dtype);
                double actual = VaeLosses.ImportanceWeightedNll(logLikelihood, zero, zero).ToDouble();
                // −log((e^hi + e^lo)/2) = −mid − log cosh(half), mid = (hi + lo)/2, half = (hi − lo)/2.
                double mid = (hi + lo) / 2, half = (hi - lo) / 2;
                double logCosh = half < 0.1
                    ? half * half / 2 - Math.Pow(half, 4) / 12 + Math.Pow(half, 6) / 45 - 17 * Math.Pow(half, 8) / 2520
                    : half - Math.Log(2) + Log1P(Math.Exp(-2 * half));
                double expected = -mid - logCosh;
                double scale = Math.Abs(hi) + Math.Abs(expected) + 1e-300;
                if (dtype == ScalarType.Float32 && Math.Abs(c) > 1e30) continue;
                Assert.AreEqual(expected, actual, Ulps(dtype) * scale, $"c = {c}, δ = {delta}");
            }
        }
        FiniteDifference.AssertGradientsMatch(t => VaeLosses.ImportanceWeightedNll(t[0], t[1], t[2], LossReduction.None),
            F64(new long[] { 3, 2 }, 0.1, -5, 0.1 + 1e-7, 3, 2, -1), F64(new long[] { 3, 2 }, 0, 0, 0, 1, -2, 0.5), F64(new long[] { 3, 2 }, 0.3, 0, 0, 0, 0.1, 0));
    }

    [TestMethod]
    public void UniformDequantize_StaysBelowOne_AtTheTopLevel()
    {
        using var scope = NewDisposeScope();
        // In float32, (255 + u)/256 rounds to 1 for u ≥ 1 − 2⁻¹⁷: about 8 of these 10⁶ draws would.
        var (value, _) = FlowLosses.UniformDequantize(full(1, 1_000_000, 255f), 256, new Generator(3));
        Assert.IsLessThan(1.0, value.max().ToDouble(), "UniformDequantize documents values in [0, 1)");
        Assert.IsGreaterThanOrEqualTo(255.0 / 256, value.min().ToDouble());
    }

    [TestMethod]
    public void PerplexityAndBitsPerToken_OfANegativeTensorEntry_AreNaN_NotAFiniteWrongValue()
    {
        using var scope = NewDisposeScope();
        var values = Values(SequenceLosses.Perplexity(F32(-0.5f, 0f, 2f, 1000f)));
        Assert.IsTrue(double.IsNaN(values[0]), "exp(−0.5) < 1 is not a perplexity");
        Assert.AreEqual(1.0, values[1]);
        Assert.AreEqual(Math.Exp(2), values[2], 1e-5);
        Assert.AreEqual(double.PositiveInfinity, values[3], "overflow is +∞, not an exception");
        Assert.AreEqual(double.PositiveInfinity, SequenceLosses.Perplexity(1000.0), "the double form overflows to +∞ too");
        var bits = Values(SequenceLosses.BitsPerToken(F64(-1e-9, 1)));
        Assert.IsTrue(double.IsNaN(bits[0]));
        Assert.AreEqual(1 / Math.Log(2), bits[1], 1e-15);
    }

    // ---- logit transform near p = ½; the gradient penalty's norm at huge gradients ----

    [TestMethod]
    [DataRow(ScalarType.Float32, 0.05)]
    [DataRow(ScalarType.Float64, 0.05)]
    [DataRow(ScalarType.Float64, 0.0)]
    public void LogitTransform_KeepsItsRelativePrecisionNearOneHalf(ScalarType dtype, double alpha)
    {
        using var scope = NewDisposeScope();
        int bits = dtype == ScalarType.Float32 ? 23 : 52;
        var ys = Enumerable.Range(2, bits - 1).SelectMany(k => new[] { 0.5 + Math.Pow(2, -k), 0.5 - Math.Pow(2, -k) })
            .Concat(new[] { 0.5, 0.3, 0.2, 0.7, 0.76, 0.9, 0.01, 0.999 }).Select(y => Stored(y, dtype)).ToArray();
        var value = Values(FlowLosses.LogitTransform(tensor(ys).to_type(dtype).reshape(-1, 1), alpha).Value);
        double scale = Stored(1 - 2 * alpha, dtype);
        for (int i = 0; i < ys.Length; i++)
        {
            // logit p = 2·atanh(2p − 1), with 2p − 1 = 2(1 − 2α)(y − ½): independent of the library's forms.
            double expected = 2 * Math.Atanh(2 * scale * (ys[i] - 0.5));
            double tolerance = Ulps(dtype, 16);
            if (expected == 0)
                Assert.AreEqual(0.0, value[i], $"y = {ys[i]:R}");
            else
                AssertRelative(expected, value[i], tolerance, $"logit at y = {ys[i]:R} (α = {alpha})");
        }
    }

    [TestMethod]
    public void LogitTransform_Gradient_MatchesFiniteDifferences_OnBothBranches()
    {
        using var scope = NewDisposeScope();
        var y = F64(0.5, 0.5 + 1e-7, 0.6, 0.76, 0.9, 0.1, 0.23);
        FiniteDifference.AssertGradientsMatch(t => FlowLosses.LogitTransform(t[0].reshape(-1, 1)).Value, y);
        FiniteDifference.AssertGradientsMatch(t => FlowLosses.LogitTransform(t[0].reshape(-1, 1)).LogDetJacobian, y);
    }

    [TestMethod]
    public void GradientPenalty_IsFinite_UpToWhereThePenaltyItselfOverflows()
    {
        using var scope = NewDisposeScope();
        // D(x) = c·Σx has ‖∇D‖ = c·√D; the squared norm is summed in float32 (no rescaling), so it overflows only
        // past ‖∇D‖ ≈ 1.84e19, where (‖∇D‖ − 1)² itself exceeds float32's largest value.
        var real = zeros(2, 4);
        var fake = ones(2, 4);
        foreach (double norm in new[] { 1e-3, 1.0, 1e10, 1.5e19 })
        {
            double c = norm / 2;
            var penalty = AdversarialLosses.GradientPenalty(x => x.sum(new long[] { 1 }).mul(c), real, fake, reduction: LossReduction.None);
            double expected = ((double)(float)norm - 1) * ((double)(float)norm - 1);
            foreach (double v in Values(penalty))
                AssertRelative(expected, v, Ulps(ScalarType.Float32, 16), $"‖∇D‖ = {norm}");
        }
        var huge = AdversarialLosses.GradientPenalty(x => x.sum(new long[] { 1 }).mul(1e20f), real, fake);
        Assert.AreEqual(double.PositiveInfinity, huge.ToDouble(), "(2e20 − 1)² overflows float32: +∞, never NaN");
    }
}
