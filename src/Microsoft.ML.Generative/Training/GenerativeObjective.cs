using System;
using System.Collections.Generic;
using Microsoft.ML.Generative.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Training;

/// <summary>
/// Where a training step stands; errors and schedules (such as KL warm-up) read it. <paramref name="LearningRateFactor"/>
/// is the engine's learning-rate schedule at this step (a multiple of each optimizer's initial rate), or
/// <see langword="null"/> when no schedule is set (<see cref="LearningRateSchedule.Constant"/>): then the rates are
/// never touched.
/// </summary>
internal readonly record struct StepInfo(int Epoch, int Batch, int BatchesPerEpoch, long GlobalStep, double? LearningRateFactor = null)
{
    /// <summary>
    /// Data-parallel training: rows in the global batch of this step (all ranks together), or 0 in one process. Noise
    /// drawn per row is drawn for all of them and sliced (<see cref="GenerativeObjective{TBatch}.RowNoise"/>), so that
    /// the run on n ranks reproduces the one-process run.
    /// </summary>
    public long GlobalRows { get; init; }

    /// <summary>Data-parallel training: this rank's first row within the global batch.</summary>
    public long RowOffset { get; init; }

    /// <summary>
    /// Data-parallel training: how much this rank's mean loss weighs in the global batch's mean (its rows, or tokens;
    /// 0 for a rank that has no rows in this step and trains on a stand-in row).
    /// </summary>
    public double Weight { get; init; }
}

/// <summary>
/// What a model family gives the shared <see cref="TrainingEngine"/>: its modules, how one batch is trained and how
/// one batch is evaluated. The engine owns epochs, shuffling, dispose scopes, cancellation, progress, validation and
/// early stopping. A family with several optimizers (a GAN) drives them all inside <see cref="TrainStep"/>.
/// This is the general form, for any batch type (a float matrix, or a set of named tensors such as token ids and
/// targets, see <see cref="Data.SequenceBatch"/>); <see cref="GenerativeObjective"/> is the float-matrix case.
/// </summary>
/// <typeparam name="TBatch">What one mini-batch is; its tensors are created inside the engine's per-step scope.</typeparam>
internal abstract class GenerativeObjective<TBatch> : IDisposable
{
    /// <summary>Loss names; the first is the optimized objective, reported as <c>"Loss"</c>.</summary>
    public abstract IReadOnlyList<string> LossNames { get; }

    /// <summary>The module(s) whose weights make up the model (saved, restored by early stopping).</summary>
    public abstract nn.Module Model { get; }

    /// <summary>Trains on one batch; returns the batch's mean losses, detached, shape <c>[LossNames.Count]</c>.</summary>
    public abstract Tensor TrainStep(TBatch batch, StepInfo step);

    /// <summary>Evaluates one batch without gradients; returns its mean losses, shape <c>[LossNames.Count]</c>.</summary>
    public abstract Tensor EvaluateBatch(TBatch batch);

    /// <summary>Rows (examples) in <paramref name="batch"/>, for <see cref="EpochSummary.Rows"/>.</summary>
    public abstract long RowsOf(TBatch batch);

    /// <summary>
    /// Rows <paramref name="start"/> … <paramref name="start"/> + <paramref name="count"/> − 1 of
    /// <paramref name="batch"/>: a rank's slice of the global batch in data-parallel training.
    /// </summary>
    public virtual TBatch SliceRows(TBatch batch, long start, long count)
        => throw new NotSupportedException($"{GetType().Name} cannot split its batches across ranks; data-parallel training is not available for this model.");

    /// <summary>
    /// Sharded data-parallel training where some shards are empty (collective: every rank calls it): rank
    /// <paramref name="owner"/> (the first that has rows) sends the first row of its <paramref name="train"/> data to
    /// every rank; returns what makes a one-row batch of it (called inside each step's dispose scope), on which an
    /// empty shard's rank trains with weight 0. The default refuses, on every rank together.
    /// </summary>
    internal virtual Func<TBatch> ShareStandIn(global::Microsoft.ML.Generative.Distributed.Communicator comm, int owner, BatchSource<TBatch> train)
        => throw global::Microsoft.ML.Generative.Distributed.Communicator.MarkAgreed(new InvalidOperationException(
            $"With ShardedData = true every rank's shard of the training data needs at least one row for {GetType().Name}; some ranks' shards are empty. "
            + "Give every rank rows, or launch fewer ranks."));

    /// <summary>
    /// The communicator of data-parallel training (set by the engine), or <see langword="null"/> in one process: then
    /// the optimizer steps all-reduce their gradients.
    /// </summary>
    internal global::Microsoft.ML.Generative.Distributed.Communicator? Distributed { get; set; }

    /// <summary>
    /// Noise for the <paramref name="rows"/> rows of this step: <paramref name="draw"/>(n) draws n rows of it. In one
    /// process that is <paramref name="draw"/>(<paramref name="rows"/>); in data-parallel training every rank draws the
    /// global batch's rows from the shared generator and keeps its own slice, so that the n-rank run consumes the
    /// generator as the one-process run does and reproduces it.
    /// </summary>
    protected static Tensor RowNoise(StepInfo step, long rows, Func<long, Tensor> draw)
    {
        if (step.GlobalRows == 0)
            return draw(rows);
        using var all = draw(step.GlobalRows);
        return all.narrow(0, step.RowOffset, rows);
    }

    /// <summary>
    /// How much <paramref name="batch"/>'s mean losses weigh in the epoch mean: its rows (the default), or for
    /// per-token losses its number of non-padding tokens, so that an epoch's loss is the mean per token.
    /// </summary>
    public virtual double WeightOf(TBatch batch) => RowsOf(batch);

    /// <summary>The log line of one epoch; a family may add derived numbers (perplexity, bits per token).</summary>
    public virtual string DescribeEpoch(EpochSummary summary) => summary.ToString();

    /// <summary>Called before each epoch (epochs count from 1).</summary>
    public virtual void BeginEpoch(int epoch)
    {
    }

    /// <summary>Called before each pass over validation data: reset evaluation randomness here.</summary>
    public virtual void BeginEvaluation()
    {
    }

    /// <summary>
    /// The first epoch whose validation loss early stopping may compare: a schedule that changes the training
    /// objective (such as KL warm-up) must be over first, or an early epoch can look best for the wrong reason.
    /// </summary>
    public virtual int FirstComparableEpoch => 1;

    /// <summary>
    /// The validation figure early stopping minimizes; by default the first loss (<c>"Loss"</c>). A family whose
    /// quality figure is not its training loss (a GAN's sample-quality distance) names it here.
    /// </summary>
    public virtual string EarlyStoppingLossName => LossNames[0];

    /// <summary>
    /// Called after a validation pass with its mean losses (in <see cref="LossNames"/> order): a figure that is not a
    /// mean over batches (such as a distance between distributions) is filled in here. Default: nothing.
    /// </summary>
    public virtual void EndEvaluation(double[] losses)
    {
    }

    /// <summary>
    /// Sharded data-parallel validation (<see cref="GenerativeTrainerOptions.ShardedData"/>): where this rank's
    /// validation rows sit among all ranks' (rank order), set by the engine before each pass; <see langword="null"/>
    /// in one process and with replicated data (every rank then evaluates all rows itself).
    /// </summary>
    internal EvaluationShard? Shard { get; set; }

    /// <summary>
    /// Sharded validation: statistics of this rank's pass that are not mean losses and must be summed over every
    /// shard before <see cref="EndEvaluation"/> (a GAN's Σx, Σxxᵀ and row counts for its Fréchet distance); the engine
    /// adds them up over the ranks in one all-reduce and hands the sums to <see cref="SetEvaluationStatistics"/>.
    /// Same length on every rank. Default: none (the mean losses are already summed over shards by the engine).
    /// </summary>
    public virtual double[]? EvaluationStatistics() => null;

    /// <summary>The sums over every rank of <see cref="EvaluationStatistics"/>, before <see cref="EndEvaluation"/>.</summary>
    public virtual void SetEvaluationStatistics(double[] sums)
    {
    }

    /// <summary>Gradient clipping threshold (0 = off) and the names used in error messages.</summary>
    protected double GradientClipNorm { get; init; }

    protected string FeatureColumnName { get; init; } = "Features";

    // Each parameter group's unscheduled rate, remembered at its first scheduled step.
    private readonly Dictionary<object, double> _baseRates = new(ReferenceEqualityComparer.Instance);

    protected double LearningRate { get; init; }

    /// <summary>
    /// One optimizer step on <paramref name="loss"/> with the flat-buffer optimizer every family uses
    /// (<see cref="FlatAdam"/>: a fraction of TorchSharp's Adam's cost, and no native memory left for the finalizer):
    /// refuses a non-finite loss before it can touch the weights (the error names the epoch and batch and says what to
    /// try), applies the learning-rate schedule, then zero-grad, backward, clip, step.
    /// </summary>
    protected void OptimizerStep(FlatAdam optimizer, Tensor loss, StepInfo step, string lossName = "loss")
    {
        if (Distributed is null)
            CheckFinite(loss, step, lossName);
        ApplySchedule(optimizer, step);
        optimizer.ZeroGrad();
        if (Distributed is { } communicator)
        {
            // backward of weight × mean loss gives this rank's sum over its rows; one all-reduce gives every rank the
            // global batch's mean gradient and mean loss. The loss check then sees the global loss, so every rank takes
            // the same decision, before any weight changes.
            double local = loss.dtype == ScalarType.Float64 ? loss.item<double>() : loss.item<float>();
            using (var weighted = loss.mul(step.Weight))
                weighted.backward();
            double global = optimizer.AllReduceGradients(communicator, step.Weight, local);
            if (!double.IsFinite(global))
                throw global::Microsoft.ML.Generative.Distributed.Communicator.MarkAgreed(NonFinite(global, step, lossName));
        }
        else
        {
            loss.backward();
        }
        if (GradientClipNorm > 0)
            optimizer.ClipGradNorm(GradientClipNorm);
        optimizer.Step();
    }

    /// <summary>
    /// The optimizer step after gradients written by hand (a family's hand-written training step, which overwrites every
    /// parameter's gradient with that of <paramref name="loss"/>, the batch's mean loss): the same non-finite-loss
    /// refusal, schedule, clipping and update as <see cref="OptimizerStep"/>, without zeroing and backward. One process
    /// only (the data-parallel step needs the all-reduce of <see cref="OptimizerStep"/>).
    /// </summary>
    protected void OptimizerStepWithGradients(FlatAdam optimizer, double loss, StepInfo step, string lossName = "loss")
    {
        if (Distributed is not null)
            throw new InvalidOperationException("Hand-written gradients are for one process; data-parallel steps go through OptimizerStep.");
        if (!double.IsFinite(loss))
            throw NonFinite(loss, step, lossName);
        ApplySchedule(optimizer, step);
        if (GradientClipNorm > 0)
            optimizer.ClipGradNorm(GradientClipNorm);
        optimizer.Step();
    }

    private void ApplySchedule(FlatAdam optimizer, StepInfo step)
    {
        if (step.LearningRateFactor is double factor)
        {
            if (!_baseRates.TryGetValue(optimizer, out double baseRate))
                _baseRates[optimizer] = baseRate = optimizer.LearningRate;
            optimizer.LearningRate = baseRate * factor;
        }
    }

    /// <summary>Adam, or AdamW with decoupled weight decay, over <paramref name="parameters"/> as one flat buffer.</summary>
    protected static FlatAdam CreateAdam(IEnumerable<TorchSharp.Modules.Parameter> parameters, GenerativeOptimizer kind, double learningRate,
        double beta1, double beta2, double weightDecay)
        => kind == GenerativeOptimizer.Muon
            ? throw new InvalidOperationException("Muon needs the model's hidden matrices; the options' check refuses it for this model.")
            : new(parameters, learningRate, beta1, beta2, weightDecay: weightDecay, decoupled: kind == GenerativeOptimizer.AdamW);

    /// <summary>
    /// One host-side read per step: on CPU this costs microseconds and it keeps a NaN from ever reaching the weights.
    /// </summary>
    private void CheckFinite(Tensor loss, StepInfo step, string lossName)
    {
        double value = loss.dtype == ScalarType.Float64 ? loss.item<double>() : loss.item<float>();
        if (!double.IsFinite(value))
            throw NonFinite(value, step, lossName);
    }

    /// <summary>What the user can change after a non-finite loss (the end of the error's message).</summary>
    protected virtual string DivergenceAdvice
        => $"Lower LearningRate (now {LearningRate}), set GradientClipNorm (e.g. 1.0), or normalize the "
           + $"'{FeatureColumnName}' column (mlContext.Transforms.NormalizeMeanVariance, or NormalizeMinMax with fixZero: false).";

    private InvalidOperationException NonFinite(double value, StepInfo step, string lossName)
        => new NonFiniteLossException(
                $"The training {lossName} became {value} at epoch {step.Epoch}, batch {step.Batch} "
                + $"(of {step.BatchesPerEpoch}); no weights were changed by that batch and no model was produced. "
                + DivergenceAdvice,
                lossName, value, step.Epoch, step.Batch, step.BatchesPerEpoch);

    public abstract void Dispose();
}

/// <summary>
/// A training loss became NaN or ±∞ (no weights were changed by that batch). Families that wrap another family's
/// estimator (the tabular synthesizer) catch it to give advice in their own options' terms.
/// </summary>
internal sealed class NonFiniteLossException(string message, string lossName, double value, int epoch, int batch, int batchesPerEpoch)
    : InvalidOperationException(message)
{
    public string LossName { get; } = lossName;

    public double Value { get; } = value;

    public int Epoch { get; } = epoch;

    public int Batch { get; } = batch;

    public int BatchesPerEpoch { get; } = batchesPerEpoch;
}

/// <summary>
/// This rank's part of a sharded validation pass: its rows are rows <paramref name="RowOffset"/> … of the
/// <paramref name="TotalRows"/> validation rows of all ranks together (rank <paramref name="Rank"/> of
/// <paramref name="Size"/>).
/// </summary>
internal readonly record struct EvaluationShard(long RowOffset, long TotalRows, int Rank, int Size);

/// <summary>The float-matrix objective: every batch is one <c>[B, D]</c> float32 tensor of feature rows.</summary>
internal abstract class GenerativeObjective : GenerativeObjective<Tensor>
{
    /// <summary>The batch's first dimension.</summary>
    public override long RowsOf(Tensor batch) => batch.shape[0];

    public override Tensor SliceRows(Tensor batch, long start, long count) => batch.narrow(0, start, count);

    /// <summary>The first row of rank <paramref name="owner"/>'s data ([features, condition]), broadcast as floats.</summary>
    internal override Func<Tensor> ShareStandIn(global::Microsoft.ML.Generative.Distributed.Communicator comm, int owner, BatchSource<Tensor> train)
    {
        // The owner's row width first ([features, condition]; every shard has the same, checked when the shards were
        // gathered to build the network), then the row.
        float[] row = Array.Empty<float>();
        if (comm.Rank == owner)
        {
            using var scope = NewDisposeScope();
            using var generator = new Generator(0);
            using var batches = train.Batches(1, shuffle: false, generator, epoch: 0).GetEnumerator();
            batches.MoveNext();
            using var first = batches.Current.contiguous();
            row = first.data<float>().ToArray();
        }
        long width = row.Length;
        comm.Broadcast(new Span<long>(ref width), owner);
        if (comm.Rank != owner)
            row = new float[width];
        comm.Broadcast(row.AsSpan(), owner);
        return () => tensor(row).view(1, row.Length);
    }
}
