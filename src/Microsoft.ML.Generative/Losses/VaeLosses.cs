using System;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Microsoft.ML.Generative.Losses;

/// <summary>
/// Losses of variational autoencoders: the KL term, reconstruction negative log-likelihoods for the usual decoder
/// distributions, the (β-weighted) negative ELBO and the importance-weighted bound.
/// </summary>
/// <remarks>
/// <para>All values are in nats. A per-example loss sums over every non-batch dimension; <see cref="LossReduction"/>
/// then reduces over the batch (mean by default). Results have the dtype and device of the inputs, which must be
/// float32 or float64 and agree with each other.</para>
/// <para>The functions are pure: they never modify or dispose their arguments, and dispose their own
/// intermediates, so only the returned tensor is left to the caller's dispose scope.</para>
/// </remarks>
public static class VaeLosses
{
    /// <summary>
    /// KL divergence from the diagonal Gaussian posterior q(z|x) = N(<paramref name="mu"/>, diag exp(<paramref name="logVar"/>))
    /// to the standard normal prior N(0, I), optionally with free bits.
    /// </summary>
    /// <param name="mu">Posterior means, [B, L] (further dimensions are treated as more latent dimensions).</param>
    /// <param name="logVar">Posterior log-variances, same shape as <paramref name="mu"/>.</param>
    /// <param name="reduction">Reduction over the batch.</param>
    /// <param name="freeBits">λ ≥ 0: the minimum KL, in nats, that each latent dimension is charged. 0 disables it.</param>
    /// <returns>The KL in nats: a scalar, or [B] for <see cref="LossReduction.None"/>.</returns>
    /// <remarks>
    /// <para>KL_i = −½ Σ_j (1 + logVar_ij − mu_ij² − exp(logVar_ij)) (Kingma &amp; Welling 2014, "Auto-Encoding
    /// Variational Bayes", Appendix B).</para>
    /// <para>Free bits (Kingma et al. 2016, "Improved Variational Inference with Inverse Autoregressive Flow"):
    /// with λ &gt; 0, each latent dimension j is charged max(λ, M_j), where M_j = (1/B) Σ_i KL_ij is the
    /// batch-mean KL of that dimension. <see cref="LossReduction.Mean"/> returns Σ_j max(λ, M_j);
    /// <see cref="LossReduction.Sum"/> returns B times that. A dimension below the floor gets no gradient, so the
    /// encoder is not pushed to collapse it further. <see cref="LossReduction.None"/> has no batch mean to floor,
    /// so it floors each example's term instead: KL_i = Σ_j max(λ, KL_ij). Consequently, with λ &gt; 0 the mean of
    /// the <see cref="LossReduction.None"/> values can exceed the <see cref="LossReduction.Mean"/> value (they
    /// agree when λ = 0 or when no dimension is floored in either form).</para>
    /// <para>Evaluated as ½ Σ_j (mu_ij² + g(logVar_ij)) with g(λ) = e^λ − 1 − λ computed without cancellation
    /// (float64: a Taylor series for |λ| &lt; ½, expm1(λ) − λ elsewhere; float32: expm1(λ) − λ in float64, rounded
    /// once): each term is ≥ 0 and correct to a few ulps even for collapsed dimensions (mu ≈ 0, logVar ≈ 0), where
    /// the textbook form 1 + λ − μ² − e^λ loses every digit and turns negative. (float32 only: for |logVar| &lt; 1.5e-8,
    /// where g &lt; 1.2e-16 nats, g is exact to 1.7e-24 nats absolute rather than relative.) The result is never negative. It overflows to +∞ once e^logVar does (logVar ≳ 88.7 in float32,
    /// 709.8 in float64), slightly before the KL itself would.</para>
    /// <para>Domain: <paramref name="mu"/> and <paramref name="logVar"/> any real numbers (±∞ give +∞, NaN gives NaN);
    /// no value is checked, since every real input has a KL.</para>
    /// </remarks>
    /// <exception cref="ArgumentNullException">A tensor is null.</exception>
    /// <exception cref="ArgumentException">Wrong rank, shape, dtype or device.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="freeBits"/> is negative or not finite, or <paramref name="reduction"/> is unknown.</exception>
    public static Tensor KlDivergenceStandardNormal(Tensor mu, Tensor logVar, LossReduction reduction = LossReduction.Mean, double freeBits = 0)
    {
        CheckPosterior(mu, logVar);
        LossGuard.Defined(reduction, nameof(reduction));
        LossGuard.NonNegativeFinite(freeBits, nameof(freeBits), "the minimum KL per latent dimension, in nats");

        using var scope = NewDisposeScope();
        // [B, L]: ½ (mu² + g(logVar)), g(λ) = e^λ − 1 − λ ≥ 0 evaluated without cancellation near λ = 0, so every
        // term is ≥ 0 and exact to a few ulps. In-place ops only touch mu²'s fresh output, which square's backward
        // does not need.
        var klPerDimension = mu.square();
        klPerDimension.add_(LossMath.ExpMinusOneMinusX(logVar)).mul_(0.5);
        var flat = klPerDimension.dim() == 2 ? klPerDimension : klPerDimension.flatten(1);

        Tensor result;
        if (freeBits == 0)
        {
            result = LossReducer.Reduce(flat.sum(1), reduction);
        }
        else if (reduction == LossReduction.None)
        {
            result = flat.clamp_min(freeBits).sum(1);
        }
        else
        {
            // [L]: batch-mean KL of each latent dimension, floored at λ.
            var flooredMean = flat.mean(new long[] { 0 }).clamp_min(freeBits).sum();
            result = reduction == LossReduction.Mean ? flooredMean : flooredMean.mul_(flat.shape[0]);
        }
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>Bernoulli negative log-likelihood of <paramref name="target"/> under a decoder that outputs logits.</summary>
    /// <param name="logits">Decoder outputs before the sigmoid, [B, ...]; any finite real value.</param>
    /// <param name="target">Observed data, same shape, values in [0, 1] (binary, or grey levels used as soft targets); checked.</param>
    /// <param name="reduction">Reduction over the batch.</param>
    /// <returns>NLL in nats, ≥ 0: a scalar, or [B] for <see cref="LossReduction.None"/>.</returns>
    /// <remarks>
    /// <para>NLL_i = −Σ_d [x_d log σ(ℓ_d) + (1 − x_d) log(1 − σ(ℓ_d))] = Σ_d [x_d softplus(−ℓ_d) + (1 − x_d) softplus(ℓ_d)]
    /// (Kingma &amp; Welling 2014, "Auto-Encoding Variational Bayes", Appendix C.1). It is evaluated in that last form:
    /// both terms are ≥ 0 and each softplus is log1p(exp(·)) up to 40, so the value is finite with finite gradients for
    /// any finite logit, never negative, and exact to a few ulps also where a confident, correct decoder makes it tiny
    /// (e.g. 4.25e-18 for ℓ = 40, x = 1, where softplus(ℓ) − xℓ gives 0). This is the form to train with; prefer it over
    /// <see cref="BernoulliNll"/>. An infinite logit gives +∞ or NaN.</para>
    /// <para>Domain check: <paramref name="target"/> outside [0, 1] has no Bernoulli likelihood (the formula would
    /// decrease without bound), so its range is checked (one min/max reduction, one device synchronization). The VAE
    /// pays this once per row in its data path instead and calls an internal unchecked form in its training loop.</para>
    /// </remarks>
    /// <exception cref="ArgumentNullException">A tensor is null.</exception>
    /// <exception cref="ArgumentException">Wrong rank, shape, dtype or device.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A target lies outside [0, 1] or is NaN, or <paramref name="reduction"/> is unknown.</exception>
    public static Tensor BernoulliNllWithLogits(Tensor logits, Tensor target, LossReduction reduction = LossReduction.Mean)
    {
        CheckPrediction(logits, nameof(logits), target);
        LossGuard.Defined(reduction, nameof(reduction));
        CheckBernoulliTarget(target);

        using var scope = NewDisposeScope();
        // x·softplus(−ℓ) + (1 − x)·softplus(ℓ): two non-negative terms, no cancellation.
        var perElement = target * LossMath.Softplus(logits.neg());
        perElement.add_(target.neg().add_(1.0) * LossMath.Softplus(logits));
        return LossReducer.Reduce(LossReducer.SumPerExample(perElement), reduction).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The VAE's training form of <see cref="BernoulliNllWithLogits"/>: no checks (the VAE checks each row's range once
    /// in its data path, and scoring maps rows outside [0, 1] to +∞) and libtorch's fused
    /// binary_cross_entropy_with_logits, about 3× cheaper than the public form's two softplus passes. It agrees with the
    /// public form to a few ulps of each per-row sum, is ≥ 0 for targets in [0, 1], and only loses the relative
    /// precision of elements whose own NLL is below ε·|ℓ| (a confident, correct decoder), which cannot show in a sum
    /// over features.
    /// </summary>
    internal static Tensor BernoulliNllWithLogitsUnchecked(Tensor logits, Tensor target, LossReduction reduction)
    {
        using var scope = NewDisposeScope();
        var perElement = functional.binary_cross_entropy_with_logits(logits, target, reduction: Reduction.None);
        return LossReducer.Reduce(LossReducer.SumPerExample(perElement), reduction).MoveToOuterDisposeScope();
    }

    /// <summary>Bernoulli negative log-likelihood of <paramref name="target"/> under a decoder that outputs probabilities.</summary>
    /// <param name="probabilities">Decoder outputs after a sigmoid, [B, ...], every value in [0, 1]; checked.</param>
    /// <param name="target">Observed data, same shape, values in [0, 1]; checked.</param>
    /// <param name="reduction">Reduction over the batch.</param>
    /// <returns>NLL in nats, ≥ 0: a scalar, or [B] for <see cref="LossReduction.None"/>.</returns>
    /// <remarks>
    /// <para>NLL_i = −Σ_d [x_d log p_d + (1 − x_d) log(1 − p_d)] (Kingma &amp; Welling 2014, Appendix C.1), the value
    /// of PyTorch's <c>binary_cross_entropy(p, x, reduction='sum')</c> per example. Evaluated as
    /// x_d·(−log p_d) + (1 − x_d)·(−log1p(−p_d)): two non-negative terms, so the result is never negative and stays
    /// exact near 0 (p → x).</para>
    /// <para>p is clamped to [ε, 1 − ε] (ε = 1e-7 for float32, 1e-12 for float64) so that probabilities of exactly
    /// 0 or 1 give finite values: each element contributes at most −log ε (about 16.1 nats in float32, 27.6 in
    /// float64), and clamped elements get no gradient. PyTorch instead clamps each log at −100, so the two differ
    /// only for p within ε of 0 or 1. The sigmoid followed by a log loses precision and gradient where it
    /// saturates: train with <see cref="BernoulliNllWithLogits"/> on the pre-sigmoid outputs when you can.</para>
    /// <para>Domain check: the ranges of <paramref name="probabilities"/> and <paramref name="target"/> are checked
    /// (two min/max reductions, one device synchronization each).</para>
    /// </remarks>
    /// <exception cref="ArgumentNullException">A tensor is null.</exception>
    /// <exception cref="ArgumentException">Wrong rank, shape, dtype or device.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A probability or a target lies outside [0, 1] or is NaN, or <paramref name="reduction"/> is unknown.</exception>
    public static Tensor BernoulliNll(Tensor probabilities, Tensor target, LossReduction reduction = LossReduction.Mean)
    {
        CheckPrediction(probabilities, nameof(probabilities), target);
        LossGuard.Defined(reduction, nameof(reduction));
        LossGuard.InClosedRange(probabilities, nameof(probabilities), 0, 1, "[0, 1]",
            "If the decoder output is unbounded (no sigmoid, e.g. a Linear layer or torch.randn as in some copies of " +
            "the PyTorch VAE example), pass it to VaeLosses.BernoulliNllWithLogits instead, or apply torch.sigmoid first.");
        CheckBernoulliTarget(target);

        double eps = probabilities.dtype == ScalarType.Float64 ? 1e-12 : 1e-7;
        using var scope = NewDisposeScope();
        var p = probabilities.clamp(eps, 1 - eps);
        // x·(−log p) + (1 − x)·(−log(1 − p)): two non-negative terms, no cancellation.
        var perElement = target * p.log().neg_();
        perElement.add_(target.neg().add_(1.0) * p.neg().log1p().neg_());
        return LossReducer.Reduce(LossReducer.SumPerExample(perElement), reduction).MoveToOuterDisposeScope();
    }

    private static void CheckBernoulliTarget(Tensor target) =>
        LossGuard.InClosedRange(target, nameof(target), 0, 1, "[0, 1] (a Bernoulli observation, or a grey level used as a soft target)",
            "Values outside [0, 1] have no Bernoulli likelihood: scale the data into [0, 1] (e.g. divide 8-bit pixels by 255), " +
            "or use GaussianNll for real-valued data.");

    /// <summary>Gaussian negative log-likelihood of <paramref name="target"/> with a fixed standard deviation.</summary>
    /// <param name="mean">Decoder means μ, [B, ...].</param>
    /// <param name="target">Observed data x, same shape.</param>
    /// <param name="sigma">The standard deviation σ &gt; 0 shared by every element.</param>
    /// <param name="reduction">Reduction over the batch.</param>
    /// <returns>NLL in nats: a scalar, or [B] for <see cref="LossReduction.None"/>.</returns>
    /// <remarks>
    /// NLL_i = ½ Σ_d [log 2π + 2 log σ + (x_d − μ_d)²/σ²], the full density including the ½ log 2π term, so
    /// values are comparable across models and with <see cref="GaussianNll(Tensor, Tensor, Tensor, LossReduction)"/>
    /// (Kingma &amp; Welling 2014, Appendix C.2; Bishop 2006, "Pattern Recognition and Machine Learning", eq. 2.43).
    /// </remarks>
    /// <exception cref="ArgumentNullException">A tensor is null.</exception>
    /// <exception cref="ArgumentException">Wrong rank, shape, dtype or device.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="sigma"/> is not a finite positive number, or <paramref name="reduction"/> is unknown.</exception>
    public static Tensor GaussianNll(Tensor mean, Tensor target, double sigma, LossReduction reduction = LossReduction.Mean)
    {
        CheckPrediction(mean, nameof(mean), target);
        LossGuard.PositiveFinite(sigma, nameof(sigma), "the standard deviation of the decoder");
        LossGuard.Defined(reduction, nameof(reduction));

        using var scope = NewDisposeScope();
        // ½ t² with t = (x − μ)/σ, as t·(½t): 0.5/σ² itself would overflow float32 for σ < 1e-19 and make x = μ NaN.
        var perElement = LossMath.HalfSquare((target - mean).mul_(1 / sigma));
        perElement.add_(LossReducer.HalfLog2Pi + Math.Log(sigma));
        return LossReducer.Reduce(LossReducer.SumPerExample(perElement), reduction).MoveToOuterDisposeScope();
    }

    /// <summary>Gaussian negative log-likelihood of <paramref name="target"/> with a learned (log-)variance.</summary>
    /// <param name="mean">Decoder means μ, [B, ...].</param>
    /// <param name="logVar">Log-variances log σ², the shape of <paramref name="mean"/> or broadcastable to it (e.g. a per-feature parameter [D]).</param>
    /// <param name="target">Observed data x, same shape as <paramref name="mean"/>.</param>
    /// <param name="reduction">Reduction over the batch.</param>
    /// <returns>NLL in nats: a scalar, or [B] for <see cref="LossReduction.None"/>.</returns>
    /// <remarks>
    /// NLL_i = ½ Σ_d [log 2π + logVar_d + (x_d − μ_d)² exp(−logVar_d)] (Kingma &amp; Welling 2014, Appendix C.2;
    /// Nix &amp; Weigend 1994, "Estimating the mean and variance of the target probability distribution"). Working on
    /// the log-variance keeps σ² positive without a constraint and avoids dividing by a variance that underflows.
    /// </remarks>
    /// <exception cref="ArgumentNullException">A tensor is null.</exception>
    /// <exception cref="ArgumentException">Wrong rank, shape, dtype or device, or <paramref name="logVar"/> does not broadcast to <paramref name="mean"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="reduction"/> is unknown.</exception>
    public static Tensor GaussianNll(Tensor mean, Tensor logVar, Tensor target, LossReduction reduction = LossReduction.Mean)
    {
        CheckPrediction(mean, nameof(mean), target);
        LossGuard.NotNull(logVar, nameof(logVar), $"{LossGuard.Shape(mean)} (or broadcastable to it)");
        LossGuard.FloatingPoint(logVar, nameof(logVar));
        LossGuard.SameDtypeAndDevice(logVar, nameof(logVar), mean, nameof(mean));
        if (!LossGuard.BroadcastsTo(logVar.shape, mean.shape))
        {
            throw new ArgumentException(
                $"logVar must have the shape of mean, {LossGuard.Shape(mean)}, or a shape that broadcasts to it " +
                $"(e.g. [{mean.shape[^1]}] for one log-variance per feature), but has shape {LossGuard.Shape(logVar)}.",
                nameof(logVar));
        }
        LossGuard.Defined(reduction, nameof(reduction));

        using var scope = NewDisposeScope();
        // ½ t² with t = (x − μ)·e^(−logVar/2): e^(−logVar) alone overflows float32 below logVar ≈ −88.7 and turned
        // x = μ into 0·∞ = NaN; the half exponent doubles that range and t·(½t) never overflows before the value does.
        var perElement = LossMath.HalfSquare((target - mean) * logVar.mul(-0.5).exp_());
        perElement.add_(logVar.mul(0.5)).add_(LossReducer.HalfLog2Pi);
        return LossReducer.Reduce(LossReducer.SumPerExample(perElement), reduction).MoveToOuterDisposeScope();
    }

    /// <summary>Categorical negative log-likelihood of <paramref name="target"/> under a decoder that outputs logits.</summary>
    /// <param name="logits">Unnormalized log-probabilities [B, G, C]: G independent groups of C classes (more generally [B, ..., C]; the last dimension holds the classes).</param>
    /// <param name="target">Either int64 class indices [B, G] with values in [0, C − 1], or float one-hot vectors or probabilities [B, G, C] of the dtype of <paramref name="logits"/>.</param>
    /// <param name="reduction">Reduction over the batch.</param>
    /// <returns>NLL in nats: a scalar, or [B] for <see cref="LossReduction.None"/>.</returns>
    /// <remarks>
    /// <para>NLL_i = −Σ_g log softmax(ℓ_g)[y_g] for indices, and −Σ_g Σ_c t_gc log softmax(ℓ_g)_c for one-hot or
    /// soft targets (the cross-entropy), evaluated as (m − ℓ_y) + log1p(Σ_{c≠argmax} e^(ℓ_c − m)) with m the largest
    /// logit: every term is non-negative, so any logit is safe and a dominant class's tiny NLL keeps its relative
    /// precision (log_softmax's ℓ_y − logsumexp rounds values below ε·|logsumexp| to 0) (Bishop 2006,
    /// "Pattern Recognition and Machine Learning", §4.3.4; Goodfellow, Bengio &amp; Courville 2016, "Deep Learning",
    /// §6.2.2.3).</para>
    /// <para>Domain checks: index targets must lie in [0, C − 1] (one min/max reduction); soft targets must be
    /// distributions, every entry ≥ 0 and every group summing to 1 within 1e-4 (float32) or 1e-8 (float64) (three
    /// reductions, one device synchronization). Logits may be any finite real numbers.</para>
    /// </remarks>
    /// <exception cref="ArgumentNullException">A tensor is null.</exception>
    /// <exception cref="ArgumentException">Wrong rank, shape, dtype or device.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A class index is outside [0, C − 1], a soft target is negative or does not sum to 1, or <paramref name="reduction"/> is unknown.</exception>
    public static Tensor CategoricalNll(Tensor logits, Tensor target, LossReduction reduction = LossReduction.Mean)
    {
        LossGuard.NotNull(logits, nameof(logits), "[B, G, C]");
        LossGuard.NotNull(target, nameof(target), "[B, G] (int64 class indices) or [B, G, C] (float probabilities)");
        LossGuard.FloatingPoint(logits, nameof(logits));
        LossGuard.MinRank(logits, nameof(logits), 2, "[B, G, C] (G groups of C classes)");
        LossGuard.BatchSize(logits, nameof(logits));
        LossGuard.Defined(reduction, nameof(reduction));
        long classes = logits.shape[^1];
        var indexShape = logits.shape[..^1];

        if (target.dtype == ScalarType.Int64)
        {
            if (!target.shape.AsSpan().SequenceEqual(indexShape))
            {
                throw new ArgumentException(
                    $"target holds class indices (int64), so it must have shape {LossGuard.Shape(indexShape)} (logits " +
                    $"without its class dimension), but has shape {LossGuard.Shape(target)}. For one-hot or probability " +
                    $"targets pass a float tensor of shape {LossGuard.Shape(logits)}.", nameof(target));
            }
            if (target.device_type != logits.device_type || target.device_index != logits.device_index)
            {
                throw new ArgumentException(
                    $"target is on device {target.device} but logits is on device {logits.device}; move target with target.to(logits.device).",
                    nameof(target));
            }
            var (min, max) = LossGuard.ValueRange(target);
            if (min < 0 || max > classes - 1)
            {
                throw new ArgumentOutOfRangeException(nameof(target),
                    $"target class indices must lie in [0, {classes - 1}] (logits has {classes} classes), but range over " +
                    $"[{min}, {max}]. Check the label encoding and the size of the logits' last dimension.");
            }

            using var scope = NewDisposeScope();
            // [B, G, 1]: −log p(y_g) = (m − ℓ_y) + r, two non-negative terms (exact when a class dominates).
            var (largest, rest) = LossMath.LogSumExpParts(logits);
            var nll = (largest - logits.gather(-1, target.unsqueeze(-1))).add_(rest);
            return LossReducer.Reduce(LossReducer.SumPerExample(nll), reduction).MoveToOuterDisposeScope();
        }

        if (target.dtype != ScalarType.Float32 && target.dtype != ScalarType.Float64)
        {
            throw new ArgumentException(
                $"target must be int64 class indices of shape {LossGuard.Shape(indexShape)} or float one-hot/probability " +
                $"vectors of shape {LossGuard.Shape(logits)}, but has dtype {target.dtype} (shape {LossGuard.Shape(target)}). " +
                "Convert indices with target.to_type(ScalarType.Int64).", nameof(target));
        }
        LossGuard.SameDtypeAndDevice(target, nameof(target), logits, nameof(logits));
        if (!target.shape.AsSpan().SequenceEqual(logits.shape))
        {
            throw new ArgumentException(
                $"target is a float tensor, so it holds one-hot vectors or probabilities and must have the shape of logits, " +
                $"{LossGuard.Shape(logits)}, but has shape {LossGuard.Shape(target)}. For class indices of shape " +
                $"{LossGuard.Shape(indexShape)} pass an int64 tensor.", nameof(target));
        }

        // A soft target must be a distribution over the classes: t ≥ 0 and Σ_c t = 1 in every group (within rounding,
        // relative 1e-4 in float32, 1e-8 in float64). One device synchronization for both reductions.
        if (target.numel() > 0)
        {
            double min, sumMin, sumMax;
            using (NewDisposeScope())
            using (no_grad())
            {
                var (sMin, sMax) = target.sum(-1).aminmax();
                var all = stack(new[] { target.min().to_type(ScalarType.Float64), sMin.to_type(ScalarType.Float64), sMax.to_type(ScalarType.Float64) }).cpu();
                var v = all.data<double>().ToArray();
                (min, sumMin, sumMax) = (v[0], v[1], v[2]);
            }
            double tolerance = target.dtype == ScalarType.Float64 ? 1e-8 : 1e-4;
            if (!(min >= 0 && Math.Abs(sumMin - 1) <= tolerance && Math.Abs(sumMax - 1) <= tolerance))
            {
                throw new ArgumentOutOfRangeException(nameof(target),
                    $"target holds one-hot vectors or probabilities, so each entry must be ≥ 0 and each group of {classes} must " +
                    $"sum to 1 (within {tolerance:G1}), but its smallest entry is {LossGuard.Number(min)} and its group sums range " +
                    $"over [{LossGuard.Number(sumMin)}, {LossGuard.Number(sumMax)}]. Normalize it (e.g. target.softmax(-1) of " +
                    "scores, or divide counts by their sum), or pass int64 class indices.");
            }
        }

        using (var scope = NewDisposeScope())
        {
            // −Σ_c t_c log p_c = Σ_c t_c (m − ℓ_c) + (Σ_c t_c)·r: non-negative terms only (exact when a class
            // dominates); a class with t_c = 0 adds 0 even where its logit is −∞.
            var (max, rest) = LossMath.LogSumExpParts(logits);
            var gaps = (max - logits).mul(target).masked_fill_(target.eq(0), 0);
            var perGroup = gaps.sum(-1, keepdim: true).add_(rest.mul(target.sum(-1, keepdim: true)));
            return LossReducer.Reduce(LossReducer.SumPerExample(perGroup), reduction).MoveToOuterDisposeScope();
        }
    }

    /// <summary>The negative evidence lower bound: reconstruction NLL plus β times the KL term.</summary>
    /// <param name="reconstructionNll">Per-example reconstruction NLL [B], e.g. from <see cref="BernoulliNllWithLogits"/> with <see cref="LossReduction.None"/>.</param>
    /// <param name="mu">Posterior means [B, L].</param>
    /// <param name="logVar">Posterior log-variances [B, L].</param>
    /// <param name="beta">β ≥ 0, the weight of the KL term (1 = the ELBO; β &gt; 1 = β-VAE; ramp it from 0 for KL annealing).</param>
    /// <param name="reduction">Reduction over the batch, applied to all three terms.</param>
    /// <param name="freeBits">Free bits λ ≥ 0 for the KL term; see <see cref="KlDivergenceStandardNormal"/>.</param>
    /// <returns>The loss and its two terms, each reduced as requested. Dispose it (or let a dispose scope do so).</returns>
    /// <remarks>
    /// <para>Loss = Reconstruction + β·Kl, where Reconstruction = E_q[−log p(x|z)] estimated by
    /// <paramref name="reconstructionNll"/> and Kl = KL(q(z|x) ‖ N(0, I)) from <see cref="KlDivergenceStandardNormal"/>.
    /// With β = 1 and λ = 0 this is −ELBO, an upper bound on −log p(x) (Kingma &amp; Welling 2014, "Auto-Encoding
    /// Variational Bayes", eq. 10; β: Higgins et al. 2017, "β-VAE").</para>
    /// </remarks>
    /// <exception cref="ArgumentNullException">A tensor is null.</exception>
    /// <exception cref="ArgumentException">Wrong rank, shape, dtype or device.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="beta"/> or <paramref name="freeBits"/> is negative or not finite, or <paramref name="reduction"/> is unknown.</exception>
    public static ElboLoss Elbo(Tensor reconstructionNll, Tensor mu, Tensor logVar, double beta = 1.0, LossReduction reduction = LossReduction.Mean, double freeBits = 0)
    {
        LossGuard.NotNull(reconstructionNll, nameof(reconstructionNll), "[B] (a per-example NLL from a loss called with LossReduction.None)");
        CheckPosterior(mu, logVar);
        LossGuard.FloatingPoint(reconstructionNll, nameof(reconstructionNll));
        if (reconstructionNll.dim() != 1)
        {
            throw new ArgumentException(
                $"reconstructionNll must be one value per example, shape [{mu.shape[0]}], but has shape " +
                $"{LossGuard.Shape(reconstructionNll)}. Compute it with reduction: LossReduction.None.",
                nameof(reconstructionNll));
        }
        LossGuard.BatchMatches(reconstructionNll, nameof(reconstructionNll), mu.shape[0], nameof(mu));
        LossGuard.SameDtypeAndDevice(reconstructionNll, nameof(reconstructionNll), mu, nameof(mu));
        LossGuard.NonNegativeFinite(beta, nameof(beta), "the weight of the KL term");
        LossGuard.NonNegativeFinite(freeBits, nameof(freeBits), "the minimum KL per latent dimension, in nats");
        LossGuard.Defined(reduction, nameof(reduction));

        using var scope = NewDisposeScope();
        // alias: the None result must be a tensor of our own, since ElboLoss disposes it.
        var reconstruction = reduction == LossReduction.None
            ? reconstructionNll.alias()
            : LossReducer.Reduce(reconstructionNll, reduction);
        var kl = KlDivergenceStandardNormal(mu, logVar, reduction, freeBits);
        var loss = kl * beta;
        loss.add_(reconstruction);
        return new ElboLoss(loss.MoveToOuterDisposeScope(), reconstruction.MoveToOuterDisposeScope(), kl.MoveToOuterDisposeScope());
    }

    /// <summary>Log-density of a diagonal Gaussian, summed over the last dimension.</summary>
    /// <param name="z">Points [..., L].</param>
    /// <param name="mu">Means, broadcastable with <paramref name="z"/> (e.g. [B, L] against samples [k, B, L]).</param>
    /// <param name="logVar">Log-variances, broadcastable like <paramref name="mu"/>.</param>
    /// <returns>log N(z; mu, diag exp(logVar)) in nats, of the broadcast shape without its last dimension.</returns>
    /// <remarks>log q(z) = −½ Σ_j [log 2π + logVar_j + (z_j − mu_j)² exp(−logVar_j)] (Bishop 2006, eq. 2.43).</remarks>
    /// <exception cref="ArgumentNullException">A tensor is null.</exception>
    /// <exception cref="ArgumentException">A tensor is a scalar, the shapes do not broadcast, or dtype or device disagree.</exception>
    public static Tensor GaussianLogDensity(Tensor z, Tensor mu, Tensor logVar)
    {
        LossGuard.NotNull(z, nameof(z), "[..., L]");
        LossGuard.NotNull(mu, nameof(mu), "[..., L]");
        LossGuard.NotNull(logVar, nameof(logVar), "[..., L]");
        foreach (var (t, name) in new[] { (z, nameof(z)), (mu, nameof(mu)), (logVar, nameof(logVar)) })
        {
            LossGuard.FloatingPoint(t, name);
            LossGuard.MinRank(t, name, 1, "[..., L]");
        }
        LossGuard.SameDtypeAndDevice(mu, nameof(mu), z, nameof(z));
        LossGuard.SameDtypeAndDevice(logVar, nameof(logVar), z, nameof(z));
        var zMu = LossGuard.Broadcast(z.shape, mu.shape);
        if (zMu is null || LossGuard.Broadcast(zMu, logVar.shape) is null)
        {
            throw new ArgumentException(
                $"z {LossGuard.Shape(z)}, mu {LossGuard.Shape(mu)} and logVar {LossGuard.Shape(logVar)} must broadcast " +
                "together (equal trailing dimensions, or 1). Give mu and logVar the shape of z, or a shape such as [B, L] " +
                "against samples [k, B, L].", zMu is null ? nameof(mu) : nameof(logVar));
        }

        using var scope = NewDisposeScope();
        // ½ t² + ½ logVar with t = (z − mu)·e^(−logVar/2), as in GaussianNll: no overflow before the value itself.
        var perElement = LossMath.HalfSquare((z - mu) * logVar.mul(-0.5).exp_());
        perElement.add_(logVar.mul(0.5));
        var result = perElement.sum(-1);
        // The log 2π term counts the latent dimensions of the broadcast shape.
        result.add_(LossReducer.HalfLog2Pi * perElement.shape[^1]).neg_();
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>Log-density of the standard normal N(0, I), summed over the last dimension.</summary>
    /// <param name="z">Points [..., L].</param>
    /// <returns>log N(z; 0, I) in nats, shape [...] (z without its last dimension).</returns>
    /// <remarks>log p(z) = −½ Σ_j [log 2π + z_j²] (Bishop 2006, eq. 2.43 with μ = 0, Σ = I).</remarks>
    /// <exception cref="ArgumentNullException"><paramref name="z"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="z"/> is a scalar or not float32/float64.</exception>
    public static Tensor StandardNormalLogDensity(Tensor z)
    {
        LossGuard.NotNull(z, nameof(z), "[..., L]");
        LossGuard.FloatingPoint(z, nameof(z));
        LossGuard.MinRank(z, nameof(z), 1, "[..., L]");

        using var scope = NewDisposeScope();
        var result = LossMath.HalfSquare(z).sum(-1);
        result.add_(LossReducer.HalfLog2Pi * z.shape[^1]).neg_();
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>The importance-weighted (IWAE) bound, as a negative log-likelihood estimate.</summary>
    /// <param name="logLikelihood">log p(x | z_i) for k samples z_i ~ q(z | x) of each example, [k, B].</param>
    /// <param name="logPrior">log p(z_i), [k, B] (e.g. <see cref="StandardNormalLogDensity"/>).</param>
    /// <param name="logPosterior">log q(z_i | x), [k, B] (e.g. <see cref="GaussianLogDensity"/>).</param>
    /// <param name="reduction">Reduction over the batch.</param>
    /// <returns>The bound in nats: a scalar, or [B] for <see cref="LossReduction.None"/>.</returns>
    /// <remarks>
    /// <para>NLL_k = −log (1/k) Σ_i exp(w_i) = log k − logsumexp_i(w_i), with log-weights
    /// w_i = log p(x|z_i) + log p(z_i) − log q(z_i|x) (Burda, Grosse &amp; Salakhutdinov 2016, "Importance Weighted
    /// Autoencoders", eq. 8), evaluated as −(m + log1p(mean_i expm1(w_i − m))) with m = max_i w_i: finite for any
    /// finite weights, and exact also when the weights nearly agree and the result is near 0 (where log k − logsumexp
    /// cancels). Domain: any real log-densities; −∞ is allowed in every argument. For k = 1 this is the single-sample
    /// −ELBO; E[NLL_k] decreases with k towards −log p(x).</para>
    /// </remarks>
    /// <exception cref="ArgumentNullException">A tensor is null.</exception>
    /// <exception cref="ArgumentException">Not rank 2, k = 0, shapes, dtypes or devices disagree.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="reduction"/> is unknown.</exception>
    public static Tensor ImportanceWeightedNll(Tensor logLikelihood, Tensor logPrior, Tensor logPosterior, LossReduction reduction = LossReduction.Mean)
    {
        LossGuard.NotNull(logLikelihood, nameof(logLikelihood), "[k, B]");
        LossGuard.NotNull(logPrior, nameof(logPrior), "[k, B]");
        LossGuard.NotNull(logPosterior, nameof(logPosterior), "[k, B]");
        LossGuard.FloatingPoint(logLikelihood, nameof(logLikelihood));
        LossGuard.Rank(logLikelihood, nameof(logLikelihood), 2, "[k, B] (k importance samples of B examples)");
        if (logLikelihood.shape[0] < 1)
        {
            throw new ArgumentException(
                $"logLikelihood has k = 0 importance samples (shape {LossGuard.Shape(logLikelihood)}); the bound needs " +
                "k ≥ 1 samples per example along dimension 0.", nameof(logLikelihood));
        }
        if (logLikelihood.shape[1] < 1)
        {
            throw new ArgumentException(
                $"logLikelihood has an empty batch dimension (shape {LossGuard.Shape(logLikelihood)}); pass at least one example.",
                nameof(logLikelihood));
        }
        foreach (var (t, name) in new[] { (logPrior, nameof(logPrior)), (logPosterior, nameof(logPosterior)) })
        {
            LossGuard.FloatingPoint(t, name);
            LossGuard.SameShape(t, name, logLikelihood, nameof(logLikelihood));
            LossGuard.SameDtypeAndDevice(t, name, logLikelihood, nameof(logLikelihood));
        }
        LossGuard.Defined(reduction, nameof(reduction));

        using var scope = NewDisposeScope();
        var logWeights = logLikelihood + logPrior;
        logWeights.sub_(logPosterior);
        // log k − logsumexp(w) = −(m + log((1/k) Σ e^(w − m))) = −(m + log1p(mean(expm1(w − m)))), m = max w: the
        // log-mean-exp without the cancellation of log k − (m + log Σ …) when the weights agree (the result near 0).
        // m is taken by gather at the argmax so its gradient reaches that weight only, which keeps ∂/∂w = softmax(w);
        // an infinite m is replaced by 0, as libtorch's logsumexp does.
        var index = logWeights.argmax(0, keepdim: true);
        var m = logWeights.gather(0, index);
        m = where(m.isinf(), zeros_like(m), m);
        var meanExpm1 = (logWeights - m).expm1().mean(new long[] { 0 });
        var perExample = meanExpm1.log1p().add_(m.squeeze(0)).neg_();
        return LossReducer.Reduce(perExample, reduction).MoveToOuterDisposeScope();
    }

    private static void CheckPosterior(Tensor mu, Tensor logVar)
    {
        LossGuard.NotNull(mu, nameof(mu), "[B, L]");
        LossGuard.NotNull(logVar, nameof(logVar), "[B, L]");
        LossGuard.FloatingPoint(mu, nameof(mu));
        LossGuard.MinRank(mu, nameof(mu), 2, "[B, L] (batch, latent dimensions)");
        LossGuard.BatchSize(mu, nameof(mu));
        LossGuard.FloatingPoint(logVar, nameof(logVar));
        LossGuard.SameShape(logVar, nameof(logVar), mu, nameof(mu));
        LossGuard.SameDtypeAndDevice(logVar, nameof(logVar), mu, nameof(mu));
    }

    private static void CheckPrediction(Tensor prediction, string name, Tensor target)
    {
        LossGuard.NotNull(prediction, name, "[B, ...]");
        LossGuard.NotNull(target, nameof(target), $"{LossGuard.Shape(prediction)} (the shape of {name})");
        LossGuard.FloatingPoint(prediction, name);
        LossGuard.MinRank(prediction, name, 1, "[B, ...] (batch first)");
        LossGuard.BatchSize(prediction, name);
        LossGuard.FloatingPoint(target, nameof(target));
        LossGuard.SameShape(target, nameof(target), prediction, name);
        LossGuard.SameDtypeAndDevice(target, nameof(target), prediction, name);
    }
}

/// <summary>
/// The negative ELBO and its two terms, as returned by <see cref="VaeLosses.Elbo"/>. Owns the three tensors:
/// disposing it disposes them.
/// </summary>
public sealed class ElboLoss : IDisposable
{
    internal ElboLoss(Tensor loss, Tensor reconstruction, Tensor kl)
    {
        Loss = loss;
        Reconstruction = reconstruction;
        Kl = kl;
    }

    /// <summary>The loss to minimize, <see cref="Reconstruction"/> + β·<see cref="Kl"/>, reduced as requested.</summary>
    public Tensor Loss { get; }

    /// <summary>The reconstruction negative log-likelihood, reduced as requested.</summary>
    public Tensor Reconstruction { get; }

    /// <summary>The KL term before the β weighting (after free bits, if any), reduced as requested.</summary>
    public Tensor Kl { get; }

    /// <summary>Disposes <see cref="Loss"/>, <see cref="Reconstruction"/> and <see cref="Kl"/>.</summary>
    public void Dispose()
    {
        Loss.Dispose();
        Reconstruction.Dispose();
        Kl.Dispose();
    }
}
