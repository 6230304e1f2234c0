using System;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Losses;

/// <summary>How a loss reduces its per-example values over the batch.</summary>
/// <remarks>
/// Every loss in this namespace first computes one value per example, in nats, by summing over all the
/// non-batch dimensions (features, latent dimensions, time steps, pixels). The reduction then only acts on the
/// batch dimension. <see cref="SequenceLosses.NextTokenCrossEntropy"/> documents its own per-token meaning of
/// <see cref="Mean"/>.
/// </remarks>
public enum LossReduction
{
    /// <summary>Mean of the per-example values over the batch: a scalar. The default.</summary>
    Mean,

    /// <summary>Sum of the per-example values over the batch: a scalar.</summary>
    Sum,

    /// <summary>No reduction: one value per example, shape [B].</summary>
    None,
}

/// <summary>Reductions shared by the loss functions (internal).</summary>
internal static class LossReducer
{
    /// <summary>½·log(2π), the per-dimension normalizer of a Gaussian density.</summary>
    internal static readonly double HalfLog2Pi = 0.5 * Math.Log(2 * Math.PI);

    /// <summary>
    /// Sums a [B, ...] tensor over every dimension but the first, giving [B]. A rank-1 tensor is returned as
    /// is, so only call this on tensors created by the loss itself, never on a caller's tensor.
    /// </summary>
    internal static Tensor SumPerExample(Tensor values) =>
        values.dim() == 1 ? values : values.flatten(1).sum(1);

    /// <summary>
    /// Reduces per-example values [B]. <see cref="LossReduction.None"/> returns the tensor itself, so the same
    /// caution as for <see cref="SumPerExample"/> applies.
    /// </summary>
    internal static Tensor Reduce(Tensor perExample, LossReduction reduction) => reduction switch
    {
        LossReduction.Mean => perExample.mean(),
        LossReduction.Sum => perExample.sum(),
        LossReduction.None => perExample,
        _ => throw LossGuard.UnknownReduction(reduction),
    };
}
