using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Generative.Training;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Generative.Tabular;

/// <summary>The generative model behind a <see cref="TabularSynthesizerEstimator"/> (Xu et al. 2019, "Modeling Tabular Data using Conditional GAN").</summary>
public enum TabularModel
{
    /// <summary>
    /// TVAE: the library's variational autoencoder with per-column likelihoods (a Gaussian with a learned variance for
    /// the scalar of each mode-normalized continuous column, a categorical for its mode and for every discrete
    /// column). Conditional samples are drawn by rejection (exact under the model).
    /// </summary>
    Tvae,

    /// <summary>
    /// CTGAN: the library's GAN with CTGAN's conditional vector over the discrete columns and training-by-sampling
    /// (log-frequency), a residual generator with BatchNorm whose outputs are tanh (scalars) and Gumbel-softmax
    /// (τ = 0.2, one-hot groups), the condition loss, and a PacGAN critic (packs of <see cref="TabularSynthesizerOptions.Pac"/>)
    /// with LeakyReLU 0.2 and dropout 0.5 trained by WGAN-GP (λ = 10). Conditional samples are generated with the
    /// conditional vector and then checked (rejection keeps only rows with the asked values).
    /// </summary>
    Ctgan,
}

/// <summary>Options of <see cref="TabularSynthesizerEstimator"/>; every default is documented on its property.</summary>
public sealed class TabularSynthesizerOptions
{
    /// <summary>Defaults.</summary>
    public static class Defaults
    {
        /// <summary>Default for <see cref="TabularSynthesizerOptions.NumberOfEpochs"/>.</summary>
        public const int NumberOfEpochs = 300;

        /// <summary>Default for <see cref="TabularSynthesizerOptions.BatchSize"/>.</summary>
        public const int BatchSize = 500;

        /// <summary>Default for <see cref="TabularSynthesizerOptions.LearningRate"/> with <see cref="TabularModel.Tvae"/>.</summary>
        public const double LearningRate = 1e-3;

        /// <summary>Default for <see cref="TabularSynthesizerOptions.LearningRate"/> with <see cref="TabularModel.Ctgan"/> (both networks; CTGAN's 2e-4).</summary>
        public const double CtganLearningRate = 2e-4;

        /// <summary>Default for <see cref="TabularSynthesizerOptions.WeightDecay"/> with <see cref="TabularModel.Tvae"/>.</summary>
        public const double WeightDecay = 1e-5;

        /// <summary>Default for <see cref="TabularSynthesizerOptions.WeightDecay"/> with <see cref="TabularModel.Ctgan"/> (CTGAN's 1e-6).</summary>
        public const double CtganWeightDecay = 1e-6;

        /// <summary>Default for <see cref="TabularSynthesizerOptions.Pac"/>.</summary>
        public const int Pac = 10;

        /// <summary>Default for <see cref="TabularSynthesizerOptions.LatentDimension"/>.</summary>
        public const int LatentDimension = 128;

        /// <summary>Default for <see cref="TabularSynthesizerOptions.MaximumCategories"/>.</summary>
        public const int MaximumCategories = 1000;

        /// <summary>Default for <see cref="TabularSynthesizerOptions.MaximumModes"/>.</summary>
        public const int MaximumModes = 10;

        /// <summary>Default for <see cref="TabularSynthesizerOptions.ModeWeightThreshold"/>.</summary>
        public const double ModeWeightThreshold = 0.005;

        /// <summary>Default for <see cref="TabularSynthesizerOptions.MaximumMixtureFitValues"/>.</summary>
        public const int MaximumMixtureFitValues = 50_000;

        /// <summary>Default for <see cref="TabularSynthesizerOptions.MinimumTrainingSteps"/> with <see cref="TabularModel.Tvae"/>.</summary>
        public const int MinimumTrainingSteps = 3_000;

        /// <summary>Default for <see cref="TabularSynthesizerOptions.MinimumTrainingSteps"/> with <see cref="TabularModel.Ctgan"/>.</summary>
        public const int CtganMinimumTrainingSteps = 10_000;

        /// <summary>Default for <see cref="TabularSynthesizerOptions.MaximumRejectionDraws"/>.</summary>
        public const int MaximumRejectionDraws = 1_000;
    }

    /// <summary>The model: <see cref="TabularModel.Tvae"/> (default) or <see cref="TabularModel.Ctgan"/>.</summary>
    public TabularModel Model { get; set; } = TabularModel.Tvae;

    /// <summary>
    /// The columns to model, by name; <see langword="null"/> (default): every column of the input. Each must be a
    /// scalar number (Single, Double, signed or unsigned integers), Boolean, text or key (known cardinality).
    /// Numbers are continuous; booleans, texts and keys are discrete.
    /// </summary>
    public IReadOnlyList<string>? Columns { get; set; }

    /// <summary>Passes over the training rows. Default 300 (as CTGAN's TVAE).</summary>
    public int NumberOfEpochs { get; set; } = Defaults.NumberOfEpochs;

    /// <summary>
    /// The fewest optimizer steps of training: when <see cref="NumberOfEpochs"/> epochs would take fewer, the epochs are
    /// raised to reach it (logged). 0 turns it off. Default (null): 3,000 for TVAE, 10,000 for CTGAN. The paper's 300
    /// epochs of batch 500 are only 300 steps on a table of a few hundred rows, far too few (measured, one run each, on
    /// the bundled tables, docs/benchmarks.md): TVAE on 240 penguins reached a detection AUC of 0.89 after 300 steps,
    /// 0.70 after 1,000, 0.55 after 3,000; CTGAN, a GAN, needs more: 0.82 after 3,000 steps, 0.73 after 6,000, 0.75
    /// after 10,000, 0.67 after 12,000 (Seattle weather: 0.82, 0.80, 0.78, 0.75). At 10,000 steps CTGAN fits the
    /// 240 penguins in about 4 minutes on 2 cores.
    /// </summary>
    public int? MinimumTrainingSteps { get; set; }

    /// <summary>
    /// Rows per optimizer step. Default 500 (as CTGAN and its TVAE). TVAE takes at most the table's rows per step;
    /// CTGAN draws its rows by training-by-sampling (with replacement), so its batches always have this many rows, a
    /// multiple of <see cref="Pac"/> and at least 2 (its generator's batch normalization needs two rows).
    /// </summary>
    public int BatchSize { get; set; } = Defaults.BatchSize;

    /// <summary>
    /// Adam step size (of both networks for CTGAN); <see langword="null"/> (default): the model's own, 1e-3 for TVAE,
    /// 2e-4 for CTGAN (with Adam β = (0.5, 0.9), as CTGAN).
    /// </summary>
    public double? LearningRate { get; set; }

    /// <summary>
    /// L2 weight decay of Adam on every weight; <see langword="null"/> (default): the model's own, 1e-5 for TVAE
    /// (CTGAN's TVAE's L2 scale), 1e-6 for CTGAN.
    /// </summary>
    public double? WeightDecay { get; set; }

    /// <summary>Size of the latent code (TVAE) or of the generator's noise (CTGAN). Default 128.</summary>
    public int LatentDimension { get; set; } = Defaults.LatentDimension;

    /// <summary>
    /// Hidden layers of TVAE's encoder (the decoder mirrors them) or of CTGAN's generator (residual blocks);
    /// <see langword="null"/> (default): [128, 128] for TVAE, [256, 256] for CTGAN.
    /// </summary>
    public int[]? HiddenLayerSizes { get; set; }

    /// <summary>Hidden layers of CTGAN's discriminator (critic); ignored by TVAE. Default [256, 256].</summary>
    public int[] DiscriminatorHiddenLayerSizes { get; set; } = { 256, 256 };

    /// <summary>
    /// CTGAN's PacGAN pack size (Lin et al. 2018): the critic scores packs of this many rows, which penalizes a
    /// generator that repeats itself (mode collapse); <see cref="BatchSize"/> must be a multiple of it. Ignored by
    /// TVAE. Default 10, as CTGAN.
    /// </summary>
    public int Pac { get; set; } = Defaults.Pac;

    internal double EffectiveLearningRate => LearningRate ?? (Model == TabularModel.Ctgan ? Defaults.CtganLearningRate : Defaults.LearningRate);

    internal double EffectiveWeightDecay => WeightDecay ?? (Model == TabularModel.Ctgan ? Defaults.CtganWeightDecay : Defaults.WeightDecay);

    internal int EffectiveMinimumTrainingSteps => MinimumTrainingSteps ?? (Model == TabularModel.Ctgan ? Defaults.CtganMinimumTrainingSteps : Defaults.MinimumTrainingSteps);

    internal int[] EffectiveHiddenLayerSizes => (HiddenLayerSizes ?? (Model == TabularModel.Ctgan ? new[] { 256, 256 } : new[] { 128, 128 })).ToArray();

    /// <summary>
    /// The most distinct values a discrete (text, boolean or key) column may have. Default 1,000: each category is one
    /// output of the network and one class of the condition, so a column of identifiers (one value per row) would
    /// make a huge, meaningless model. <c>Fit</c> names a column above the cap.
    /// </summary>
    public int MaximumCategories { get; set; } = Defaults.MaximumCategories;

    /// <summary>The most Gaussian modes per continuous column (mode-specific normalization). Default 10, as CTGAN.</summary>
    public int MaximumModes { get; set; } = Defaults.MaximumModes;

    /// <summary>Modes whose mixture weight falls below this are pruned. Default 0.005, as CTGAN.</summary>
    public double ModeWeightThreshold { get; set; } = Defaults.ModeWeightThreshold;

    /// <summary>The mixture of a continuous column is fitted on at most this many of its values (a seeded uniform subsample). Default 50,000.</summary>
    public int MaximumMixtureFitValues { get; set; } = Defaults.MaximumMixtureFitValues;

    /// <summary>
    /// When false (default), generated numbers stay within the [min, max] seen in training; when true they may go
    /// beyond (still within the column type's range).
    /// </summary>
    public bool AllowExtrapolation { get; set; }

    /// <summary>
    /// Conditional sampling by rejection draws at most this many times the requested rows before it gives up with
    /// an error that reports the acceptance rate. Default 1,000 (conditions down to about 0.1% of the model's rows).
    /// </summary>
    public int MaximumRejectionDraws { get; set; } = Defaults.MaximumRejectionDraws;

    /// <summary>
    /// Seed of training and encoding; <see langword="null"/> (default): drawn from the <see cref="MLContext"/>'s random
    /// stream when the estimator is created, so the same <c>MLContext(seed)</c> gives the same model when the program
    /// makes the same calls in the same order (set a seed here to be independent of the order). Models trained with
    /// another number of libtorch threads differ (sums are reduced in another order); each thread count is deterministic.
    /// </summary>
    public int? Seed { get; set; }

    /// <summary>Called after every epoch with its losses.</summary>
    public IProgress<EpochSummary>? Progress { get; set; }

    /// <summary>Cancels <c>Fit</c> (checked every batch).</summary>
    public System.Threading.CancellationToken CancellationToken { get; set; }

    internal void Check(IExceptionContext ectx)
    {
        ectx.CheckUserArg(Enum.IsDefined(Model), nameof(Model), $"Unknown model {(int)Model}.");
        if (Columns is not null)
        {
            ectx.CheckUserArg(Columns.Count > 0, nameof(Columns), "Must name at least one column, or be null for every column.");
            ectx.CheckUserArg(Columns.All(c => !string.IsNullOrEmpty(c)), nameof(Columns), "A column name is null or empty.");
            var duplicate = Columns.GroupBy(c => c).FirstOrDefault(g => g.Count() > 1);
            ectx.CheckUserArg(duplicate is null, nameof(Columns), $"Column '{duplicate?.Key}' is listed twice.");
        }
        ectx.CheckUserArg(NumberOfEpochs > 0, nameof(NumberOfEpochs), $"Must be positive; got {NumberOfEpochs}.");
        ectx.CheckUserArg(BatchSize > 0, nameof(BatchSize), $"Must be positive; got {BatchSize}.");
        ectx.CheckUserArg(MinimumTrainingSteps is null or >= 0, nameof(MinimumTrainingSteps), $"Must be non-negative (0 = off) or null (the model's default); got {MinimumTrainingSteps}.");
        ectx.CheckUserArg(LearningRate is null || (LearningRate > 0 && double.IsFinite(LearningRate.Value)), nameof(LearningRate),
            $"Must be a positive finite number (or null for the model's default); got {LearningRate}.");
        ectx.CheckUserArg(WeightDecay is null || (WeightDecay >= 0 && double.IsFinite(WeightDecay.Value)), nameof(WeightDecay),
            $"Must be non-negative and finite (or null for the model's default); got {WeightDecay}.");
        ectx.CheckUserArg(LatentDimension > 0, nameof(LatentDimension), $"Must be positive; got {LatentDimension}.");
        ectx.CheckUserArg(HiddenLayerSizes is null || HiddenLayerSizes.All(h => h > 0), nameof(HiddenLayerSizes),
            "Must be an array of positive sizes (empty for a linear model), or null for the model's default.");
        ectx.CheckUserArg(DiscriminatorHiddenLayerSizes is not null && DiscriminatorHiddenLayerSizes.All(h => h > 0), nameof(DiscriminatorHiddenLayerSizes),
            "Must be an array of positive sizes (empty for a linear critic).");
        ectx.CheckUserArg(Pac >= 1, nameof(Pac), $"Must be at least 1 (1: no packing); got {Pac}.");
        ectx.CheckUserArg(Model != TabularModel.Ctgan || BatchSize >= 2, nameof(BatchSize),
            $"CTGAN's generator normalizes each hidden layer over the batch (batch normalization), which needs at least 2 rows; got {BatchSize}. Use, e.g., {Math.Max(2 * Pac, 10)}.");
        ectx.CheckUserArg(Model != TabularModel.Ctgan || BatchSize % Pac == 0, nameof(BatchSize),
            $"CTGAN's critic scores packs of Pac = {Pac} rows, so BatchSize must be a multiple of {Pac}; got {BatchSize}. Use, e.g., {Math.Max(Pac, BatchSize / Pac * Pac)}.");
        ectx.CheckUserArg(MaximumCategories >= 2, nameof(MaximumCategories), $"Must be at least 2; got {MaximumCategories}.");
        ectx.CheckUserArg(MaximumModes >= 1 && MaximumModes <= 100, nameof(MaximumModes), $"Must be in [1, 100]; got {MaximumModes}.");
        ectx.CheckUserArg(ModeWeightThreshold >= 0 && ModeWeightThreshold < 1, nameof(ModeWeightThreshold), $"Must be in [0, 1); got {ModeWeightThreshold}.");
        ectx.CheckUserArg(MaximumMixtureFitValues >= 10, nameof(MaximumMixtureFitValues), $"Must be at least 10; got {MaximumMixtureFitValues}.");
        ectx.CheckUserArg(MaximumRejectionDraws >= 1, nameof(MaximumRejectionDraws), $"Must be at least 1; got {MaximumRejectionDraws}.");
    }
}
