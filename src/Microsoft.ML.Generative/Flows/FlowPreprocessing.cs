using System;
using Microsoft.ML.Generative.Losses;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Flows;

/// <summary>What a row is to the model before scoring: usable, NaN somewhere, or outside the model's support.</summary>
internal enum RowStatus
{
    Usable,
    NotANumber,
    Impossible,
}

/// <summary>
/// The fixed maps before the flow, with their log-determinants: dequantization (integer data) and the logit
/// transform (bounded data). Saved with the model. <see cref="Levels"/> is 0 unless the logit transform scales
/// dequantized data.
/// </summary>
internal sealed record FlowPreprocessing(int Dimension, bool Dequantize, int DequantizationSamples, int Levels, bool Logit, double Alpha)
{
    /// <summary>Seed of the fixed dequantization offsets used for scoring: the same in every process and version.</summary>
    private const ulong OffsetSeed = 0x5EED_F10C;

    private float[]? _offsets;

    public bool IsIdentity => !Dequantize && !Logit;

    /// <summary>
    /// The K offsets u_k ∈ [0, 1)ᴰ of dequantized scoring, row-major [K, D]: one seeded draw, shared by every row, so
    /// a row's score depends on the row alone (not on its batch) and is the same in every call and process.
    /// </summary>
    public float[] Offsets
    {
        get
        {
            if (_offsets is null)
            {
                using var generator = new Generator(OffsetSeed);
                using var draw = rand(new long[] { DequantizationSamples, Dimension }, generator: generator);
                _offsets = draw.data<float>().ToArray();
            }
            return _offsets;
        }
    }

    /// <summary>
    /// Training map of a batch x [B, D]: fresh dequantization noise from <paramref name="noise"/>, then the logit
    /// transform. Returns y [B, D] and log|det ∂y/∂x| [B], or null when the map is the identity (y is then x itself).
    /// </summary>
    public (Tensor Y, Tensor? LogDet) Train(Tensor x, Generator noise)
    {
        if (IsIdentity)
            return (x, null);
        if (Dequantize && Logit)
        {
            // (x + u) / L with log|det| = −D log L, then logit: FlowLosses checks range and integrality on the way.
            var (v, logDet) = FlowLosses.UniformDequantize(x, Levels, noise);
            var (s, logitLogDet) = FlowLosses.LogitTransform(v, Alpha);
            return (s, logDet.add_(logitLogDet));
        }
        if (Dequantize)
            return (rand(x.shape, x.dtype, x.device, generator: noise).add_(x), null);
        return LogitOf(x);
    }

    /// <summary>
    /// Scoring map of x [B, D] with the dequantization offsets <paramref name="offsets"/> [B, D] (or null when not
    /// dequantized): the same formulas as <see cref="Train"/>, with fixed instead of random u.
    /// </summary>
    public (Tensor Y, Tensor? LogDet) Score(Tensor x, Tensor? offsets)
    {
        if (IsIdentity)
            return (x, null);
        var v = offsets is null ? x : x + offsets;
        if (!Logit)
            return (v, null);
        if (Dequantize)
        {
            using var scaled = v.div(Levels);
            var (s, logDet) = FlowLosses.LogitTransform(scaled, Alpha);
            // −D log L: the Jacobian of the division (FlowLosses.UniformDequantize's log-determinant).
            return (s, logDet.sub_(Dimension * Math.Log(Levels)));
        }
        return LogitOf(v);
    }

    private (Tensor, Tensor?) LogitOf(Tensor y)
    {
        var (s, logDet) = FlowLosses.LogitTransform(y, Alpha);
        return (s, logDet);
    }

    /// <summary>From the flow's input space back to the original units (sampling): inverse logit, ×L, floor for integer data.</summary>
    public Tensor Restore(Tensor y)
    {
        using var scope = NewDisposeScope();
        var v = y;
        if (Logit)
        {
            v = v.sigmoid().sub_(Alpha).div_(1 - 2 * Alpha).clamp_(0, 1);                 // p = α + (1 − 2α)·y
            if (Dequantize)
                v = v.mul_(Levels).floor_().clamp_(0, Levels - 1);
        }
        else if (Dequantize)
        {
            v = v.floor();
        }
        else
        {
            v = v.alias();
        }
        return v.MoveToOuterDisposeScope();
    }

    /// <summary>Classifies a row for scoring: NaN, outside the support (±∞, non-integer when dequantized, out of the logit's range), or usable.</summary>
    public RowStatus Classify(ReadOnlySpan<float> row)
    {
        var status = RowStatus.Usable;
        foreach (float v in row)
        {
            if (float.IsNaN(v))
                return RowStatus.NotANumber;
            if (float.IsInfinity(v) || (Dequantize && v != MathF.Floor(v)) || (Logit && !InLogitRange(v)))
                status = RowStatus.Impossible;
        }
        return status;
    }

    private bool InLogitRange(float v) => Dequantize ? v >= 0 && v <= Levels - 1 : v >= 0 && v <= 1;

    /// <summary>The check of every training row (null: the row is fine), for the shared reader, which names the row.</summary>
    public static Func<ReadOnlySpan<float>, string?>? TrainingRowCheck(bool dequantize, bool logit, int levels)
    {
        if (!dequantize && !logit)
            return null;
        return row =>
        {
            for (int j = 0; j < row.Length; j++)
            {
                float v = row[j];
                if (dequantize && v != MathF.Floor(v))
                    return $"value {v} at slot {j} is not an integer, and Dequantize = true models integer-valued features. "
                           + "Set Dequantize = false for continuous data, or round the column first.";
                if (dequantize && logit && (v < 0 || (levels > 0 && v > levels - 1)))
                    return $"value {v} at slot {j} is outside [0, {(levels > 0 ? (levels - 1).ToString() : "L − 1")}], the levels the logit transform scales "
                           + "(LogitTransform = true with Dequantize = true). Shift the data to start at 0, or set NumberOfLevels.";
                if (!dequantize && logit && (v < 0 || v > 1))
                    return $"value {v} at slot {j} is outside [0, 1], which LogitTransform = true needs. Scale the column into [0, 1] "
                           + "(mlContext.Transforms.NormalizeMinMax with fixZero: false), or set LogitTransform = false.";
            }
            return null;
        };
    }
}
