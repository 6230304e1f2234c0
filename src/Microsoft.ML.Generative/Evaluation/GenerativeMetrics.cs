using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;

namespace Microsoft.ML.Generative.Evaluation;

/// <summary>
/// How close generated rows are to real ones, and whether the model copied its training data: the result of
/// <see cref="GenerativeCatalog.Evaluate(IDataView, IDataView, string, GenerativeEvaluationOptions?)"/>.
/// <see cref="ToString"/> prints a table; <see cref="SavePlots"/> writes pictures.
/// </summary>
/// <remarks>
/// Every metric is computed on the evaluation's subsample (at most <see cref="GenerativeEvaluationOptions.MaxRows"/>
/// rows per set, fewer for MMD² and detection) and is a deterministic function of the data and the seed. See
/// <c>docs/evaluation.md</c> for what each says and when to trust it.
/// </remarks>
public sealed class GenerativeMetrics
{
    internal GenerativeMetrics() { }

    /// <summary>Real rows used (after subsampling).</summary>
    public int RealRowCount { get; internal set; }

    /// <summary>Generated rows used (after subsampling).</summary>
    public int GeneratedRowCount { get; internal set; }

    /// <summary>Width of the feature column.</summary>
    public int FeatureCount { get; internal set; }

    /// <summary>Names of the feature slots (from the column's slot names, else "slot j").</summary>
    public IReadOnlyList<string> FeatureNames { get; internal set; } = Array.Empty<string>();

    /// <summary>The seed every random choice was made with.</summary>
    public int Seed { get; internal set; }

    /// <summary>
    /// The column the representation metrics (<see cref="FrechetDistance"/>, <see cref="MmdSquared"/>,
    /// precision / recall / density / coverage) were computed on: the feature column, or the
    /// <see cref="GenerativeEvaluationOptions.Embedding"/>'s output column.
    /// </summary>
    public string RepresentationColumn { get; internal set; } = "";

    /// <summary>Width of <see cref="RepresentationColumn"/>.</summary>
    public int RepresentationDimension { get; internal set; }

    /// <summary>
    /// Fréchet distance between Gaussian fits of the real and generated rows in <see cref="RepresentationColumn"/>:
    /// ‖μ_r − μ_g‖² + tr(Σ_r + Σ_g − 2 (Σ_r^{1/2} Σ_g Σ_r^{1/2})^{1/2}). Range [0, ∞), in squared units of that
    /// space; lower is better, 0 for matching means and covariances. Sees only the first two moments. Biased upwards
    /// for small samples (compare models at the same row counts). Reference: Heusel et al. 2017 (FID); see
    /// <see cref="Evaluation.FrechetDistance"/>.
    /// </summary>
    public double FrechetDistance { get; internal set; }

    /// <summary>
    /// Unbiased squared maximum mean discrepancy with a Gaussian kernel k(x, y) = exp(−‖x − y‖² / (2σ²)):
    /// MMD²_u = mean_{i≠j} k(x_i, x_j) + mean_{i≠j} k(y_i, y_j) − 2 mean_{i,j} k(x_i, y_j). Range: about [−1/n, 2];
    /// lower is better; 0 in expectation for equal distributions (the unbiased estimate can be slightly negative).
    /// Reference: Gretton et al. 2012, "A kernel two-sample test", JMLR 13.
    /// </summary>
    public double MmdSquared { get; internal set; }

    /// <summary>σ of the kernel: the median distance between the pooled rows (the median heuristic).</summary>
    public double MmdBandwidth { get; internal set; }

    /// <summary>
    /// Permutation p-value of MMD² ((1 + #{permuted ≥ observed}) / (1 + permutations)): the probability of an MMD² at
    /// least this large if real and generated rows came from one distribution. Small (e.g. &lt; 0.05) = the two are
    /// distinguishable. NaN when <see cref="GenerativeEvaluationOptions.PermutationCount"/> is 0.
    /// </summary>
    public double MmdPValue { get; internal set; }

    /// <summary>Rows of each set used for MMD² (at most <see cref="GenerativeEvaluationOptions.MmdMaxRows"/>).</summary>
    public int MmdRowCount { get; internal set; }

    /// <summary>
    /// Per-feature distance between the real and generated marginals: the two-sample Kolmogorov–Smirnov statistic
    /// sup_x |F_r(x) − F_g(x)| for continuous features, the total-variation distance ½ Σ_v |p_r(v) − p_g(v)| for
    /// discrete ones (<see cref="DiscreteFeatures"/>). Each in [0, 1], lower is better. A feature constant in both
    /// sets at the same value scores 0; constant at different values, 1. References: Massey 1951 (KS);
    /// SDMetrics' KSComplement and TVComplement (1 − these).
    /// </summary>
    public IReadOnlyList<double> MarginalDistances { get; internal set; } = Array.Empty<double>();

    /// <summary>Whether each feature was treated as discrete (see <see cref="GenerativeEvaluationOptions.DiscreteMaxLevels"/>).</summary>
    public IReadOnlyList<bool> DiscreteFeatures { get; internal set; } = Array.Empty<bool>();

    /// <summary>Mean of <see cref="MarginalDistances"/>. [0, 1], lower is better.</summary>
    public double MeanMarginalDistance => MarginalDistances.Count == 0 ? double.NaN : MarginalDistances.Average();

    /// <summary>Largest of <see cref="MarginalDistances"/>. [0, 1], lower is better.</summary>
    public double WorstMarginalDistance => MarginalDistances.Count == 0 ? double.NaN : MarginalDistances.Max();

    /// <summary>Index of the feature with the largest marginal distance (the first one on ties).</summary>
    public int WorstMarginalFeature => MarginalDistances.Count == 0 ? -1 : IndexOfMax(MarginalDistances);

    /// <summary>
    /// Pairwise correlation distance: the mean over feature pairs i &lt; j of |ρ_r(i, j) − ρ_g(i, j)|, ρ the Pearson
    /// correlation. Range [0, 2], lower is better. A feature constant in a set has correlation 0 with every other
    /// feature there (its Pearson correlation is 0/0). NaN for a single feature. Reference: SDMetrics'
    /// CorrelationSimilarity / "column pair trends" (which reports 1 − half of this per pair).
    /// </summary>
    public double CorrelationDistance { get; internal set; }

    /// <summary>The feature pair (i &lt; j) with the largest |Δρ|, and that difference; (-1, -1) and NaN for one feature.</summary>
    public (int First, int Second, double Difference) WorstCorrelationPair { get; internal set; }

    /// <summary>
    /// Precision (fidelity): share of generated rows inside the real k-NN manifold, the union of balls around real
    /// rows with radius the distance to their k-th nearest real neighbour. [0, 1], higher is better. Reference:
    /// Kynkäänniemi et al. 2019, "Improved precision and recall metric for assessing generative models".
    /// </summary>
    public double Precision { get; internal set; }

    /// <summary>
    /// Recall (diversity): share of real rows inside the generated k-NN manifold. [0, 1], higher is better; low when
    /// the model drops modes. Reference: Kynkäänniemi et al. 2019.
    /// </summary>
    public double Recall { get; internal set; }

    /// <summary>
    /// Density: (1 / (k M)) Σ_j #{real balls containing generated row j}. Range [0, N/k] (N real rows), about 1 when generated rows are
    /// distributed like real ones, &gt; 1 when they crowd dense real regions, &lt; 1 when they fall outside. Robust to
    /// real outliers, unlike precision. Reference: Naeem et al. 2020, "Reliable fidelity and diversity metrics for
    /// generative models".
    /// </summary>
    public double Density { get; internal set; }

    /// <summary>
    /// Coverage: share of real rows whose own k-NN ball contains at least one generated row. [0, 1], higher is better;
    /// robust to generated outliers, unlike recall. Reference: Naeem et al. 2020.
    /// </summary>
    public double Coverage { get; internal set; }

    /// <summary>k of the k-NN manifolds.</summary>
    public int NearestNeighbors { get; internal set; }

    /// <summary>
    /// Detection AUC (classifier two-sample test): mean ROC AUC over cross-validation folds of a FastTree classifier
    /// trained to tell real from generated rows. 0.5 = indistinguishable (best), 1 = always told apart; values a
    /// little below 0.5 are noise. NaN when <see cref="GenerativeEvaluationOptions.ComputeDetection"/> is off.
    /// Reference: Lopez-Paz &amp; Oquab 2017, "Revisiting classifier two-sample tests"; SDMetrics' detection metrics.
    /// </summary>
    public double DetectionAuc { get; internal set; } = double.NaN;

    /// <summary>Standard deviation of the per-fold AUCs.</summary>
    public double DetectionAucStandardDeviation { get; internal set; } = double.NaN;

    /// <summary>Memorization / privacy metrics; <see langword="null"/> when no <see cref="GenerativeEvaluationOptions.Training"/> data was given.</summary>
    public MemorizationMetrics? Memorization { get; internal set; }

    internal PlotData? Plots { get; set; }

    /// <summary>A readable table of every metric, with its best value and what it measured.</summary>
    public override string ToString()
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine(string.Format(c, "Generative evaluation: {0:N0} real vs {1:N0} generated rows, {2} features (seed {3})",
            RealRowCount, GeneratedRowCount, FeatureCount, Seed));
        sb.AppendLine(string.Format(c, "{0,-30} {1,14} {2,6}  {3}", "metric", "value", "best", "notes"));
        void Row(string name, string value, string best, string notes)
            => sb.AppendLine(string.Format(c, "{0,-30} {1,14} {2,6}  {3}", name, value, best, notes));
        string space = RepresentationColumn == "" ? "" : $"in '{RepresentationColumn}' ({RepresentationDimension})";
        Row("Fréchet distance", F(FrechetDistance), "0", $"Gaussian fits {space}");
        Row("MMD² (RBF, unbiased)", F(MmdSquared), "0",
            string.Format(c, "σ = {0:G4}, p = {1}, {2:N0} + {2:N0} rows", MmdBandwidth, double.IsNaN(MmdPValue) ? "n/a" : MmdPValue.ToString("G3", c), MmdRowCount));
        int discrete = DiscreteFeatures.Count(x => x);
        Row("marginal distance, mean", F(MeanMarginalDistance), "0",
            $"KS on {DiscreteFeatures.Count - discrete} continuous, TV on {discrete} discrete features");
        if (WorstMarginalFeature >= 0)
            Row("marginal distance, worst", F(WorstMarginalDistance), "0",
                $"'{FeatureNames[WorstMarginalFeature]}' ({(DiscreteFeatures[WorstMarginalFeature] ? "TV" : "KS")})");
        var (i, j, diff) = WorstCorrelationPair;
        Row("correlation distance", F(CorrelationDistance), "0", i < 0 ? "one feature: no pairs"
            : string.Format(c, "mean |Δ Pearson|; worst '{0}' × '{1}' {2:F3}", FeatureNames[i], FeatureNames[j], diff));
        Row("precision", F(Precision), "1", $"k = {NearestNeighbors} (fidelity)");
        Row("recall", F(Recall), "1", "(diversity)");
        Row("density", F(Density), "1", "≈1 when alike");
        Row("coverage", F(Coverage), "1", "");
        Row("detection AUC", double.IsNaN(DetectionAuc) ? "n/a" : F(DetectionAuc), "0.5",
            double.IsNaN(DetectionAuc) ? "not computed" : string.Format(c, "FastTree, cross-validated, ± {0:F3}", DetectionAucStandardDeviation));
        if (Memorization is { } m)
        {
            Row("DCR median, generated", F(m.MedianDcrGenerated), "", string.Format(c, "held-out real {0:G4}; ratio {1:F2} (≈1 best, ≪1 copying)", m.MedianDcrHoldout, m.DcrRatio));
            Row("near-exact copies", string.Format(c, "{0:P2}", m.NearCopyRate), "0", string.Format(c, "DCR ≤ {0:G3}; held-out real {1:P2}", m.NearCopyThreshold, m.HoldoutNearCopyRate));
            Row("closer than held-out p5", string.Format(c, "{0:P2}", m.ShareBelowHoldoutFifthPercentile), "5%", $"{m.TrainingRowCount:N0} training rows searched");
        }
        else
        {
            Row("memorization", "n/a", "", "no Training data given");
        }
        return sb.ToString();

        string F(double v) => double.IsNaN(v) ? "NaN" : Math.Abs(v) >= 1e4 || (v != 0 && Math.Abs(v) < 1e-3) ? v.ToString("E3", c) : v.ToString("F4", c);
    }

    /// <summary>
    /// Writes PNG pictures to <paramref name="directory"/> (created if missing): <c>marginals.png</c> (histograms of
    /// real vs generated values for the features with the largest marginal distance, at most 16, features constant in the
    /// real rows last),
    /// <c>correlations.png</c> (the real and generated Pearson correlation matrices and their difference, for at most
    /// 256 features: the most variable real ones) and <c>pca.png</c> (real and generated rows projected on the
    /// first two principal components of the real rows, at most 2,000 of each).
    /// </summary>
    /// <returns>The paths written.</returns>
    /// <exception cref="ArgumentException"><paramref name="directory"/> is null or empty.</exception>
    public IReadOnlyList<string> SavePlots(string directory)
    {
        if (string.IsNullOrWhiteSpace(directory))
            throw new ArgumentException("Give the directory to write the plots to.", nameof(directory));
        if (Plots is null)
            throw new InvalidOperationException("These metrics hold no plot data.");
        return EvaluationPlots.Save(this, Plots, directory);
    }

    private static int IndexOfMax(IReadOnlyList<double> values)
    {
        int best = 0;
        for (int i = 1; i < values.Count; i++)
            if (values[i] > values[best]) best = i;
        return best;
    }
}
