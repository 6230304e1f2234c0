using System;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Generative.Training;

/// <summary>The optimizer that updates a model's weights.</summary>
public enum GenerativeOptimizer
{
    /// <summary>Adam (Kingma and Ba, 2015), with L2 weight decay added to the gradient.</summary>
    Adam,

    /// <summary>AdamW (Loshchilov and Hutter, 2019): Adam with decoupled weight decay.</summary>
    AdamW,

    /// <summary>
    /// Muon (Jordan et al., 2024) for the network's hidden matrices — each update is the momentum gradient's nearest
    /// semi-orthogonal matrix (five Newton–Schulz steps), at <see cref="GenerativeTrainerOptions.MuonLearningRate"/> —
    /// and AdamW for everything else (embeddings, output head, biases, LayerNorm gains), at
    /// <see cref="GenerativeTrainerOptions.LearningRate"/>. Both follow the learning-rate schedule. Muon's matrices take
    /// no weight decay (<see cref="GenerativeTrainerOptions.WeightDecay"/> applies to AdamW's matrices only), as in the
    /// reference implementation's default. Available for the autoregressive Transformer (its blocks' attention and MLP
    /// weights); other models refuse it.
    /// </summary>
    Muon,
}

/// <summary>How the learning rate changes over training (see <see cref="GenerativeTrainerOptions.LearningRateSchedule"/>).</summary>
public enum LearningRateSchedule
{
    /// <summary>The rate stays <see cref="GenerativeTrainerOptions.LearningRate"/> throughout.</summary>
    Constant,

    /// <summary>
    /// Linear warm-up from 0 to <see cref="GenerativeTrainerOptions.LearningRate"/> over
    /// <see cref="GenerativeTrainerOptions.WarmupSteps"/> steps, then cosine decay to
    /// <see cref="GenerativeTrainerOptions.MinimumLearningRateFraction"/> × the rate at the last step (Loshchilov and
    /// Hutter, 2017, "SGDR"; the warm-up as in Vaswani et al., 2017): at step s (from 1) of S,
    /// lr = base · s / W for s ≤ W, else base · (m + (1 − m) · ½ (1 + cos(π (s − W) / (S − W)))).
    /// </summary>
    WarmupCosine,
}

/// <summary>
/// Training settings shared by every generative model family: data, epochs, optimizer, validation and early stopping.
/// A family's options class extends this one and adds only its own settings.
/// </summary>
public abstract class GenerativeTrainerOptions
{
    /// <summary>Defaults shared by every family.</summary>
    public static class Defaults
    {
        /// <summary>Default for <see cref="FeatureColumnName"/>.</summary>
        public const string FeatureColumnName = "Features";

        /// <summary>Default for <see cref="NumberOfEpochs"/>.</summary>
        public const int NumberOfEpochs = 10;

        /// <summary>Default for <see cref="BatchSize"/>.</summary>
        public const int BatchSize = 128;

        /// <summary>Default for <see cref="LearningRate"/>.</summary>
        public const double LearningRate = 1e-3;
    }

    /// <summary>
    /// The input column: a known-size vector of <see cref="float"/>. Default <c>"Features"</c>.
    /// </summary>
    public string FeatureColumnName { get; set; } = Defaults.FeatureColumnName;

    /// <summary>Passes over the training data. Default 10.</summary>
    public int NumberOfEpochs { get; set; } = Defaults.NumberOfEpochs;

    /// <summary>Rows per optimizer step. Default 128. The last batch of an epoch may be smaller.</summary>
    public int BatchSize { get; set; } = Defaults.BatchSize;

    /// <summary>Optimizer step size. Default 1e-3.</summary>
    public double LearningRate { get; set; } = Defaults.LearningRate;

    /// <summary>The optimizer. Default <see cref="GenerativeOptimizer.Adam"/> (the autoregressive model's: AdamW).</summary>
    public GenerativeOptimizer Optimizer { get; set; } = GenerativeOptimizer.Adam;

    /// <summary>
    /// The step size of <see cref="GenerativeOptimizer.Muon"/>'s matrices (each update's singular values are about 1,
    /// so this is how far every direction of a matrix moves per step, scaled by √max(1, rows/columns)). In (0, 1000].
    /// Default 0.02; unused by the other optimizers.
    /// </summary>
    public double MuonLearningRate { get; set; } = 0.02;

    /// <summary>Adam's first-moment decay. Default 0.9.</summary>
    public double Beta1 { get; set; } = 0.9;

    /// <summary>Adam's second-moment decay. Default 0.999.</summary>
    public double Beta2 { get; set; } = 0.999;

    /// <summary>
    /// Weight decay; L2 for <see cref="GenerativeOptimizer.Adam"/>, decoupled for AdamW and for the AdamW part of
    /// <see cref="GenerativeOptimizer.Muon"/> (Muon's matrices take none). Default 0.
    /// </summary>
    public double WeightDecay { get; set; }

    /// <summary>The learning-rate schedule. Default <see cref="LearningRateSchedule.Constant"/>.</summary>
    public LearningRateSchedule LearningRateSchedule { get; set; } = LearningRateSchedule.Constant;

    /// <summary>Steps of linear warm-up of <see cref="LearningRateSchedule.WarmupCosine"/>. Default 0.</summary>
    public int WarmupSteps { get; set; }

    /// <summary>
    /// The learning rate at the end of <see cref="LearningRateSchedule.WarmupCosine"/>, as a fraction of
    /// <see cref="LearningRate"/>. Default 0.1.
    /// </summary>
    public double MinimumLearningRateFraction { get; set; } = 0.1;

    /// <summary>
    /// Clip the gradients' global L2 norm to this value before each step; 0 (the default) turns clipping off.
    /// </summary>
    public double GradientClipNorm { get; set; }

    /// <summary>
    /// Fraction of the training rows held out (chosen at random with the seed) to compute a validation loss each
    /// epoch. Default 0: no hold-out. Ignored when a validation set is passed to <c>Fit</c>.
    /// </summary>
    public double ValidationFraction { get; set; }

    /// <summary>
    /// Stop when the validation loss has not improved for this many epochs, and keep the weights of the best
    /// epoch. 0 (the default) turns early stopping off. Needs validation data.
    /// </summary>
    public int EarlyStoppingPatience { get; set; }

    /// <summary>
    /// Seed for weight initialization, shuffling and sampling noise. Default <see langword="null"/>: derived from
    /// the <see cref="MLContext"/>'s seed, so the same <c>MLContext(seed)</c> trains the same model. One exception:
    /// dropout masks (any dropout option) draw from libtorch's process-wide generator, so two fits with
    /// dropout running at the same time in one process disturb each other's masks; fits one after another are
    /// reproducible.
    /// </summary>
    public int? Seed { get; set; }

    /// <summary>
    /// Rows whose features contain NaN or infinity: <see langword="false"/> (the default) fails <c>Fit</c> with an
    /// error naming the column and the first such row; <see langword="true"/> skips them and logs how many.
    /// </summary>
    public bool SkipRowsWithNonFiniteValues { get; set; }

    /// <summary>
    /// Training (and validation) data up to this many megabytes of features is read once and kept in memory as a
    /// tensor; larger data is streamed from the <see cref="IDataView"/> every epoch through a shuffle buffer of
    /// <see cref="ShuffleBufferRows"/> rows, so memory stays bounded whatever the data size. Default 1024.
    /// </summary>
    public int MaxCachedMegabytes { get; set; } = 1024;

    /// <summary>
    /// Rows held by the shuffle buffer when data is streamed (see <see cref="MaxCachedMegabytes"/>). Larger buffers
    /// shuffle better and use more memory. Default 16384.
    /// </summary>
    public int ShuffleBufferRows { get; set; } = 16384;

    /// <summary>
    /// Cancels <c>Fit</c> within one batch: it then throws <see cref="OperationCanceledException"/> and produces no
    /// model. (ML.NET's own host cancellation, <c>MLContext.CancelExecution</c>, is honoured too, but is internal in
    /// ML.NET 5.) Default: none.
    /// </summary>
    public System.Threading.CancellationToken CancellationToken { get; set; }

    /// <summary>Optional callback, called after every epoch with the epoch's losses (on rank 0 only in data-parallel training).</summary>
    public IProgress<EpochSummary>? Progress { get; set; }

    /// <summary>
    /// The condition column of a conditional model, or null: the families that support conditioning expose it as
    /// their public <c>ConditionColumnName</c> option.
    /// </summary>
    internal virtual string? ConditionColumn => null;

    /// <summary>
    /// Data-parallel training over MPI: <see cref="Generative.DistributedTraining.Off"/> (the default; one process),
    /// <see cref="Generative.DistributedTraining.Auto"/> (on when the program was launched by <c>mpirun</c> with more
    /// than one rank) or <see cref="Generative.DistributedTraining.Mpi"/> (required). Every rank runs the same program;
    /// <see cref="BatchSize"/> stays the global batch, each rank computes the gradient of its slice of it, and the
    /// gradients are averaged across ranks (one all-reduce per optimizer step) before clipping, so that a run on n ranks
    /// follows the one-process run with the same seed. Rank 0's initial weights are broadcast, decisions that end
    /// training (non-finite loss, early stopping, cancellation, an error on any rank) are taken by all ranks together,
    /// progress is logged on rank 0, and every rank returns the same model. See docs/distributed.md.
    /// </summary>
    public DistributedTraining DistributedTraining { get; set; } = DistributedTraining.Off;

    /// <summary>
    /// Data-parallel training only. <see langword="false"/> (the default): every rank's data holds all the rows (every
    /// rank reads the same data), shuffles it identically and trains on its own slice of each global batch.
    /// <see langword="true"/>: each rank's data holds only its own shard (as when each machine reads its own files);
    /// shards may differ in size. An epoch is then ⌈total rows / <see cref="BatchSize"/>⌉ steps on every rank (agreed
    /// by an all-reduce); each rank contributes a share of every global batch proportional to its shard's size, drawn
    /// from its own shard (reshuffled when it runs out), so every row is still seen about once per epoch, but a global
    /// batch is a stratified sample (a fixed number of rows from each shard) rather than a uniform one.
    /// Standardization statistics and other data-dependent state are computed over all shards together.
    /// </summary>
    public bool ShardedData { get; set; }

    internal TrainingSettings ToSettings() => new(NumberOfEpochs, BatchSize, EarlyStoppingPatience, Progress, CancellationToken)
    {
        Schedule = LearningRateSchedule,
        WarmupSteps = WarmupSteps,
        MinimumLearningRateFraction = MinimumLearningRateFraction,
        ShardedData = ShardedData,
    };

    /// <summary>Why this model cannot use <see cref="GenerativeOptimizer.Muon"/> (null: it can).</summary>
    internal virtual string? MuonUnavailable => "this model's hidden matrices are not defined for it (Muon is for the autoregressive Transformer).";

    /// <summary>Checks every shared setting; families call this and then check their own.</summary>
    internal virtual void Check(IExceptionContext ectx)
    {
        ectx.CheckUserArg(!string.IsNullOrWhiteSpace(FeatureColumnName), nameof(FeatureColumnName), "Must name a column.");
        ectx.CheckUserArg(NumberOfEpochs > 0, nameof(NumberOfEpochs), $"Must be positive; got {NumberOfEpochs}.");
        ectx.CheckUserArg(BatchSize > 0, nameof(BatchSize), $"Must be positive; got {BatchSize}.");
        ectx.CheckUserArg(LearningRate > 0 && double.IsFinite(LearningRate), nameof(LearningRate), $"Must be a positive finite number; got {LearningRate}.");
        ectx.CheckUserArg(Enum.IsDefined(Optimizer), nameof(Optimizer), $"Unknown optimizer {(int)Optimizer}.");
        if (Optimizer == GenerativeOptimizer.Muon)
        {
            if (MuonUnavailable is string reason)
                throw ectx.ExceptUserArg(nameof(Optimizer), $"Muon is not available here: {reason} Use Adam or AdamW.");
            ectx.CheckUserArg(MuonLearningRate > 0 && MuonLearningRate <= 1000, nameof(MuonLearningRate),
                $"Must be in (0, 1000] (each step moves every direction of a matrix by about this much; 0.02 is typical); got {MuonLearningRate}.");
        }
        ectx.CheckUserArg(Beta1 >= 0 && Beta1 < 1, nameof(Beta1), $"Must be in [0, 1); got {Beta1}.");
        ectx.CheckUserArg(Beta2 >= 0 && Beta2 < 1, nameof(Beta2), $"Must be in [0, 1); got {Beta2}.");
        ectx.CheckUserArg(WeightDecay >= 0 && double.IsFinite(WeightDecay), nameof(WeightDecay), $"Must be non-negative; got {WeightDecay}.");
        ectx.CheckUserArg(GradientClipNorm >= 0 && double.IsFinite(GradientClipNorm), nameof(GradientClipNorm), $"Must be non-negative (0 = off); got {GradientClipNorm}.");
        ectx.CheckUserArg(ValidationFraction >= 0 && ValidationFraction < 1, nameof(ValidationFraction), $"Must be in [0, 1); got {ValidationFraction}.");
        ectx.CheckUserArg(MaxCachedMegabytes >= 0, nameof(MaxCachedMegabytes), $"Must be non-negative (0 = always stream); got {MaxCachedMegabytes}.");
        ectx.CheckUserArg(ShuffleBufferRows > 0, nameof(ShuffleBufferRows), $"Must be positive; got {ShuffleBufferRows}.");
        ectx.CheckUserArg(Enum.IsDefined(LearningRateSchedule), nameof(LearningRateSchedule), $"Unknown schedule {(int)LearningRateSchedule}.");
        ectx.CheckUserArg(WarmupSteps >= 0, nameof(WarmupSteps), $"Must be non-negative; got {WarmupSteps}.");
        ectx.CheckUserArg(MinimumLearningRateFraction >= 0 && MinimumLearningRateFraction <= 1, nameof(MinimumLearningRateFraction), $"Must be in [0, 1]; got {MinimumLearningRateFraction}.");
        ectx.CheckUserArg(Enum.IsDefined(DistributedTraining), nameof(DistributedTraining), $"Unknown mode {(int)DistributedTraining}.");
        ectx.CheckUserArg(EarlyStoppingPatience >= 0, nameof(EarlyStoppingPatience), $"Must be non-negative (0 = off); got {EarlyStoppingPatience}.");
        if (ConditionColumn is string condition)
        {
            ectx.CheckUserArg(!string.IsNullOrWhiteSpace(condition), "ConditionColumnName", "Must name a column, or be null for an unconditional model.");
            ectx.CheckUserArg(condition != FeatureColumnName, "ConditionColumnName",
                $"Must differ from FeatureColumnName ('{FeatureColumnName}'): the condition is what the features are generated given.");
        }
    }
}
