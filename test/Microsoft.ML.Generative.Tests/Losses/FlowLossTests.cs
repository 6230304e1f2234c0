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
public sealed class FlowLossTests
{
    private static readonly double Log2Pi = Math.Log(2 * Math.PI);

    [TestMethod]
    [DataRow(ScalarType.Float32, 1e-4)]
    [DataRow(ScalarType.Float64, 1e-12)]
    public void NegativeLogLikelihood_OfAnAffineFlow_IsTheGaussianDensityItImplies(ScalarType dtype, double tolerance)
    {
        using var scope = NewDisposeScope();
        // z = (x − m)/s maps N(m, diag s²) onto N(0, I), with log|det ∂z/∂x| = −Σ log s. The flow NLL must be
        // −log N(x; m, diag s²) = Σ_d [½ log 2π + log s_d + (x_d − m_d)²/(2 s_d²)].
        double[] m = { 0.5, -1.0, 2.0 }, s = { 0.3, 1.0, 2.5 };
        var x = randn(new long[] { 4, 3 }, ScalarType.Float64, generator: new Generator(21)).mul(2);
        double[] xs = x.data<double>().ToArray();
        var expected = Enumerable.Range(0, 4).Select(i => Enumerable.Range(0, 3).Sum(d =>
            0.5 * Log2Pi + Math.Log(s[d]) + Math.Pow(xs[i * 3 + d] - m[d], 2) / (2 * s[d] * s[d]))).ToArray();

        var z = ((x - tensor(m)) / tensor(s)).to_type(dtype);
        var logDet = full(4, -s.Sum(Math.Log), dtype);
        Close(expected, FlowLosses.NegativeLogLikelihood(z, logDet, LossReduction.None), tolerance);
        ReductionsAgree(r => FlowLosses.NegativeLogLikelihood(z, logDet, r), 4, dtype);
        // The same per example for an image-shaped z [B, C, H, W].
        Close(new[] { 2 * Log2Pi - 1.5 }, FlowLosses.NegativeLogLikelihood(zeros(new long[] { 1, 1, 2, 2 }, dtype), full(1, 1.5, dtype)), tolerance);
    }

    [TestMethod]
    public void UniformDequantize_AddsNoiseBelowTheNextLevel_WithTheLogDetOfTheScaling()
    {
        using var scope = NewDisposeScope();
        var x = tensor(new double[] { 0, 3, 1, 2, 3, 3, 0, 0, 2, 1, 0, 3 }).reshape(3, 2, 2).requires_grad_(true);
        var (y, logDet) = FlowLosses.UniformDequantize(x, 4, new Generator(5));
        var lower = Values(x / 4);
        var values = Values(y);
        for (int i = 0; i < values.Length; i++)
        {
            Assert.IsTrue(values[i] >= lower[i] && values[i] < lower[i] + 0.25, $"y[{i}] = {values[i]} must lie in [x/4, (x+1)/4)");
        }
        Close(Enumerable.Repeat(-4 * Math.Log(4), 3).ToArray(), logDet, 1e-12);
        Assert.AreEqual(ScalarType.Float64, logDet.dtype);

        // log|det| of the autograd Jacobian of x ↦ y (noise held fixed) for one example.
        Close(-4 * Math.Log(4), LogAbsDetJacobian(v => FlowLosses.UniformDequantize(v, 4, new Generator(5)).Value, x.detach()[0..1]), 1e-12);

        var again = FlowLosses.UniformDequantize(x, 4, new Generator(5)).Value;
        Close(values, again, 0, "same generator seed, same noise");
        Assert.AreNotEqual(values[0], Values(FlowLosses.UniformDequantize(x, 4, new Generator(6)).Value)[0]);
    }

    [TestMethod]
    public void LogitTransform_MatchesHandValues_AndTheAutogradJacobian()
    {
        using var scope = NewDisposeScope();
        // α = 0.05: p = 0.05 + 0.9 y = [0.275, 0.5, 0.86], s = log(p / (1 − p)).
        var y = F64(new long[] { 1, 3 }, 0.25, 0.5, 0.9);
        var (s, logDet) = FlowLosses.LogitTransform(y);
        Close(new[] { Math.Log(0.275 / 0.725), 0, Math.Log(0.86 / 0.14) }, s, 1e-12);
        Close(new[] { 4.799716365696857 }, logDet, 1e-12);
        Close(Values(logDet)[0], LogAbsDetJacobian(v => FlowLosses.LogitTransform(v).Value, y), 1e-10, "autograd Jacobian");

        var interior = rand(new long[] { 1, 2, 3 }, ScalarType.Float64, generator: new Generator(9)).mul(0.98).add(0.01);
        Close(Values(FlowLosses.LogitTransform(interior, alpha: 0).LogDetJacobian)[0],
            LogAbsDetJacobian(v => FlowLosses.LogitTransform(v, alpha: 0).Value, interior), 1e-10, "α = 0");
        Close(Values(interior.logit()), FlowLosses.LogitTransform(interior, alpha: 0).Value, 1e-12, "α = 0 is the plain logit");

        // With α > 0 the end points map to finite values: ±log((1 − α)/α).
        var ends = F32(new long[] { 1, 2 }, 0f, 1f);
        var (endValues, endLogDet) = FlowLosses.LogitTransform(ends, 0.05);
        Close(new[] { -Math.Log(19), Math.Log(19) }, endValues, 1e-5);
        AllFinite(endLogDet, "log-det at 0 and 1");
        Assert.AreEqual(ScalarType.Float32, endValues.dtype);
    }

    [TestMethod]
    public void DequantizedData_UnderAUniformDensity_CostsLog2LevelsBitsPerDimension()
    {
        using var scope = NewDisposeScope();
        // If the model's density on y ∈ [0, 1)^D is uniform (log p(y) = 0), the discrete NLL bound is D log L and
        // bits/dim = log2 L: 8 for 8-bit data. This pins the sign convention of the dequantization log-det.
        var pixels = randint(0, 256, new long[] { 2, 3, 4, 4 }, generator: new Generator(3)).to_type(ScalarType.Float64);
        var (_, logDet) = FlowLosses.UniformDequantize(pixels, 256);
        var nll = logDet.neg(); // −(log p(y) + log-det) with log p(y) = 0
        Close(new[] { 8.0, 8.0 }, FlowLosses.BitsPerDimension(nll, 3 * 4 * 4), 1e-12);
        Assert.AreEqual(8.0, FlowLosses.BitsPerDimension(48 * Math.Log(256), 48), 1e-12);
        Assert.AreEqual(-0.5, FlowLosses.BitsPerDimension(-Math.Log(2), 2), 1e-15, "continuous NLLs may be negative");

        // The whole chain, dequantize → logit → standard normal, adds its log-dets.
        var (y, deqLogDet) = FlowLosses.UniformDequantize(pixels, 256, new Generator(4));
        var (z, logitLogDet) = FlowLosses.LogitTransform(y);
        var chain = FlowLosses.NegativeLogLikelihood(z, deqLogDet + logitLogDet, LossReduction.None);
        var byHand = Values(VaeLosses.StandardNormalLogDensity(z.reshape(2, -1)).neg() - deqLogDet - logitLogDet);
        Close(byHand, chain, 1e-9);
    }

    [TestMethod]
    public void ExamplesWithoutDimensions_HaveZeroLogDet()
    {
        using var scope = NewDisposeScope();
        var empty = zeros(2, 0);
        Close(new[] { 0.0, 0 }, FlowLosses.LogitTransform(empty, alpha: 0).LogDetJacobian, 0);
        Close(new[] { 0.0, 0 }, FlowLosses.UniformDequantize(empty, 256).LogDetJacobian, 0);
        Close(new[] { -1.0, 2 }, FlowLosses.NegativeLogLikelihood(empty, F32(1f, -2f), LossReduction.None), 0);
    }

    [TestMethod]
    public void Gradients_MatchFiniteDifferences()
    {
        using var scope = NewDisposeScope();
        var g = new Generator(17);
        var z = randn(new long[] { 3, 2, 2 }, ScalarType.Float64, generator: g);
        var logDet = randn(new long[] { 3 }, ScalarType.Float64, generator: g);
        var y = rand(new long[] { 2, 3 }, ScalarType.Float64, generator: g).mul(0.9).add(0.05);
        FiniteDifference.AssertGradientsMatch(t => FlowLosses.NegativeLogLikelihood(t[0], t[1]), z, logDet);
        FiniteDifference.AssertGradientsMatch(t => FlowLosses.NegativeLogLikelihood(t[0], t[1], LossReduction.None), z, logDet);
        FiniteDifference.AssertGradientsMatch(t => FlowLosses.LogitTransform(t[0]).Value, y);
        FiniteDifference.AssertGradientsMatch(t => FlowLosses.LogitTransform(t[0]).LogDetJacobian, y);
        FiniteDifference.AssertGradientsMatch(t => FlowLosses.LogitTransform(t[0], alpha: 0).LogDetJacobian, y);
        FiniteDifference.AssertGradientsMatch(t => FlowLosses.BitsPerDimension(t[0], 12), logDet);
    }

    [TestMethod]
    public void Functions_LeaveOnlyTheirResults_AndDoNotTouchTheirInputs()
    {
        using var scope = NewDisposeScope();
        var z = F64(new long[] { 2, 2 }, 0.1, 0.2, 0.3, 0.4);
        var logDet = F64(1.0, 2.0);
        var levels = F64(new long[] { 2, 2 }, 0, 1, 2, 3);
        LeavesOnly(1, () => FlowLosses.NegativeLogLikelihood(z, logDet), "NegativeLogLikelihood");
        var (flatZ, flatLogDet) = (z.reshape(-1), logDet.repeat(2));
        LeavesOnly(1, () => FlowLosses.NegativeLogLikelihood(flatZ, flatLogDet, LossReduction.None), "NegativeLogLikelihood (rank 1)");
        LeavesOnly(2, () => FlowLosses.UniformDequantize(levels, 4), "UniformDequantize");
        LeavesOnly(2, () => FlowLosses.LogitTransform(z), "LogitTransform");
        LeavesOnly(1, () => FlowLosses.BitsPerDimension(logDet, 3), "BitsPerDimension");
        Close(new[] { 0.1, 0.2, 0.3, 0.4 }, z, 0);
        Close(new[] { 0.0, 1, 2, 3 }, levels, 0);
    }

    /// <summary>log|det| of the Jacobian of f at one example [1, ...], built row by row with autograd.</summary>
    private static double LogAbsDetJacobian(Func<Tensor, Tensor> f, Tensor example)
    {
        using var scope = NewDisposeScope();
        var input = example.detach().clone().requires_grad_(true);
        var output = f(input).reshape(-1);
        long n = output.shape[0];
        var rows = Enumerable.Range(0, (int)n)
            .Select(i => autograd.grad(new[] { output[i] }, new[] { input }, retain_graph: true)[0].reshape(-1))
            .ToArray();
        var (_, logAbsDet) = linalg.slogdet(stack(rows));
        return logAbsDet.ToDouble();
    }

    public static IEnumerable<object[]> BadInputs()
    {
        static Tensor M(params long[] shape) => zeros(shape);
        yield return Case<ArgumentNullException>("null z", () => FlowLosses.NegativeLogLikelihood(null!, M(2)), "z", "[B, ...]");
        yield return Case<ArgumentException>("log-det not summed", () => FlowLosses.NegativeLogLikelihood(M(2, 3), M(2, 3)), "logDetJacobian", "[2]", "[2, 3]", "Sum it");
        yield return Case<ArgumentException>("log-det batch mismatch", () => FlowLosses.NegativeLogLikelihood(M(2, 3), M(4)), "logDetJacobian", "[2]", "[4]");
        yield return Case<ArgumentException>("log-det dtype", () => FlowLosses.NegativeLogLikelihood(M(2, 3), zeros(2, ScalarType.Float64)), "logDetJacobian", "Float64", "Float32");
        yield return Case<ArgumentException>("int z", () => FlowLosses.NegativeLogLikelihood(zeros(2, 3, ScalarType.Int32), M(2)), "z", "Int32");
        yield return Case<ArgumentOutOfRangeException>("unknown reduction", () => FlowLosses.NegativeLogLikelihood(M(2, 3), M(2), (LossReduction)4), "reduction", "4");
        yield return Case<ArgumentOutOfRangeException>("levels 1", () => FlowLosses.UniformDequantize(M(2, 3), 1), "levels", "at least 2", "is 1");
        yield return Case<ArgumentOutOfRangeException>("already scaled data", () => FlowLosses.UniformDequantize(F32(new long[] { 1, 2 }, 0.25f, 1f), 256), "x", "integer levels in [0, 255]", "non-integers", "not data already scaled");
        yield return Case<ArgumentOutOfRangeException>("level too high", () => FlowLosses.UniformDequantize(F32(new long[] { 1, 2 }, 0f, 256f), 256), "x", "[0, 255]", "256");
        yield return Case<ArgumentOutOfRangeException>("negative level", () => FlowLosses.UniformDequantize(F32(new long[] { 1, 2 }, -1f, 3f), 4), "x", "[0, 3]", "-1");
        yield return Case<ArgumentException>("int data", () => FlowLosses.UniformDequantize(zeros(2, 3, ScalarType.Int64), 256), "x", "Int64", "to_type");
        yield return Case<ArgumentOutOfRangeException>("alpha 0.5", () => FlowLosses.LogitTransform(M(2, 3), 0.5), "alpha", "[0, 0.5)", "0.5");
        yield return Case<ArgumentOutOfRangeException>("negative alpha", () => FlowLosses.LogitTransform(M(2, 3), -0.1), "alpha", "-0.1");
        yield return Case<ArgumentOutOfRangeException>("y above 1", () => FlowLosses.LogitTransform(F32(new long[] { 1, 2 }, 0.5f, 1.5f)), "y", "[0, 1]", "1.5");
        yield return Case<ArgumentOutOfRangeException>("y = 0 with alpha 0", () => FlowLosses.LogitTransform(F32(new long[] { 1, 2 }, 0f, 0.5f), 0), "y", "(0, 1) when alpha = 0", "alpha > 0");
        yield return Case<ArgumentOutOfRangeException>("0 dimensions", () => FlowLosses.BitsPerDimension(M(2), 0), "dimensions", "≥ 1", "is 0");
        yield return Case<ArgumentOutOfRangeException>("0 dimensions (double)", () => FlowLosses.BitsPerDimension(1.0, -3), "dimensions", "-3");
        yield return Case<ArgumentOutOfRangeException>("NaN NLL", () => FlowLosses.BitsPerDimension(double.NaN, 3), "nll", "NaN");
        yield return Case<ArgumentNullException>("null NLL tensor", () => FlowLosses.BitsPerDimension(null!, 3), "nll");
    }

    [TestMethod]
    [DynamicData(nameof(BadInputs), DynamicDataDisplayName = nameof(CaseName), DynamicDataDisplayNameDeclaringType = typeof(LossAssert))]
    public void BadInput_ThrowsAnArgumentExceptionThatSaysWhatIsWrong(string name, Action check) => check();
}
