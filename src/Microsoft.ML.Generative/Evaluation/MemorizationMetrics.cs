using System.Globalization;

namespace Microsoft.ML.Generative.Evaluation;

/// <summary>
/// Did the model copy its training data? Distances to the closest training record (DCR) of the generated rows,
/// compared with those of held-out real rows, which a model that generalizes should resemble.
/// </summary>
/// <remarks>
/// <para>DCR(y) = min_t ‖y − t‖ over the training rows t (Euclidean, in feature space, standardized when
/// <see cref="GenerativeEvaluationOptions.StandardizeFeatures"/> is set). The held-out rows are the <c>real</c>
/// rows of the evaluation: they must not be training rows (a held-out median DCR of 0 says they are).</para>
/// <para>References: Park et al. 2018, "Data synthesis based on generative adversarial networks" (DCR); Zhao et al.
/// 2021, "CTAB-GAN" and SDMetrics' DCRBaselineProtection (comparison with a held-out baseline); Platzer &amp;
/// Reutterer 2021, "Holdout-based fidelity and privacy assessment of mixed-type synthetic data" (the share of
/// synthetic rows closer to training than held-out rows are).</para>
/// </remarks>
public sealed class MemorizationMetrics
{
    internal MemorizationMetrics(int trainingRowCount, double medianGenerated, double medianHoldout, double nearCopyThreshold,
        double nearCopyRate, double holdoutNearCopyRate, double shareBelowHoldoutFifthPercentile)
    {
        TrainingRowCount = trainingRowCount;
        MedianDcrGenerated = medianGenerated;
        MedianDcrHoldout = medianHoldout;
        NearCopyThreshold = nearCopyThreshold;
        NearCopyRate = nearCopyRate;
        HoldoutNearCopyRate = holdoutNearCopyRate;
        ShareBelowHoldoutFifthPercentile = shareBelowHoldoutFifthPercentile;
    }

    /// <summary>Training rows searched (at most <see cref="GenerativeEvaluationOptions.MaxRows"/>).</summary>
    public int TrainingRowCount { get; }

    /// <summary>Median DCR of the generated rows, in feature units. [0, ∞).</summary>
    public double MedianDcrGenerated { get; }

    /// <summary>Median DCR of the held-out real rows: the baseline for <see cref="MedianDcrGenerated"/>. [0, ∞).</summary>
    public double MedianDcrHoldout { get; }

    /// <summary>
    /// <see cref="MedianDcrGenerated"/> / <see cref="MedianDcrHoldout"/>. About 1 for a model that generalizes; well
    /// below 1 means generated rows sit closer to training rows than new real data does (memorization); above 1
    /// means they are farther (lower fidelity, or more novelty). ∞ when the held-out median is 0.
    /// </summary>
    public double DcrRatio => MedianDcrHoldout > 0 ? MedianDcrGenerated / MedianDcrHoldout : double.PositiveInfinity;

    /// <summary>
    /// Distance under which a row counts as a near-exact copy of a training row:
    /// <see cref="GenerativeEvaluationOptions.NearCopyFraction"/> × <see cref="MedianDcrHoldout"/>.
    /// </summary>
    public double NearCopyThreshold { get; }

    /// <summary>Share of generated rows within <see cref="NearCopyThreshold"/> of a training row (exact copies included). [0, 1], lower is better; compare with <see cref="HoldoutNearCopyRate"/>.</summary>
    public double NearCopyRate { get; }

    /// <summary>The same share for the held-out real rows: what chance coincidences alone give (e.g. duplicated records in discrete data).</summary>
    public double HoldoutNearCopyRate { get; }

    /// <summary>
    /// Share of generated rows whose DCR is below the 5th percentile of the held-out DCRs. 0.05 is what fresh real
    /// data gives; much more means the model reproduces training rows more closely than new data would. [0, 1].
    /// </summary>
    public double ShareBelowHoldoutFifthPercentile { get; }

    /// <inheritdoc/>
    public override string ToString() => string.Format(CultureInfo.InvariantCulture,
        "median DCR generated {0:G4} vs held-out {1:G4} (ratio {2:F2}); near copies {3:P1} (held-out {4:P1}); below held-out 5th percentile {5:P1}",
        MedianDcrGenerated, MedianDcrHoldout, DcrRatio, NearCopyRate, HoldoutNearCopyRate, ShareBelowHoldoutFifthPercentile);
}
