using System;
using System.Collections.Generic;
using Microsoft.ML.Generative.Losses;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static Microsoft.ML.Generative.Tests.Losses.LossAssert;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Tests.Losses;

/// <summary>
/// Every argument with a restricted domain, given a value outside it: an ArgumentOutOfRangeException (or
/// ArgumentException) that names the argument, the domain and the value or range seen. Shape, dtype and null cases
/// are in each family's loss tests.
/// </summary>
[TestClass]
public sealed class LossDomainTests
{
    [TestMethod]
    public void BernoulliNll_TheIssueInput_RejectsTheTarget()
    {
        // Issue 14: BernoulliNll(probabilities: [[0.9]], target: [[7]]) returned −13.08 with no error.
        var e = Throws<ArgumentOutOfRangeException>(
            () => VaeLosses.BernoulliNll(F32(new long[] { 1, 1 }, 0.9f), F32(new long[] { 1, 1 }, 7f)),
            "target must lie in [0, 1]", "[7, 7]");
        Assert.AreEqual("target", e.ParamName);
    }

    public static IEnumerable<object[]> OutOfDomain()
    {
        static Tensor M(params long[] shape) => zeros(shape);
        static Tensor Row(params float[] values) => F32(new long[] { 1, values.Length }, values);

        // VaeLosses.BernoulliNllWithLogits(logits, target): target ∈ [0, 1].
        yield return Case<ArgumentOutOfRangeException>("BernoulliNllWithLogits target above 1", () => VaeLosses.BernoulliNllWithLogits(M(1, 2), Row(0.5f, 2f)), "target", "[0, 1]", "[0.5, 2]");
        yield return Case<ArgumentOutOfRangeException>("BernoulliNllWithLogits target below 0", () => VaeLosses.BernoulliNllWithLogits(M(1, 2), Row(-0.25f, 1f)), "target", "[0, 1]", "[-0.25, 1]");
        yield return Case<ArgumentOutOfRangeException>("BernoulliNllWithLogits NaN target", () => VaeLosses.BernoulliNllWithLogits(M(1, 2), Row(float.NaN, 1f)), "target", "[0, 1]", "NaN");
        // VaeLosses.BernoulliNll(probabilities, target): both ∈ [0, 1].
        yield return Case<ArgumentOutOfRangeException>("BernoulliNll target above 1", () => VaeLosses.BernoulliNll(Row(0.9f, 0.1f), Row(7f, 0f)), "target", "[0, 1]", "[0, 7]");
        yield return Case<ArgumentOutOfRangeException>("BernoulliNll target infinite", () => VaeLosses.BernoulliNll(Row(0.9f), Row(float.NegativeInfinity)), "target", "[0, 1]", "-Infinity");
        yield return Case<ArgumentOutOfRangeException>("BernoulliNll probabilities below 0", () => VaeLosses.BernoulliNll(Row(-0.1f, 0.5f), Row(0f, 1f)), "probabilities", "[0, 1]", "[-0.1, 0.5]");
        // VaeLosses.CategoricalNll(logits, target): soft targets are distributions.
        yield return Case<ArgumentOutOfRangeException>("CategoricalNll negative soft target", () => VaeLosses.CategoricalNll(M(1, 1, 3), F32(new long[] { 1, 1, 3 }, 1.5f, -0.5f, 0f)), "target", "≥ 0", "-0.5");
        yield return Case<ArgumentOutOfRangeException>("CategoricalNll soft target not summing to 1", () => VaeLosses.CategoricalNll(M(1, 2, 2), F32(new long[] { 1, 2, 2 }, 0.5f, 0.5f, 2f, 0f)), "target", "sum to 1", "[1, 2]");
    }

    [TestMethod]
    [DynamicData(nameof(OutOfDomain), DynamicDataDisplayName = nameof(CaseName), DynamicDataDisplayNameDeclaringType = typeof(LossAssert))]
    public void OutOfDomain_ThrowsAndNamesTheArgumentTheDomainAndTheValues(string name, Action check) => check();
}
