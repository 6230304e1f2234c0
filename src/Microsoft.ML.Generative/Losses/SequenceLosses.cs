using System;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Microsoft.ML.Generative.Losses;

/// <summary>Losses and metrics of autoregressive sequence models.</summary>
/// <remarks>
/// Values are in nats. Unlike the other losses in this namespace, <see cref="LossReduction.Mean"/> here averages
/// over tokens, not sequences: see <see cref="NextTokenCrossEntropy"/>.
/// </remarks>
public static class SequenceLosses
{
    /// <summary>Cross-entropy of next-token predictions, with padding (ignored positions) and optional label smoothing.</summary>
    /// <param name="logits">Unnormalized log-probabilities [B, T, V]: position t predicts <c>targets[b, t]</c>. The caller has already shifted targets by one position.</param>
    /// <param name="targets">Token ids, int64 [B, T], each in [0, V − 1] or equal to <paramref name="ignoreIndex"/>.</param>
    /// <param name="ignoreIndex">Target value of positions (padding) that count for nothing, neither in the loss nor in the token count.</param>
    /// <param name="labelSmoothing">ε in [0, 1): the target distribution becomes (1 − ε)·one-hot + ε/V·uniform.</param>
    /// <param name="reduction">
    /// <see cref="LossReduction.Mean"/>: the mean NLL per non-ignored token, the quantity <see cref="Perplexity(double)"/>
    /// and <see cref="BitsPerToken(double)"/> expect (a batch of long and short sequences weighs every token
    /// equally). If every position is ignored it returns 0, not NaN.
    /// <see cref="LossReduction.Sum"/>: the total over all non-ignored tokens.
    /// <see cref="LossReduction.None"/>: the per-sequence sum, shape [B] (0 for a fully ignored sequence).
    /// </param>
    /// <returns>A scalar, or [B] for <see cref="LossReduction.None"/>.</returns>
    /// <remarks>
    /// <para>Per non-ignored token: ℓ_bt = −(1 − ε)·log p(y_bt) − (ε/V) Σ_v log p(v), evaluated with m = max_v logit_v
    /// as (1 − ε)(m − logit_y) + ε·mean_v(m − logit_v) + log1p(Σ_{v ≠ argmax} e^(logit_v − m)): every term is
    /// non-negative, so any logit is safe and a nearly certain token's tiny NLL keeps its relative precision (the
    /// usual log_softmax form rounds values below ε·|logsumexp| to 0) (Bengio et al. 2003, "A Neural Probabilistic Language Model";
    /// label smoothing: Szegedy et al. 2016, "Rethinking the Inception Architecture for Computer Vision", §7).
    /// With ε = 0 and <see cref="LossReduction.Mean"/> this equals PyTorch's
    /// <c>cross_entropy(logits.view(-1, V), targets.view(-1), ignore_index=ignoreIndex)</c>.</para>
    /// <para>Targets are range-checked once (one masked min/max reduction).</para>
    /// </remarks>
    /// <exception cref="ArgumentNullException">A tensor is null.</exception>
    /// <exception cref="ArgumentException">Wrong rank, shape, dtype or device.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A target outside [0, V − 1] that is not <paramref name="ignoreIndex"/>, <paramref name="labelSmoothing"/> outside [0, 1), or an unknown <paramref name="reduction"/>.</exception>
    public static Tensor NextTokenCrossEntropy(Tensor logits, Tensor targets, long ignoreIndex = -100, double labelSmoothing = 0.0, LossReduction reduction = LossReduction.Mean)
    {
        LossGuard.NotNull(logits, nameof(logits), "[B, T, V]");
        LossGuard.NotNull(targets, nameof(targets), "[B, T]");
        LossGuard.FloatingPoint(logits, nameof(logits));
        LossGuard.Rank(logits, nameof(logits), 3, "[B, T, V] (batch, time, vocabulary)");
        LossGuard.Int64(targets, nameof(targets), "token ids");
        LossGuard.Rank(targets, nameof(targets), 2, "[B, T] (batch, time)");
        if (targets.shape[0] != logits.shape[0] || targets.shape[1] != logits.shape[1])
        {
            throw new ArgumentException(
                $"targets must have shape [B, T] = [{logits.shape[0]}, {logits.shape[1]}] to match logits " +
                $"{LossGuard.Shape(logits)}, but has shape {LossGuard.Shape(targets)}. Shift inputs and targets " +
                "before calling (position t of logits predicts targets[:, t]).", nameof(targets));
        }
        if (targets.device_type != logits.device_type || targets.device_index != logits.device_index)
        {
            throw new ArgumentException(
                $"targets is on device {targets.device} but logits is on device {logits.device}; move it with targets.to(logits.device).",
                nameof(targets));
        }
        LossGuard.BatchSize(logits, nameof(logits));
        if (!(labelSmoothing >= 0 && labelSmoothing < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(labelSmoothing), labelSmoothing,
                $"labelSmoothing must lie in [0, 1) (0 disables it; 0.1 is common), but is {LossGuard.Number(labelSmoothing)}.");
        }
        LossGuard.Defined(reduction, nameof(reduction));
        long vocabulary = logits.shape[2];

        using var scope = NewDisposeScope();
        var ignored = targets.eq(ignoreIndex);
        if (targets.numel() > 0) // aminmax throws on empty tensors
        {
            using var noGrad = no_grad();
            var (min, max) = targets.masked_fill(ignored, 0).aminmax();
            long lo = min.item<long>(), hi = max.item<long>();
            if (lo < 0 || hi > vocabulary - 1)
            {
                throw new ArgumentOutOfRangeException(nameof(targets),
                    $"targets must hold token ids in [0, {vocabulary - 1}] (logits has V = {vocabulary}) or ignoreIndex " +
                    $"({ignoreIndex}), but holds {(lo < 0 ? lo : hi)}. Check the tokenizer's vocabulary size, and pass the " +
                    "padding id as ignoreIndex.");
            }
        }

        // [B·T] per-token losses; ignored positions are 0, including their label-smoothing term.
        var perToken = PerTokenNll(logits.reshape(-1, vocabulary), targets.reshape(-1), ignored.reshape(-1), labelSmoothing);
        Tensor result;
        switch (reduction)
        {
            case LossReduction.Mean:
                // Tokens counted as a tensor: no device synchronization. Clamped so that all-ignored gives 0/1 = 0.
                var tokens = ignored.logical_not().sum().clamp_min(1);
                result = perToken.sum().div_(tokens);
                break;
            case LossReduction.Sum:
                result = perToken.sum();
                break;
            default:
                result = perToken.view(targets.shape[0], targets.shape[1]).sum(1);
                break;
        }
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Per-token (1 − ε)·(m − ℓ_y) + ε·mean_v(m − ℓ_v) + log1p(Σ_{v≠argmax} e^(ℓ_v − m)), m the largest logit: the
    /// label-smoothed −log softmax, as a sum of non-negative terms (see <see cref="LossMath.LogSumExpParts"/>); 0 where
    /// <paramref name="ignored"/>.
    /// </summary>
    /// <param name="logits">[N, V].</param>
    /// <param name="targets">[N] int64 (any value where ignored).</param>
    /// <param name="ignored">[N] bool.</param>
    /// <param name="labelSmoothing">ε.</param>
    /// <returns>[N].</returns>
    internal static Tensor PerTokenNll(Tensor logits, Tensor targets, Tensor ignored, double labelSmoothing)
    {
        var (max, rest) = LossMath.LogSumExpParts(logits);
        var perToken = max - logits.gather(-1, targets.masked_fill(ignored, 0).unsqueeze(-1));    // [N, 1]
        if (labelSmoothing > 0)
            perToken = perToken.mul_(1 - labelSmoothing).add_((max - logits).mean(new long[] { -1 }, keepdim: true).mul_(labelSmoothing));
        return perToken.add_(rest).squeeze(-1).masked_fill(ignored, 0);
    }

    /// <summary>
    /// The autoregressive family's training loss (internal): the mean per real token of the label-smoothed next-token
    /// cross-entropy by libtorch's fused kernel, without the target range check (the ids come from the model's own
    /// vocabulary, and the check costs a device synchronization per step). Its gradient, softmax − target, is the
    /// exact one; its value loses a nearly certain token's NLL below ε·|logsumexp| (at most ~1e-16 nats per token,
    /// nothing for a per-token mean). The exact form costs 3–4× the fused kernel, 56% of a Transformer step at
    /// V = 2048 (docs/benchmarks.md, "cross-entropy"), which is why training does not use it.
    /// </summary>
    /// <param name="logits">[B, T, V].</param>
    /// <param name="targets">[B, T] int64 ids in [0, V − 1] or <paramref name="ignoreIndex"/>.</param>
    /// <param name="ignoreIndex">Padding id.</param>
    /// <param name="labelSmoothing">ε in [0, 1).</param>
    /// <returns>A scalar: the mean per non-ignored token (0 when all are ignored).</returns>
    internal static Tensor NextTokenCrossEntropyUnchecked(Tensor logits, Tensor targets, long ignoreIndex, double labelSmoothing = 0.0)
    {
        using var scope = NewDisposeScope();
        long vocabulary = logits.shape[2];
        var perToken = functional.cross_entropy(logits.reshape(-1, vocabulary), targets.reshape(-1), ignore_index: ignoreIndex,
            reduction: Reduction.None, label_smoothing: labelSmoothing);
        var tokens = targets.ne(ignoreIndex).sum().clamp_min(1);
        return perToken.sum().div_(tokens).MoveToOuterDisposeScope();
    }

    /// <summary>Perplexity, exp(mean NLL per token).</summary>
    /// <param name="meanNll">Mean negative log-likelihood per token in nats (<see cref="NextTokenCrossEntropy"/> with <see cref="LossReduction.Mean"/>).</param>
    /// <returns>exp(<paramref name="meanNll"/>): the effective number of equally likely choices per token.</returns>
    /// <remarks>PPL = exp((1/N) Σ_t −log p(y_t | y_&lt;t)) (Jelinek et al. 1977, "Perplexity—a measure of the difficulty of speech recognition tasks").</remarks>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="meanNll"/> is negative or NaN.</exception>
    public static double Perplexity(double meanNll)
    {
        CheckMeanNll(meanNll);
        return Math.Exp(meanNll);
    }

    /// <summary>Bits per token, the mean NLL per token converted from nats to bits.</summary>
    /// <param name="meanNll">Mean negative log-likelihood per token in nats.</param>
    /// <returns><paramref name="meanNll"/> / ln 2.</returns>
    /// <remarks>bits = nats / ln 2 (Shannon 1948, "A Mathematical Theory of Communication"); log₂ of <see cref="Perplexity(double)"/>.</remarks>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="meanNll"/> is negative or NaN.</exception>
    public static double BitsPerToken(double meanNll)
    {
        CheckMeanNll(meanNll);
        return meanNll / Math.Log(2);
    }

    /// <summary>Perplexity, exp(mean NLL per token), element-wise on a tensor (no device synchronization).</summary>
    /// <param name="meanNll">Mean NLL per token in nats, any shape, float32 or float64.</param>
    /// <returns>exp(<paramref name="meanNll"/>), same shape and dtype.</returns>
    /// <remarks>PPL = exp((1/N) Σ_t −log p(y_t | y_&lt;t)) (Jelinek et al. 1977). Domain: meanNll ≥ 0. Not checked
    /// with an exception (that would cost a device synchronization): a negative entry gives NaN, never a finite
    /// wrong perplexity below 1. A large NLL gives +∞.</remarks>
    /// <exception cref="ArgumentNullException"><paramref name="meanNll"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="meanNll"/> is not float32/float64.</exception>
    public static Tensor Perplexity(Tensor meanNll)
    {
        LossGuard.NotNull(meanNll, nameof(meanNll), "[] (a scalar mean NLL per token)");
        LossGuard.FloatingPoint(meanNll, nameof(meanNll));
        using var scope = NewDisposeScope();
        // Not in place: exp keeps its output for the backward pass.
        return meanNll.exp().masked_fill(meanNll.lt(0), double.NaN).MoveToOuterDisposeScope();
    }

    /// <summary>Bits per token, element-wise on a tensor (no device synchronization).</summary>
    /// <param name="meanNll">Mean NLL per token in nats, any shape, float32 or float64.</param>
    /// <returns><paramref name="meanNll"/> / ln 2, same shape and dtype.</returns>
    /// <remarks>bits = nats / ln 2 (Shannon 1948). Domain: meanNll ≥ 0. Not checked with an exception (no device
    /// synchronization): a negative entry gives NaN, never a finite wrong value.</remarks>
    /// <exception cref="ArgumentNullException"><paramref name="meanNll"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="meanNll"/> is not float32/float64.</exception>
    public static Tensor BitsPerToken(Tensor meanNll)
    {
        LossGuard.NotNull(meanNll, nameof(meanNll), "[] (a scalar mean NLL per token)");
        LossGuard.FloatingPoint(meanNll, nameof(meanNll));
        using var scope = NewDisposeScope();
        return meanNll.div(Math.Log(2)).masked_fill_(meanNll.lt(0), double.NaN).MoveToOuterDisposeScope();
    }

    private static void CheckMeanNll(double meanNll)
    {
        if (!(meanNll >= 0))
        {
            throw new ArgumentOutOfRangeException(nameof(meanNll), meanNll,
                $"meanNll must be a mean negative log-likelihood per token in nats, ≥ 0, but is {LossGuard.Number(meanNll)}. " +
                "Pass the loss itself, not the log-likelihood.");
        }
    }
}
