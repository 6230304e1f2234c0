namespace Microsoft.ML.Generative.Evaluation;

/// <summary>
/// Settings of <see cref="GenerativeCatalog.Evaluate(IDataView, IDataView, string, GenerativeEvaluationOptions?)"/>.
/// Every default is documented; the defaults evaluate 10,000 × 64 against 10,000 × 64 in seconds on 2 cores.
/// </summary>
public sealed class GenerativeEvaluationOptions
{
    /// <summary>Defaults.</summary>
    public static class Defaults
    {
        /// <summary>Default for <see cref="MaxRows"/>.</summary>
        public const int MaxRows = 10_000;

        /// <summary>Default for <see cref="MmdMaxRows"/>.</summary>
        public const int MmdMaxRows = 2_000;

        /// <summary>Default for <see cref="PermutationCount"/>.</summary>
        public const int PermutationCount = 200;

        /// <summary>Default for <see cref="NearestNeighbors"/>.</summary>
        public const int NearestNeighbors = 5;

        /// <summary>Default for <see cref="DiscreteMaxLevels"/>.</summary>
        public const int DiscreteMaxLevels = 20;

        /// <summary>Default for <see cref="DetectionFolds"/>.</summary>
        public const int DetectionFolds = 5;

        /// <summary>Default for <see cref="DetectionMaxRows"/>.</summary>
        public const int DetectionMaxRows = 5_000;

        /// <summary>Default for <see cref="DetectionTrees"/>.</summary>
        public const int DetectionTrees = 50;

        /// <summary>Default for <see cref="NearCopyFraction"/>.</summary>
        public const double NearCopyFraction = 0.05;
    }

    /// <summary>
    /// Rows the model was trained on. When given, the memorization metrics are computed: the distance to the
    /// closest training record (DCR) of every generated row, compared with the same for the <c>real</c> rows, which
    /// must then be held out from training. It needs the same feature column as the other two sets. Default
    /// <see langword="null"/>: no memorization metrics.
    /// </summary>
    public IDataView? Training { get; set; }

    /// <summary>
    /// A fitted transformer that maps a row to a representation (a classifier's hidden layer, a VAE's
    /// <c>Latent</c>, ...). When given, the representation metrics (Fréchet distance, MMD², precision / recall /
    /// density / coverage) are computed on its output column instead of the features, as FID/KID/PRDC are computed
    /// on Inception features. The column-wise metrics (marginals, correlations), the detection test and
    /// memorization stay in feature space. It is applied to the real and the generated data as given, so it may
    /// read any of their columns; its output column must be a known-size vector of <see cref="float"/>.
    /// Default <see langword="null"/>: everything in feature space.
    /// </summary>
    public ITransformer? Embedding { get; set; }

    /// <summary>
    /// The output column of <see cref="Embedding"/>. Default <see langword="null"/>: the one new known-size
    /// <see cref="float"/> vector column the transformer adds (an error lists the candidates when there are
    /// several, as for a VAE's <c>Latent</c> and <c>Reconstruction</c>).
    /// </summary>
    public string? EmbeddingColumnName { get; set; }

    /// <summary>
    /// Seed of every random choice (subsamples, permutations, cross-validation folds). Default
    /// <see langword="null"/>: drawn from the <see cref="MLContext"/>'s seed, so <c>new MLContext(seed)</c> gives the
    /// same metrics every run.
    /// </summary>
    public int? Seed { get; set; }

    /// <summary>
    /// Cap on the rows read from each of the real, generated and training sets: larger sets are subsampled
    /// uniformly (seeded reservoir sampling, one pass, memory bounded by the cap). Default 10,000. With a training
    /// set above the cap, a generated row copied from a training row that was not drawn is not seen as a copy: raise
    /// the cap to the training set's size for a complete memorization check (cost grows as training × generated).
    /// </summary>
    public int MaxRows { get; set; } = Defaults.MaxRows;

    /// <summary>
    /// Rows of each set used for MMD² and its permutation test (drawn from the <see cref="MaxRows"/> subsample).
    /// The test needs the pooled kernel matrix in memory: 2,000 + 2,000 rows take 128 MB (float64). Default 2,000.
    /// </summary>
    public int MmdMaxRows { get; set; } = Defaults.MmdMaxRows;

    /// <summary>Permutations of the MMD² test; 0 skips the test (p-value NaN). Default 200 (p-values down to 1/201).</summary>
    public int PermutationCount { get; set; } = Defaults.PermutationCount;

    /// <summary>k of the k-nearest-neighbour manifolds of precision / recall / density / coverage. Default 5 (the papers' choice).</summary>
    public int NearestNeighbors { get; set; } = Defaults.NearestNeighbors;

    /// <summary>
    /// A feature is treated as discrete (total-variation distance instead of Kolmogorov–Smirnov) when every real
    /// value of it is a whole number and it takes at most this many distinct values. 0 treats every feature as
    /// continuous. Default 20.
    /// </summary>
    public int DiscreteMaxLevels { get; set; } = Defaults.DiscreteMaxLevels;

    /// <summary>
    /// Standardize every feature (by the real rows' mean and standard deviation; constant features by 1) before
    /// the distance-based metrics (MMD², precision / recall / density / coverage, DCR), so that no column dominates
    /// the Euclidean distance by its units. Not applied to an <see cref="Embedding"/>'s output. Default
    /// <see langword="false"/>: features are used as given (normalize them in the pipeline first if their scales
    /// differ).
    /// </summary>
    public bool StandardizeFeatures { get; set; }

    /// <summary>Run the detection test (classifier two-sample test). Default <see langword="true"/>.</summary>
    public bool ComputeDetection { get; set; } = true;

    /// <summary>Cross-validation folds of the detection test. Default 5.</summary>
    public int DetectionFolds { get; set; } = Defaults.DetectionFolds;

    /// <summary>Rows of each set used by the detection test (drawn from the <see cref="MaxRows"/> subsample). Default 5,000.</summary>
    public int DetectionMaxRows { get; set; } = Defaults.DetectionMaxRows;

    /// <summary>Boosted trees of the detection classifier (FastTree, 20 leaves each, learning rate 0.2, 32 bins per feature). Default 50.</summary>
    public int DetectionTrees { get; set; } = Defaults.DetectionTrees;

    /// <summary>
    /// A generated row is a near-exact copy when its distance to the closest training row is at most this fraction
    /// of the median distance of held-out real rows to the training set. Default 0.05.
    /// </summary>
    public double NearCopyFraction { get; set; } = Defaults.NearCopyFraction;
}
