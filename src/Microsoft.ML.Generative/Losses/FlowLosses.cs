using System;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Losses;

/// <summary>
/// The maximum-likelihood loss of normalizing flows, the usual preprocessing bijections of discrete data
/// (dequantization, logit transform) with their log-determinants, and bits per dimension.
/// </summary>
/// <remarks>
/// <para>Log-determinants follow one convention throughout: log|det ∂y/∂x| of the forward map x → y, one value
/// per example [B]. They add up along a chain of maps, data first, and enter the NLL with a minus sign.</para>
/// <para>Values are in nats. Results have the dtype and device of the inputs (float32 or float64). The functions
/// never modify or dispose their arguments, and dispose their own intermediates.</para>
/// </remarks>
public static class FlowLosses
{
    /// <summary>Negative log-likelihood of data mapped by a flow to z, under a standard normal base distribution.</summary>
    /// <param name="z">The flow's output [B, ...] (summed over the non-batch dimensions).</param>
    /// <param name="logDetJacobian">log|det ∂z/∂x| per example, [B], summed over every map from the data to z.</param>
    /// <param name="reduction">Reduction over the batch.</param>
    /// <returns>−log p(x) in nats: a scalar, or [B] for <see cref="LossReduction.None"/>.</returns>
    /// <remarks>
    /// NLL_i = −(log N(z_i; 0, I) + log|det J_i|) = ½ Σ_d (z_id² + log 2π) − log|det J_i|, by the change of variables
    /// (Dinh, Sohl-Dickstein &amp; Bengio 2017, "Density estimation using Real NVP", eq. 3; Papamakarios et al. 2021,
    /// "Normalizing Flows for Probabilistic Modeling and Inference", eq. 2). With <see cref="LossReduction.Mean"/>
    /// it is the usual training loss (forward KL up to a constant).
    /// </remarks>
    /// <exception cref="ArgumentNullException">A tensor is null.</exception>
    /// <exception cref="ArgumentException">Wrong rank, shape, dtype or device.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="reduction"/> is unknown.</exception>
    public static Tensor NegativeLogLikelihood(Tensor z, Tensor logDetJacobian, LossReduction reduction = LossReduction.Mean)
    {
        LossGuard.NotNull(z, nameof(z), "[B, ...]");
        LossGuard.NotNull(logDetJacobian, nameof(logDetJacobian), "[B]");
        LossGuard.FloatingPoint(z, nameof(z));
        LossGuard.MinRank(z, nameof(z), 1, "[B, ...] (batch first)");
        long batch = LossGuard.BatchSize(z, nameof(z));
        LossGuard.FloatingPoint(logDetJacobian, nameof(logDetJacobian));
        if (logDetJacobian.dim() != 1 || logDetJacobian.shape[0] != batch)
        {
            throw new ArgumentException(
                $"logDetJacobian must be one log-determinant per example, shape [{batch}] (the batch size of z " +
                $"{LossGuard.Shape(z)}), but has shape {LossGuard.Shape(logDetJacobian)}. Sum it over the non-batch " +
                "dimensions first.", nameof(logDetJacobian));
        }
        LossGuard.SameDtypeAndDevice(logDetJacobian, nameof(logDetJacobian), z, nameof(z));
        LossGuard.Defined(reduction, nameof(reduction));
        long dimensions = z.numel() / batch;

        using var scope = NewDisposeScope();
        // ½z² as z·(½z): no overflow of z² before ½z² itself overflows.
        var perExample = LossReducer.SumPerExample(LossMath.HalfSquare(z));
        perExample.add_(LossReducer.HalfLog2Pi * dimensions).sub_(logDetJacobian);
        return LossReducer.Reduce(perExample, reduction).MoveToOuterDisposeScope();
    }

    /// <summary>Uniform dequantization of integer-valued data into [0, 1), with its log-determinant.</summary>
    /// <param name="x">Integer levels 0 … levels − 1 stored in a float tensor [B, ...] (e.g. raw pixel values 0–255, not already scaled to [0, 1]).</param>
    /// <param name="levels">The number of levels, ≥ 2 (256 for 8-bit data).</param>
    /// <param name="generator">Random generator for the noise; null uses the default generator.</param>
    /// <returns>y = (x + u) / levels with u ~ U[0, 1) per element, and its log-determinant −D·log(levels) per example, [B].</returns>
    /// <remarks>
    /// <para>y = (x + u)/L; log|det ∂y/∂(x + u)| = −D log L per example, D = the number of elements of one example.
    /// Feeding y to a flow and adding this log-determinant gives −log p(y) + D log L, which bounds the discrete NLL
    /// −log P(x) from above in expectation over u (Theis, van den Oord &amp; Bethge 2016, "A note on the evaluation of
    /// generative models", §3.1; Dinh et al. 2017, §4.1). Divide by D ln 2 (<see cref="BitsPerDimension(Tensor, long)"/>)
    /// for the usual bits/dim.</para>
    /// <para>Values are clamped to the largest float below 1, since (x + u)/L can round up to 1. In float32 the noise
    /// u has a resolution of 2⁻²⁴·L (e.g. 1/256 of a level at 65,536 levels).</para>
    /// <para>The range [0, levels − 1] and integrality of <paramref name="x"/> are checked (two reductions, one
    /// device synchronization): data already scaled to [0, 1] would otherwise give a silently wrong bound.</para>
    /// </remarks>
    /// <exception cref="ArgumentNullException"><paramref name="x"/> is null.</exception>
    /// <exception cref="ArgumentException">Wrong rank or dtype.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="levels"/> &lt; 2, or <paramref name="x"/> holds a value that is not an integer in [0, levels − 1].</exception>
    public static (Tensor Value, Tensor LogDetJacobian) UniformDequantize(Tensor x, int levels, Generator? generator = null)
    {
        LossGuard.NotNull(x, nameof(x), "[B, ...]");
        if (levels < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(levels), levels,
                $"levels must be at least 2 (the number of distinct integer values, e.g. 256 for 8-bit data), but is {levels}.");
        }
        LossGuard.FloatingPoint(x, nameof(x));
        LossGuard.MinRank(x, nameof(x), 1, "[B, ...] (batch first)");
        long batch = LossGuard.BatchSize(x, nameof(x));
        var (min, max) = LossGuard.ValueRange(x);
        bool integral;
        using (NewDisposeScope())
        using (no_grad())
        {
            integral = x.eq(x.round()).all().item<bool>();
        }
        if (!(min >= 0 && max <= levels - 1) || !integral)
        {
            throw new ArgumentOutOfRangeException(nameof(x),
                $"x must hold integer levels in [0, {levels - 1}], but its values range over [{LossGuard.Number(min)}, " +
                $"{LossGuard.Number(max)}]{(integral ? "" : " and include non-integers")}. Pass the raw integer data " +
                "(e.g. pixels 0–255 as floats), not data already scaled to [0, 1], and set levels to the number of values.");
        }

        using var scope = NewDisposeScope();
        var value = rand(x.shape, x.dtype, x.device, generator: generator);
        // (x + u)/L with u < 1 can still round up to exactly 1 (in float32 about once in 130,000 draws at x = 255);
        // keep the documented [0, 1) by clamping to the largest value below 1.
        value.add_(x).div_(levels).clamp_max_(x.dtype == ScalarType.Float64 ? 1 - Math.Pow(2, -53) : 1 - Math.Pow(2, -24));
        long dimensions = x.numel() / batch;
        var logDet = full(batch, -dimensions * Math.Log(levels), x.dtype, x.device);
        return (value.MoveToOuterDisposeScope(), logDet.MoveToOuterDisposeScope());
    }

    /// <summary>The logit transform of data in [0, 1] onto the real line, with its log-determinant.</summary>
    /// <param name="y">Data in [0, 1], [B, ...] (e.g. the output of <see cref="UniformDequantize"/>).</param>
    /// <param name="alpha">α in [0, 0.5): the data is first squeezed into [α, 1 − α] so that 0 and 1 map to finite values.</param>
    /// <returns>s = logit(p) with p = α + (1 − 2α) y, and log|det ∂s/∂y| per example, [B].</returns>
    /// <remarks>
    /// <para>p = α + (1 − 2α) y; s = log p − log(1 − p); log|det| = Σ_d [log(1 − 2α) − log p_d − log(1 − p_d)]
    /// (Dinh, Sohl-Dickstein &amp; Bengio 2017, "Density estimation using Real NVP", §4.1, with α = 0.05). Where
    /// |p − ½| ≤ ¼, s is evaluated as log1p(4d / (1 − 2d)) with d = (1 − 2α)(y − ½), which keeps its relative precision
    /// as s → 0 (the difference of logarithms does not).</para>
    /// <para>The range of <paramref name="y"/> is checked (one reduction): [0, 1] when α &gt; 0, and the open
    /// interval (0, 1) when α = 0, where 0 and 1 would map to ∓∞.</para>
    /// </remarks>
    /// <exception cref="ArgumentNullException"><paramref name="y"/> is null.</exception>
    /// <exception cref="ArgumentException">Wrong rank or dtype.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="alpha"/> outside [0, 0.5), or <paramref name="y"/> outside the allowed range.</exception>
    public static (Tensor Value, Tensor LogDetJacobian) LogitTransform(Tensor y, double alpha = 0.05)
    {
        LossGuard.NotNull(y, nameof(y), "[B, ...]");
        if (!(alpha >= 0 && alpha < 0.5))
        {
            throw new ArgumentOutOfRangeException(nameof(alpha), alpha,
                $"alpha must lie in [0, 0.5) (0.05 in Real NVP; 0 only for data strictly inside (0, 1)), but is {LossGuard.Number(alpha)}.");
        }
        LossGuard.FloatingPoint(y, nameof(y));
        LossGuard.MinRank(y, nameof(y), 1, "[B, ...] (batch first)");
        LossGuard.BatchSize(y, nameof(y));
        var (min, max) = LossGuard.ValueRange(y);
        bool inRange = alpha > 0 ? min >= 0 && max <= 1 : min > 0 && max < 1;
        if (!inRange)
        {
            throw new ArgumentOutOfRangeException(nameof(y),
                $"y must lie in {(alpha > 0 ? "[0, 1]" : "(0, 1) when alpha = 0")}, but its values range over " +
                $"[{LossGuard.Number(min)}, {LossGuard.Number(max)}]. Scale the data to [0, 1] first (e.g. with " +
                "UniformDequantize)" + (alpha > 0 ? "." : ", or use alpha > 0 so that 0 and 1 stay finite."));
        }

        using var scope = NewDisposeScope();
        var p = y.mul(1 - 2 * alpha).add_(alpha);
        var logP = p.log();
        var log1mP = p.neg().log1p();
        // Near p = ½, log p − log(1 − p) cancels (both ≈ −0.69; the error ε·0.69 swamps a value ≈ 4(p − ½)). There,
        // with d = p − ½ = (1 − 2α)(y − ½) (y − ½ exact for y ≥ ¼), logit p = log1p(4d / (1 − 2d)): relative error of a
        // few ε. Both branches see clamped inputs, so the unused one never puts a NaN into the gradient.
        var d = y.sub(0.5).mul_(1 - 2 * alpha);
        var central = d.abs().le(0.25);
        var dc = d.clamp(-0.25, 0.25);
        var nearHalf = dc.mul(4).div_(dc.mul(-2).add_(1)).log1p_();
        var value = where(central, nearHalf, logP - log1mP);
        var perElement = (logP + log1mP).neg_().add_(Math.Log(1 - 2 * alpha));
        var logDet = LossReducer.SumPerExample(perElement);
        return (value.MoveToOuterDisposeScope(), logDet.MoveToOuterDisposeScope());
    }

    /// <summary>Converts a negative log-likelihood in nats per example into bits per dimension.</summary>
    /// <param name="nll">NLL in nats per example (any shape, e.g. a batch mean or [B]).</param>
    /// <param name="dimensions">D, the number of dimensions of one example (e.g. 3·32·32), ≥ 1.</param>
    /// <returns><paramref name="nll"/> / (D·ln 2), same shape and dtype.</returns>
    /// <remarks>bits/dim = NLL / (D ln 2) (Theis et al. 2016, §3.1; Dinh et al. 2017, §4.1). For discrete data the NLL must include the dequantization log-determinant.</remarks>
    /// <exception cref="ArgumentNullException"><paramref name="nll"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="nll"/> is not float32/float64.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="dimensions"/> &lt; 1.</exception>
    public static Tensor BitsPerDimension(Tensor nll, long dimensions)
    {
        LossGuard.NotNull(nll, nameof(nll), "[] or [B] (NLL in nats per example)");
        LossGuard.FloatingPoint(nll, nameof(nll));
        CheckDimensions(dimensions);
        return nll.div(dimensions * Math.Log(2));
    }

    /// <summary>Converts a negative log-likelihood in nats per example into bits per dimension.</summary>
    /// <param name="nll">NLL in nats per example.</param>
    /// <param name="dimensions">D, the number of dimensions of one example, ≥ 1.</param>
    /// <returns><paramref name="nll"/> / (D·ln 2).</returns>
    /// <remarks>bits/dim = NLL / (D ln 2) (Theis et al. 2016, §3.1). Continuous-data NLLs may be negative.</remarks>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="dimensions"/> &lt; 1, or <paramref name="nll"/> is NaN.</exception>
    public static double BitsPerDimension(double nll, long dimensions)
    {
        if (double.IsNaN(nll))
        {
            throw new ArgumentOutOfRangeException(nameof(nll), nll, "nll is NaN; pass the negative log-likelihood in nats per example.");
        }
        CheckDimensions(dimensions);
        return nll / (dimensions * Math.Log(2));
    }

    private static void CheckDimensions(long dimensions)
    {
        if (dimensions < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(dimensions), dimensions,
                $"dimensions must be the number of dimensions of one example (≥ 1, e.g. 3·32·32 = 3072), but is {dimensions}.");
        }
    }
}
