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
public sealed class SequenceLossTests
{
    private const long Pad = -100;

    [TestMethod]
    public void NextTokenCrossEntropy_MatchesHandComputedValues()
    {
        using var scope = NewDisposeScope();
        // One sequence of two tokens, V = 3: softmax [1/6, 2/6, 3/6] predicts token 2 (−log ½), uniform predicts 0 (−log ⅓).
        var logits = F64(new long[] { 1, 2, 3 }, 0, Math.Log(2), Math.Log(3), 1, 1, 1);
        var targets = tensor(new long[] { 2, 0 }).reshape(1, 2);
        Close((Math.Log(2) + Math.Log(3)) / 2, SequenceLosses.NextTokenCrossEntropy(logits, targets), 1e-12, "mean per token");
        Close(Math.Log(2) + Math.Log(3), SequenceLosses.NextTokenCrossEntropy(logits, targets, reduction: LossReduction.Sum), 1e-12);
        Close(new[] { Math.Log(2) + Math.Log(3) }, SequenceLosses.NextTokenCrossEntropy(logits, targets, reduction: LossReduction.None), 1e-12);
        // Label smoothing ε = 0.3 on the first token: 0.7·(−log ½) + 0.1·(−log ⅙ − log ⅓ − log ½).
        Close(0.8435549202375727, SequenceLosses.NextTokenCrossEntropy(logits[.., 0..1], targets[.., 0..1], labelSmoothing: 0.3), 1e-12);
    }

    [TestMethod]
    [DataRow(-100L)]
    [DataRow(0L)] // a padding id inside the vocabulary
    public void NextTokenCrossEntropy_OfAPaddedBatch_EqualsTheUnpaddedSequences(long padId)
    {
        using var scope = NewDisposeScope();
        var g = new Generator(12);
        // Two sequences of lengths 4 and 2 (tokens 1..4), padded to T = 4. The padded positions get large logits,
        // which must not matter.
        var logits = randn(new long[] { 2, 4, 5 }, ScalarType.Float64, generator: g);
        logits[1, 2..4] = full(new long[] { 2, 5 }, 50.0, ScalarType.Float64);
        var targets = tensor(new long[] { 1, 4, 2, 3, 2, 1, padId, padId }).reshape(2, 4);
        foreach (var smoothing in new[] { 0.0, 0.2 })
        {
            var first = SequenceLosses.NextTokenCrossEntropy(logits[0..1, 0..4], targets[0..1, 0..4], padId, smoothing, LossReduction.Sum).ToDouble();
            var second = SequenceLosses.NextTokenCrossEntropy(logits[1..2, 0..2], targets[1..2, 0..2], padId, smoothing, LossReduction.Sum).ToDouble();
            Close(new[] { first, second }, SequenceLosses.NextTokenCrossEntropy(logits, targets, padId, smoothing, LossReduction.None), 1e-12, $"None, ε = {smoothing}");
            Close(first + second, SequenceLosses.NextTokenCrossEntropy(logits, targets, padId, smoothing, LossReduction.Sum), 1e-12, $"Sum, ε = {smoothing}");
            Close((first + second) / 6, SequenceLosses.NextTokenCrossEntropy(logits, targets, padId, smoothing), 1e-12, $"Mean over the 6 real tokens, ε = {smoothing}");
            ReductionsAgree(r => SequenceLosses.NextTokenCrossEntropy(logits, targets, padId, smoothing, r), 2, ScalarType.Float64, meanDenominator: 6);
        }
    }

    [TestMethod]
    [DataRow(0.0)]
    [DataRow(0.1)]
    [DataRow(0.9)]
    public void NextTokenCrossEntropy_WithLabelSmoothing_MatchesAnIndependentComputation(double smoothing)
    {
        using var scope = NewDisposeScope();
        var g = new Generator(3);
        const int B = 3, T = 5, V = 7;
        var logits = randn(new long[] { B, T, V }, ScalarType.Float64, generator: g).mul(3);
        long[] ids = randint(0, V, new long[] { B * T }, generator: g).data<long>().ToArray();
        ids[4] = ids[13] = ids[14] = Pad;
        var targets = tensor(ids).reshape(B, T);

        // Plain C#: log p_v = ℓ_v − log Σ exp ℓ, loss = −(1 − ε) log p_y − (ε/V) Σ_v log p_v over non-padded tokens.
        double[] l = logits.data<double>().ToArray();
        double total = 0;
        int count = 0;
        for (int t = 0; t < B * T; t++)
        {
            if (ids[t] == Pad)
            {
                continue;
            }
            var row = l.Skip(t * V).Take(V).ToArray();
            double max = row.Max();
            double logZ = max + Math.Log(row.Sum(v => Math.Exp(v - max)));
            total += -(1 - smoothing) * (row[ids[t]] - logZ) - smoothing / V * row.Sum(v => v - logZ);
            count++;
        }
        Close(total / count, SequenceLosses.NextTokenCrossEntropy(logits, targets, labelSmoothing: smoothing), 1e-12);
        Close(total, SequenceLosses.NextTokenCrossEntropy(logits, targets, labelSmoothing: smoothing, reduction: LossReduction.Sum), 1e-11);
    }

    [TestMethod]
    public void NextTokenCrossEntropy_WhenEveryPositionIsIgnored_IsZeroNotNaN()
    {
        using var scope = NewDisposeScope();
        var logits = randn(new long[] { 2, 3, 4 }, generator: new Generator(1)).requires_grad_(true);
        var targets = full(new long[] { 2, 3 }, Pad, ScalarType.Int64);
        var mean = SequenceLosses.NextTokenCrossEntropy(logits, targets, labelSmoothing: 0.1);
        Close(0, mean, 0);
        Close(0, SequenceLosses.NextTokenCrossEntropy(logits, targets, reduction: LossReduction.Sum), 0);
        Close(new[] { 0.0, 0 }, SequenceLosses.NextTokenCrossEntropy(logits, targets, reduction: LossReduction.None), 0);
        Close(new double[24], autograd.grad(new[] { mean }, new[] { logits })[0], 0, "no gradient from ignored positions");
    }

    [TestMethod]
    public void NextTokenCrossEntropy_OfEmptySequences_IsZero()
    {
        using var scope = NewDisposeScope();
        var logits = zeros(2, 0, 5);
        var targets = zeros(new long[] { 2, 0 }, ScalarType.Int64);
        Close(0, SequenceLosses.NextTokenCrossEntropy(logits, targets), 0);
        Close(new[] { 0.0, 0 }, SequenceLosses.NextTokenCrossEntropy(logits, targets, reduction: LossReduction.None), 0);
    }

    [TestMethod]
    public void PerplexityAndBitsPerToken_ConvertTheMeanNll()
    {
        using var scope = NewDisposeScope();
        Assert.AreEqual(5.0, SequenceLosses.Perplexity(Math.Log(5)), 1e-12);
        Assert.AreEqual(3.0, SequenceLosses.BitsPerToken(Math.Log(8)), 1e-12);
        Assert.AreEqual(1.0, SequenceLosses.Perplexity(0), 0);
        Close(5.0, SequenceLosses.Perplexity(tensor(Math.Log(5))), 1e-12);
        Close(new[] { 3.0, 1.0 }, SequenceLosses.BitsPerToken(F32(MathF.Log(8), MathF.Log(2))), 1e-6);
        Assert.AreEqual(ScalarType.Float32, SequenceLosses.Perplexity(F32(1f)).dtype);

        // A model that knows nothing (uniform over V = 11) has perplexity V and log2(V) bits per token.
        var uniform = zeros(2, 6, 11);
        var targets = randint(0, 11, new long[] { 2, 6 }, generator: new Generator(4));
        var meanNll = SequenceLosses.NextTokenCrossEntropy(uniform, targets);
        Close(11.0, SequenceLosses.Perplexity(meanNll), 1e-4);
        Assert.AreEqual(Math.Log2(11), SequenceLosses.BitsPerToken(meanNll.ToDouble()), 1e-6);
    }

    [TestMethod]
    public void NextTokenCrossEntropy_GradientsMatchFiniteDifferences()
    {
        using var scope = NewDisposeScope();
        var logits = randn(new long[] { 2, 3, 4 }, ScalarType.Float64, generator: new Generator(8));
        var targets = tensor(new long[] { 3, 0, Pad, 1, 2, 2 }).reshape(2, 3);
        FiniteDifference.AssertGradientsMatch(t => SequenceLosses.NextTokenCrossEntropy(t[0], targets), logits);
        FiniteDifference.AssertGradientsMatch(t => SequenceLosses.NextTokenCrossEntropy(t[0], targets, labelSmoothing: 0.25, reduction: LossReduction.None), logits);
        FiniteDifference.AssertGradientsMatch(t => SequenceLosses.Perplexity(t[0].sum().div(10)).add(SequenceLosses.BitsPerToken(t[0].sum())), logits);
    }

    [TestMethod]
    public void NextTokenCrossEntropy_StaysFinite_ForLogitsOfPlusMinus100_AndLeavesOnlyItsResult()
    {
        using var scope = NewDisposeScope();
        var logits = F32(new long[] { 1, 2, 3 }, 100, -100, 0, -100, 100, 100).requires_grad_(true);
        var targets = tensor(new long[] { 1, 0 }).reshape(1, 2);
        var loss = SequenceLosses.NextTokenCrossEntropy(logits, targets, labelSmoothing: 0.1);
        AllFinite(loss, "loss");
        // Two confident mistakes: 0.9·200 + 0.1/3·(0 + 200 + 100) = 190 and 0.9·(200 + ln 2) + 0.1/3·(200 + 3 ln 2).
        Close((190 + 200 * 0.9 + 200 * 0.1 / 3 + Math.Log(2)) / 2, loss, 1e-3);
        AllFinite(autograd.grad(new[] { loss }, new[] { logits })[0], "gradient");
        foreach (var reduction in new[] { LossReduction.Mean, LossReduction.Sum, LossReduction.None })
        {
            LeavesOnly(1, () => SequenceLosses.NextTokenCrossEntropy(logits, targets, reduction: reduction), $"NextTokenCrossEntropy {reduction}");
        }
        Assert.AreEqual(ScalarType.Float32, loss.dtype);
        CollectionAssert.AreEqual(new long[] { 1, 0 }, targets.data<long>().ToArray(), "targets unchanged");
    }

    public static IEnumerable<object[]> BadInputs()
    {
        static Tensor L(params long[] shape) => zeros(shape);
        static Tensor Ids(long b, long t) => zeros(new long[] { b, t }, ScalarType.Int64);
        yield return Case<ArgumentNullException>("null logits", () => SequenceLosses.NextTokenCrossEntropy(null!, Ids(2, 3)), "logits", "[B, T, V]");
        yield return Case<ArgumentNullException>("null targets", () => SequenceLosses.NextTokenCrossEntropy(L(2, 3, 5), null!), "targets", "[B, T]");
        yield return Case<ArgumentException>("rank-2 logits", () => SequenceLosses.NextTokenCrossEntropy(L(6, 5), Ids(2, 3)), "logits", "rank 3", "[B, T, V]", "[6, 5]");
        yield return Case<ArgumentException>("int logits", () => SequenceLosses.NextTokenCrossEntropy(zeros(2, 3, 5, ScalarType.Int64), Ids(2, 3)), "logits", "Int64", "float32 or float64");
        yield return Case<ArgumentException>("float targets", () => SequenceLosses.NextTokenCrossEntropy(L(2, 3, 5), L(2, 3)), "targets", "int64", "Float32", "to_type(ScalarType.Int64)");
        yield return Case<ArgumentException>("rank-1 targets", () => SequenceLosses.NextTokenCrossEntropy(L(2, 3, 5), zeros(6, ScalarType.Int64)), "targets", "rank 2", "[6]");
        yield return Case<ArgumentException>("unshifted targets", () => SequenceLosses.NextTokenCrossEntropy(L(2, 3, 5), Ids(2, 4)), "targets", "[2, 3]", "[2, 4]", "Shift");
        yield return Case<ArgumentOutOfRangeException>("target id = V", () => SequenceLosses.NextTokenCrossEntropy(L(1, 2, 5), tensor(new long[] { 0, 5 }).reshape(1, 2)), "targets", "[0, 4]", "holds 5", "ignoreIndex");
        yield return Case<ArgumentOutOfRangeException>("-1 that is not ignoreIndex", () => SequenceLosses.NextTokenCrossEntropy(L(1, 2, 5), tensor(new long[] { -1, 2 }).reshape(1, 2)), "targets", "holds -1", "-100");
        yield return Case<ArgumentOutOfRangeException>("labelSmoothing 1", () => SequenceLosses.NextTokenCrossEntropy(L(2, 3, 5), Ids(2, 3), labelSmoothing: 1.0), "labelSmoothing", "[0, 1)", "is 1");
        yield return Case<ArgumentOutOfRangeException>("labelSmoothing negative", () => SequenceLosses.NextTokenCrossEntropy(L(2, 3, 5), Ids(2, 3), labelSmoothing: -0.1), "labelSmoothing", "-0.1");
        yield return Case<ArgumentOutOfRangeException>("labelSmoothing NaN", () => SequenceLosses.NextTokenCrossEntropy(L(2, 3, 5), Ids(2, 3), labelSmoothing: double.NaN), "labelSmoothing", "NaN");
        yield return Case<ArgumentOutOfRangeException>("unknown reduction", () => SequenceLosses.NextTokenCrossEntropy(L(2, 3, 5), Ids(2, 3), reduction: (LossReduction)5), "reduction", "5");
        yield return Case<ArgumentException>("empty batch", () => SequenceLosses.NextTokenCrossEntropy(L(0, 3, 5), Ids(0, 3)), "logits", "empty batch");
        yield return Case<ArgumentOutOfRangeException>("negative mean NLL (perplexity)", () => SequenceLosses.Perplexity(-0.5), "meanNll", "≥ 0", "-0.5", "not the log-likelihood");
        yield return Case<ArgumentOutOfRangeException>("NaN mean NLL (bits)", () => SequenceLosses.BitsPerToken(double.NaN), "meanNll", "NaN");
        yield return Case<ArgumentException>("int tensor perplexity", () => SequenceLosses.Perplexity(tensor(3L)), "meanNll", "Int64");
        yield return Case<ArgumentNullException>("null tensor bits", () => SequenceLosses.BitsPerToken((Tensor)null!), "meanNll");
    }

    [TestMethod]
    [DynamicData(nameof(BadInputs), DynamicDataDisplayName = nameof(CaseName), DynamicDataDisplayNameDeclaringType = typeof(LossAssert))]
    public void BadInput_ThrowsAnArgumentExceptionThatSaysWhatIsWrong(string name, Action check) => check();
}
