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
}
