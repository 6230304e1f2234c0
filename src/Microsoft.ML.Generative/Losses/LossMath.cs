using System;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Microsoft.ML.Generative.Losses;

/// <summary>
/// Closed forms evaluated where they neither cancel nor overflow before the true value does (internal). Each
/// keeps autograd's gradient equal to the derivative of the exact function.
/// </summary>
internal static class LossMath
{
    /// <summary>
    /// softplus(x) = log(1 + eˣ) evaluated as log1p(exp(x)) up to x = 40, where log1p(e⁻⁴⁰)/40 &lt; 2⁻⁶⁴: exact to
    /// the last bit in float64 too. libtorch's default threshold, 20, returns x itself from x = 20 on, off by up
    /// to e⁻²⁰ ≈ 2e-9 (a relative 1e-10, a million float64 ulps).
    /// </summary>
    internal static Tensor Softplus(Tensor x) => functional.softplus(x, 1, SoftplusThreshold);

    private const double SoftplusThreshold = 40;

    /// <summary>½t² as t·(½t): one rounding, and no overflow of t² before ½t² itself overflows.</summary>
    internal static Tensor HalfSquare(Tensor t) => t * t.mul(0.5);

    /// <summary>
    /// g(λ) = e^λ − 1 − λ (≥ 0), to a few ulps for every λ. The direct form expm1(λ) − λ cancels for small |λ|
    /// (g ≈ λ²/2 while the rounding error of expm1 is ε·|λ|), so |λ| &lt; ½ uses the Taylor series
    /// λ²·Σₙ λⁿ⁻²/n! (truncated below ½ ulp of the dtype), and |λ| ≥ ½ uses expm1(λ) − λ (relative error under
    /// 3ε there). λ = +∞ gives +∞ rather than ∞ − ∞. The gradient is that of the series or of expm1(λ) − λ,
    /// i.e. expm1(λ), without NaN from the unselected branch (both branches see clamped, finite inputs).
    /// </summary>
    internal static Tensor ExpMinusOneMinusX(Tensor lambda)
    {
        // Series through λ⁹ (float32) or λ¹⁵ (float64): the first omitted term, ½¹⁰/10! or ½¹⁶/16!, is below
        // 3e-9 or 7e-18 of g(±½) ≥ 0.106.
        int degree = lambda.dtype == ScalarType.Float64 ? 15 : 9;
        var small = lambda.abs().lt(SeriesBound);
        var s = lambda.clamp(-SeriesBound, SeriesBound);
        // Horner for P(s) = Σ_{n=2..degree} s^(n−2)/n!, then g = s²·P(s).
        var p = s.mul(InverseFactorial(degree)).add_(InverseFactorial(degree - 1));
        for (int n = degree - 2; n >= 2; n--)
        {
            p = p.mul(s).add_(InverseFactorial(n));
        }
        var series = p.mul(s.square());
        // Above ~710 (float64) expm1 overflows anyway; the clamp keeps ∞ − ∞ out for λ = +∞.
        var d = lambda.clamp_max(1e4);
        var direct = d.expm1() - d; // not in place: expm1 keeps its output for the backward pass
        return where(small, series, direct);
    }

    private const double SeriesBound = 0.5;

    private static double InverseFactorial(int n)
    {
        double f = 1;
        for (int i = 2; i <= n; i++)
        {
            f *= i;
        }
        return 1 / f;
    }
}
