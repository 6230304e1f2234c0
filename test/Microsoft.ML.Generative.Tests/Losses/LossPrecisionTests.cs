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
                if (dtype == ScalarType.Float32 && expected < 1e-37)
                {
                    // Below float32's normal range: only the absolute error is meaningful.
                    Assert.AreEqual(expected, kl[i], 1e-44, $"KL at mu {mu}, logVar {logVars[i]:R}");
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
}
