using System;
using System.Linq;
using Microsoft.ML.Generative.Losses;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static Microsoft.ML.Generative.Tests.Losses.Reference;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Tests.Losses;

/// <summary>
/// −log softmax where one class dominates: log_softmax's ℓ_y − logsumexp rounded every value below ε·|logsumexp| to
/// 0 (logits [40, 0] gave 0; the true value is 4.25e-18). References in managed float64: for two classes
/// −log softmax = softplus(ℓ_other − ℓ_y); for more, m − ℓ_y + log1p(Σ_{c≠argmax} e^(ℓ_c − m)) summed in double.
/// </summary>
[TestClass]
public sealed class CrossEntropyPrecisionTests
{
    /// <summary>
    /// A few unit roundoffs, plus the problem's own conditioning: e^(ℓ_c − m) changes by a relative |ℓ_c − m|·u when
    /// the difference is rounded, so the value is only defined to about (largest gap)·u (the reference uses the exact
    /// differences of the stored inputs).
    /// </summary>
    private static double Tolerance(ScalarType dtype, double gap) => (8 + 2 * gap) * (dtype == ScalarType.Float32 ? 5.96e-8 : 1.11e-16);

    private static void AssertRelative(double expected, double actual, ScalarType dtype, string what, double gap = 0)
        => Assert.IsLessThanOrEqualTo(Tolerance(dtype, gap), RelativeError(expected, actual),
            $"{what}: expected {expected:R}, got {actual:R} (relative error {RelativeError(expected, actual):G3})");

    private static double Stored(double value, ScalarType dtype) => dtype == ScalarType.Float32 ? (float)value : value;

    /// <summary>Managed float64 −log softmax(ℓ)_y with label smoothing ε.</summary>
    private static double ReferenceNll(double[] logits, int y, double epsilon = 0)
    {
        double m = logits.Max();
        int argmax = Array.IndexOf(logits, m);
        double rest = 0;
        for (int c = 0; c < logits.Length; c++)
            if (c != argmax) rest += Math.Exp(logits[c] - m);
        double gapMean = logits.Average(l => m - l);
        return (1 - epsilon) * (m - logits[y]) + epsilon * gapMean + Log1P(rest);
    }

    // e^−80 ≈ 1.8e-35 is still a normal float32; e^−100 is subnormal there (fewer significant bits), so float64 only.
    private static double[] Gaps(ScalarType dtype) => dtype == ScalarType.Float32
        ? new[] { 0, 1e-6, 0.5, 1, 5, 20, 36.7, 40, 60, 80 }
        : new[] { 0, 1e-6, 0.5, 1, 5, 20, 36.7, 40, 60, 80, 100, 700 };

    [TestMethod]
    [DataRow(ScalarType.Float32)]
    [DataRow(ScalarType.Float64)]
    public void CategoricalNll_OfTwoClasses_IsSoftplusOfTheGap_ForIndexAndOneHotTargets(ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        foreach (double gap in Gaps(dtype))
        {
            double g = Stored(gap, dtype);
            var logits = tensor(new[] { g, 0.0 }).reshape(1, 1, 2).to_type(dtype);
            // The dominant class: softplus(−g) ≈ e^−g; the other one: softplus(g) = g + softplus(−g).
            double dominant = Softplus(-g), other = Softplus(g);
            AssertRelative(dominant, VaeLosses.CategoricalNll(logits, tensor(new long[] { 0 }).reshape(1, 1)).ToDouble(), dtype, $"index target, gap {gap}", g);
            AssertRelative(other, VaeLosses.CategoricalNll(logits, tensor(new long[] { 1 }).reshape(1, 1)).ToDouble(), dtype, $"losing class, gap {gap}", g);
            var oneHot = tensor(new[] { 1.0, 0.0 }).reshape(1, 1, 2).to_type(dtype);
            AssertRelative(dominant, VaeLosses.CategoricalNll(logits, oneHot).ToDouble(), dtype, $"one-hot target, gap {gap}", g);
        }
        // The example: logits [40, 0] gave exactly 0.
        Assert.IsGreaterThan(4e-18, VaeLosses.CategoricalNll(tensor(new[] { 40f, 0f }).reshape(1, 1, 2), tensor(new long[] { 0 }).reshape(1, 1)).ToDouble());
    }

    [TestMethod]
    [DataRow(ScalarType.Float32, 0.0)]
    [DataRow(ScalarType.Float64, 0.0)]
    [DataRow(ScalarType.Float32, 0.1)]
    [DataRow(ScalarType.Float64, 0.1)]
    public void NextTokenCrossEntropy_IsExactForNearlyCertainTokens(ScalarType dtype, double epsilon)
    {
        using var scope = NewDisposeScope();
        var random = new Random(3);
        foreach (double gap in Gaps(dtype))
        {
            // Five positions of a vocabulary of 6; the target is the dominant token at some positions, not at others.
            var rows = Enumerable.Range(0, 5).Select(t => Enumerable.Range(0, 6).Select(v => Stored(random.NextDouble() * 2 - 1 - (v == t ? -gap : 0), dtype)).ToArray()).ToArray();
            var targets = new long[] { 0, 1, 3, -100, 2 };
            var logits = tensor(rows.SelectMany(r => r).ToArray()).reshape(1, 5, 6).to_type(dtype);
            var perSequence = SequenceLosses.NextTokenCrossEntropy(logits, tensor(targets).reshape(1, 5), labelSmoothing: epsilon, reduction: LossReduction.Sum).ToDouble();
            double expected = Enumerable.Range(0, 5).Where(t => targets[t] >= 0).Sum(t => ReferenceNll(rows[t], (int)targets[t], epsilon));
            AssertRelative(expected, perSequence, dtype, $"gap {gap}, ε {epsilon}", gap + 2);
            // One position alone, the dominant token: the tiny value itself.
            var single = SequenceLosses.NextTokenCrossEntropy(logits[.., 0..1], tensor(new long[] { 0 }).reshape(1, 1), labelSmoothing: epsilon).ToDouble();
            AssertRelative(ReferenceNll(rows[0], 0, epsilon), single, dtype, $"dominant token alone, gap {gap}, ε {epsilon}", gap + 2);
        }
    }

    [TestMethod]
    public void Gradients_AreSoftmaxMinusTarget_IncludingTiesAndDominantClasses()
    {
        using var scope = NewDisposeScope();
        var logits = tensor(new[] { 3.0, 3.0, -1.0, 0.5, 30.0, 0.1, -2.0, 1.0, 1.5, 0.2, 0.2, -0.7 }).reshape(2, 2, 3);
        FiniteDifference.AssertGradientsMatch(t => VaeLosses.CategoricalNll(t[0], tensor(new long[] { 0, 2, 1, 1 }).reshape(2, 2), LossReduction.None), logits);
        var soft = tensor(new[] { 0.2, 0.3, 0.5, 0.0, 1.0, 0.0, 0.6, 0.4, 0.0, 1.0 / 3, 1.0 / 3, 1.0 / 3 }).reshape(2, 2, 3);
        FiniteDifference.AssertGradientsMatch(t => VaeLosses.CategoricalNll(t[0], soft, LossReduction.Sum), logits);
        FiniteDifference.AssertGradientsMatch(t => SequenceLosses.NextTokenCrossEntropy(t[0], tensor(new long[] { 0, -100, 1, 2 }).reshape(2, 2), labelSmoothing: 0.2), logits);
    }

    [TestMethod]
    public void AZeroProbabilitySoftTarget_IgnoresAMinusInfinityLogit()
    {
        using var scope = NewDisposeScope();
        var logits = tensor(new[] { 0f, float.NegativeInfinity, 1f }).reshape(1, 1, 3);
        var nll = VaeLosses.CategoricalNll(logits, tensor(new[] { 0.5f, 0f, 0.5f }).reshape(1, 1, 3)).ToDouble();
        Assert.AreEqual(0.5 * Softplus(1) + 0.5 * Softplus(-1), nll, 1e-6);
        Assert.AreEqual(double.PositiveInfinity, VaeLosses.CategoricalNll(logits, tensor(new long[] { 1 }).reshape(1, 1)).ToDouble());
    }

    [TestMethod]
    public void TheTrainingPath_AgreesWithThePublicLoss_InValueAndGradient()
    {
        using var scope = NewDisposeScope();
        var generator = new Generator(4);
        var logits = randn(new long[] { 3, 7, 11 }, dtype: ScalarType.Float64, generator: generator).mul_(3);
        var targets = randint(11, new long[] { 3, 7 }, generator: generator).index_put_(tensor(-100L), tensor(new long[] { 1 }), tensor(new long[] { 2 }));
        foreach (double epsilon in new[] { 0.0, 0.1 })
        {
            var a = logits.detach().requires_grad_(true);
            var b = logits.detach().requires_grad_(true);
            var exact = SequenceLosses.NextTokenCrossEntropy(a, targets, -100, epsilon);
            var fused = SequenceLosses.NextTokenCrossEntropyUnchecked(b, targets, -100, epsilon);
            Assert.AreEqual(exact.ToDouble(), fused.ToDouble(), 1e-12, $"value, ε {epsilon}");
            exact.backward();
            fused.backward();
            Assert.IsTrue(a.grad!.allclose(b.grad!, rtol: 1e-10, atol: 1e-14), $"gradient, ε {epsilon}");
        }
    }
}
