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
    /// g(λ) = e^λ − 1 − λ (≥ 0) without the cancellation of the direct form, whose rounding error ε·|λ| swamps
    /// g ≈ λ²/2 for small |λ|. Never negative; λ = ±∞ gives +∞ rather than ∞ − ∞.
    /// <para>float64: |λ| &lt; ½ uses the Taylor series λ²·Σₙ λⁿ⁻²/n! through λ¹⁵ (first omitted term &lt; 7e-18 of
    /// g(±½)), |λ| ≥ ½ uses expm1(λ) − λ (relative error under 3ε there): a few ulps everywhere. The gradient is that
    /// of the selected branch, without NaN from the other one (both see clamped, finite inputs).</para>
    /// <para>float32 (the training dtype, where this runs every step on [B, L]): expm1(λ) − λ evaluated in float64 and
    /// rounded once, four tensor ops. λ is exact in float64, so the only error is float64's ε·|λ| ≈ 1.1e-16·|λ|: within
    /// 1 float32 ulp of g for |λ| ≥ 1.5e-8, and below that (g &lt; 1.2e-16) an absolute error under 1.7e-24.</para>
    /// </summary>
    internal static Tensor ExpMinusOneMinusX(Tensor lambda)
    {
        if (lambda.dtype != ScalarType.Float64)
        {
            var wide = lambda.to_type(ScalarType.Float64).clamp_max(1e4);
            return (wide.expm1() - wide).to_type(lambda.dtype);
        }
        const int degree = SeriesDegree;
        var small = lambda.abs().lt(SeriesBound);
        var s = lambda.clamp(-SeriesBound, SeriesBound);
        // Horner for P(s) = Σ_{n=2..degree} s^(n−2)/n!, then g = s²·P(s).
        var p = s.mul(InverseFactorial(degree)).add_(InverseFactorial(degree - 1));
        for (int n = degree - 2; n >= 2; n--)
        {
            p = p.mul(s).add_(InverseFactorial(n));
        }
        var series = p.mul(s.square());
        // Above ~710 expm1 overflows anyway; the clamp keeps ∞ − ∞ out for λ = +∞.
        var d = lambda.clamp_max(1e4);
        var direct = d.expm1() - d; // not in place: expm1 keeps its output for the backward pass
        return where(small, series, direct);
    }

    /// <summary>
    /// The same g(λ) = e^λ − 1 − λ for one float64 value (the VAE's hand-written step): the series above below
    /// |λ| = ½, e^λ − 1 − λ elsewhere (≥ 0.107 there, so a few ulps; .NET has no expm1).
    /// </summary>
    internal static double ExpMinusOneMinusX(double lambda)
    {
        if (Math.Abs(lambda) >= SeriesBound)
            return Math.Exp(lambda) - 1 - lambda;
        double p = InverseFactorial(SeriesDegree);
        for (int n = SeriesDegree - 1; n >= 2; n--)
            p = p * lambda + InverseFactorial(n);
        return lambda * lambda * p;
    }

    private const double SeriesBound = 0.5;

    // The series' last power (λ¹⁵): its first omitted term, ½¹⁶/16!, is below 7e-18 of g(±½) ≥ 0.106.
    private const int SeriesDegree = 15;

    /// <summary>
    /// The parts of log Σ_c e^(ℓ_c) over the last dimension: m = max_c ℓ_c (gathered at the argmax, so that it is
    /// differentiable) and r = log1p(Σ_{c ≠ argmax} e^(ℓ_c − m)), with logsumexp = m + r. Then −log softmax(ℓ)_y =
    /// (m − ℓ_y) + r is a sum of two non-negative terms: exact when one class dominates, where
    /// log_softmax's −(ℓ_y − logsumexp) loses every value below ε·|logsumexp| (logits [40, 0]: 0 instead of
    /// 4.25e-18). The gradient of the composed loss is softmax − one-hot, as for log_softmax.
    /// </summary>
    /// <param name="logits">[..., C].</param>
    /// <returns>m and r, each [..., 1].</returns>
    internal static (Tensor Max, Tensor LogRest) LogSumExpParts(Tensor logits)
    {
        var argmax = logits.argmax(-1, keepdim: true);
        var max = logits.gather(-1, argmax);
        Tensor mask;
        using (no_grad())
            mask = zeros_like(logits, dtype: ScalarType.Bool).scatter_(-1, argmax, ones_like(argmax, dtype: ScalarType.Bool));
        // Not in place: exp keeps its output for the backward pass.
        var others = (logits - max).exp().masked_fill(mask, 0);
        return (max, others.sum(-1, keepdim: true).log1p());
    }

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
