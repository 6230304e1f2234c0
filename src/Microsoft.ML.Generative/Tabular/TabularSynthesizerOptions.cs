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
    /// CTGAN: the library's GAN with a conditional vector, training-by-sampling, PacGAN and WGAN-GP. Not available yet
    /// in this version: <c>Fit</c> says so.
    /// </summary>
    Ctgan,
}

/// <summary>Options of <see cref="TabularSynthesizerEstimator"/>; every default is documented on its property.</summary>
public sealed class TabularSynthesizerOptions
{
    /// <summary>Defaults.</summary>
    public static class Defaults
    {
        /// <summary>Default for <see cref="NumberOfEpochs"/>.</summary>
        public const int NumberOfEpochs = 300;

        /// <summary>Default for <see cref="BatchSize"/>.</summary>
        public const int BatchSize = 500;

        /// <summary>Default for <see cref="LearningRate"/>.</summary>
        public const double LearningRate = 1e-3;

        /// <summary>Default for <see cref="LatentDimension"/>.</summary>
        public const int LatentDimension = 128;

        /// <summary>Default for <see cref="MaximumCategories"/>.</summary>
        public const int MaximumCategories = 1000;

        /// <summary>Default for <see cref="MaximumModes"/>.</summary>
        public const int MaximumModes = 10;

        /// <summary>Default for <see cref="ModeWeightThreshold"/>.</summary>
        public const double ModeWeightThreshold = 0.005;

        /// <summary>Default for <see cref="MaximumMixtureFitValues"/>.</summary>
        public const int MaximumMixtureFitValues = 50_000;

        /// <summary>Default for <see cref="MinimumTrainingSteps"/>.</summary>
        public const int MinimumTrainingSteps = 3_000;

        /// <summary>Default for <see cref="MaximumRejectionDraws"/>.</summary>
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
    /// raised to reach it (logged). Default 3,000: CTGAN's 300 epochs of batch 500 are only 300 steps on a table of a
    /// few hundred rows, far too few (measured on 240 of the bundled penguins, one run each: detection AUC 0.89 after
    /// 300 steps, 0.70 after 1,000, 0.55 after 3,000; docs/benchmarks.md). 0 turns it off.
    /// </summary>
    public int MinimumTrainingSteps { get; set; } = Defaults.MinimumTrainingSteps;

    /// <summary>Rows per optimizer step (at most the table's rows). Default 500 (as CTGAN's TVAE).</summary>
    public int BatchSize { get; set; } = Defaults.BatchSize;

    /// <summary>Adam step size. Default 1e-3.</summary>
    public double LearningRate { get; set; } = Defaults.LearningRate;

    /// <summary>Decoupled weight decay (AdamW) on every weight. Default 1e-5 (CTGAN's TVAE uses an L2 scale of 1e-5).</summary>
    public double WeightDecay { get; set; } = 1e-5;

    /// <summary>Size of the latent code. Default 128.</summary>
    public int LatentDimension { get; set; } = Defaults.LatentDimension;

    /// <summary>Hidden layers of the encoder (the decoder mirrors them). Default [128, 128].</summary>
    public int[] HiddenLayerSizes { get; set; } = { 128, 128 };

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

    /// <summary>Seed of training and encoding; <see langword="null"/> (default): drawn from the <see cref="MLContext"/>'s seed.</summary>
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
        ectx.CheckUserArg(MinimumTrainingSteps >= 0, nameof(MinimumTrainingSteps), $"Must be non-negative (0 = off); got {MinimumTrainingSteps}.");
        ectx.CheckUserArg(LearningRate > 0 && double.IsFinite(LearningRate), nameof(LearningRate), $"Must be a positive finite number; got {LearningRate}.");
        ectx.CheckUserArg(WeightDecay >= 0 && double.IsFinite(WeightDecay), nameof(WeightDecay), $"Must be non-negative and finite; got {WeightDecay}.");
        ectx.CheckUserArg(LatentDimension > 0, nameof(LatentDimension), $"Must be positive; got {LatentDimension}.");
        ectx.CheckUserArg(HiddenLayerSizes is not null && HiddenLayerSizes.All(h => h > 0), nameof(HiddenLayerSizes),
            "Must be an array of positive sizes (empty for a linear model).");
        ectx.CheckUserArg(MaximumCategories >= 2, nameof(MaximumCategories), $"Must be at least 2; got {MaximumCategories}.");
        ectx.CheckUserArg(MaximumModes >= 1 && MaximumModes <= 100, nameof(MaximumModes), $"Must be in [1, 100]; got {MaximumModes}.");
        ectx.CheckUserArg(ModeWeightThreshold >= 0 && ModeWeightThreshold < 1, nameof(ModeWeightThreshold), $"Must be in [0, 1); got {ModeWeightThreshold}.");
        ectx.CheckUserArg(MaximumMixtureFitValues >= 10, nameof(MaximumMixtureFitValues), $"Must be at least 10; got {MaximumMixtureFitValues}.");
        ectx.CheckUserArg(MaximumRejectionDraws >= 1, nameof(MaximumRejectionDraws), $"Must be at least 1; got {MaximumRejectionDraws}.");
    }
}
