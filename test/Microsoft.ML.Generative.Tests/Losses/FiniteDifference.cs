using System;
using System.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Tests.Losses;

/// <summary>
/// Compares autograd gradients with central finite differences in float64, element by element.
/// </summary>
internal static class FiniteDifference
{
    // With h = 1e-5 in float64 the central difference is off by about h²·f'''/6 + ε·|f|/h ≈ 1e-10 for the
    // small losses used here, far below the tolerance.
    private const double Step = 1e-5;
    private const double RelativeTolerance = 1e-6;
    private const double ToleranceFloor = 1e-2; // gradients smaller than this are compared to 1e-8 absolute

    /// <summary>
    /// Checks ∂f/∂inputs. A non-scalar output is contracted with fixed weights 1, 1.1, 1.2, … so that every
    /// output element (the whole Jacobian, not just its sum) takes part.
    /// </summary>
    public static void AssertGradientsMatch(Func<Tensor[], Tensor> f, params Tensor[] inputs)
    {
        using var scope = NewDisposeScope();
        foreach (var input in inputs)
        {
            Assert.AreEqual(ScalarType.Float64, input.dtype, "finite differences need float64 inputs");
        }
        var leaves = inputs.Select(t => t.detach().clone().requires_grad_(true)).ToArray();
        var objective = Scalarize(f(leaves));
        // Checked here because libtorch aborts the process when asked for the gradient of an output without history.
        Assert.IsTrue(objective.requires_grad, "the output does not depend differentiably on any input");
        var analytic = autograd.grad(new[] { objective }, leaves, allow_unused: true);

        for (int i = 0; i < inputs.Length; i++)
        {
            double[] expected = analytic[i].IsInvalid
                ? new double[inputs[i].numel()]
                : analytic[i].contiguous().data<double>().ToArray();
            double[] point = inputs[i].contiguous().data<double>().ToArray();
            for (int j = 0; j < point.Length; j++)
            {
                double numeric = (Evaluate(f, inputs, i, point, j, +Step) - Evaluate(f, inputs, i, point, j, -Step)) / (2 * Step);
                double tolerance = RelativeTolerance * Math.Max(Math.Abs(expected[j]), ToleranceFloor);
                Assert.IsLessThanOrEqualTo(tolerance, Math.Abs(numeric - expected[j]),
                    $"∂f/∂input{i}[{j}]: autograd {expected[j]:R}, finite difference {numeric:R} (tolerance {tolerance:G3}).");
            }
        }
    }

    private static double Evaluate(Func<Tensor[], Tensor> f, Tensor[] inputs, int which, double[] point, int index, double delta)
    {
        using var scope = NewDisposeScope();
        var shifted = (double[])point.Clone();
        shifted[index] += delta;
        var arguments = inputs.Select((t, k) => k == which ? tensor(shifted).reshape(t.shape) : t.detach()).ToArray();
        return Scalarize(f(arguments)).item<double>();
    }

    private static Tensor Scalarize(Tensor output)
    {
        if (output.dim() == 0)
        {
            return output;
        }
        var weights = arange(output.numel(), dtype: ScalarType.Float64).mul_(0.1).add_(1.0).reshape(output.shape);
        return (output * weights).sum();
    }
}
