using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Generative.Losses;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Tests.Losses;

/// <summary>Assertions and tensor builders shared by the loss tests.</summary>
internal static class LossAssert
{
    public static double[] Values(Tensor t) => t.detach().to_type(ScalarType.Float64).contiguous().data<double>().ToArray();

    public static void Close(double expected, Tensor actual, double tolerance = 1e-6, string? what = null)
    {
        Assert.AreEqual(0, actual.dim(), $"{what}: expected a scalar, got shape [{string.Join(", ", actual.shape)}]");
        Assert.AreEqual(expected, actual.ToDouble(), tolerance, what);
    }

    public static void Close(double[] expected, Tensor actual, double tolerance = 1e-6, string? what = null)
    {
        var values = Values(actual);
        Assert.HasCount(expected.Length, values, $"{what}: element count");
        for (int i = 0; i < values.Length; i++)
        {
            Assert.AreEqual(expected[i], values[i], tolerance, $"{what}: element {i}");
        }
    }

    public static void AllFinite(Tensor t, string what)
    {
        var values = Values(t);
        Assert.IsTrue(values.All(double.IsFinite), $"{what} has non-finite values: {string.Join(", ", values.Take(8))}");
    }

    /// <summary>
    /// None is [B] with the input dtype; Sum = None.sum(); Mean = None.mean() (or <paramref name="meanDenominator"/>
    /// when the mean is over something other than the batch).
    /// </summary>
    public static void ReductionsAgree(Func<LossReduction, Tensor> loss, long batch, ScalarType dtype, double? meanDenominator = null)
    {
        using var scope = NewDisposeScope();
        var none = loss(LossReduction.None);
        var sum = loss(LossReduction.Sum);
        var mean = loss(LossReduction.Mean);
        CollectionAssert.AreEqual(new[] { batch }, none.shape, "None must return one value per example");
        foreach (var t in new[] { none, sum, mean })
        {
            Assert.AreEqual(dtype, t.dtype, "result dtype must be the input dtype");
        }
        double total = Values(none).Sum();
        double tolerance = dtype == ScalarType.Float64 ? 1e-10 : 1e-4;
        Close(total, sum, tolerance * Math.Max(1, Math.Abs(total)), "Sum");
        double expectedMean = total / (meanDenominator ?? batch);
        Close(expectedMean, mean, tolerance * Math.Max(1, Math.Abs(expectedMean)), "Mean");
    }

    /// <summary>Runs <paramref name="call"/> in a fresh dispose scope and checks that it leaves exactly <paramref name="results"/> tensors there.</summary>
    public static void LeavesOnly(int results, Action call, string what)
    {
        using var scope = NewDisposeScope();
        int before = scope.DisposablesCount;
        call();
        Assert.AreEqual(before + results, scope.DisposablesCount, $"{what} must leave only its result(s) in the caller's scope");
    }

    public static TException Throws<TException>(Action act, params string[] fragments)
        where TException : Exception
    {
        TException e;
        using (NewDisposeScope())
        {
            e = Assert.ThrowsExactly<TException>(act);
        }
        foreach (var fragment in fragments)
        {
            Assert.Contains(fragment, e.Message, $"message was: {e.Message}");
        }
        return e;
    }

    /// <summary>One bad-input case for a data-driven test: a name for the test explorer and its check.</summary>
    public static object[] Case<TException>(string name, Action act, params string[] fragments)
        where TException : Exception =>
        new object[] { name, new Action(() => Throws<TException>(act, fragments)) };

    public static string CaseName(System.Reflection.MethodInfo method, object[] data) => $"{method.Name}: {data[0]}";

    public static Tensor F32(params float[] values) => tensor(values);

    public static Tensor F64(params double[] values) => tensor(values);

    public static Tensor F32(long[] shape, params float[] values) => tensor(values).reshape(shape);

    public static Tensor F64(long[] shape, params double[] values) => tensor(values).reshape(shape);

    public static IEnumerable<ScalarType> FloatTypes => new[] { ScalarType.Float32, ScalarType.Float64 };
}
