using System;
using System.Collections.Generic;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Training;

/// <summary>Where a training step stands; errors and schedules (such as KL warm-up) read it.</summary>
internal readonly record struct StepInfo(int Epoch, int Batch, int BatchesPerEpoch, long GlobalStep);

/// <summary>
/// What a model family gives the shared <see cref="TrainingEngine"/>: its modules, how one batch is trained and how
/// one batch is evaluated. The engine owns epochs, shuffling, dispose scopes, cancellation, progress, validation and
/// early stopping. A family with several optimizers (a GAN) drives them all inside <see cref="TrainStep"/>.
/// </summary>
internal abstract class GenerativeObjective : IDisposable
{
    /// <summary>Loss names; the first is the optimized objective, reported as <c>"Loss"</c>.</summary>
    public abstract IReadOnlyList<string> LossNames { get; }

    /// <summary>The module(s) whose weights make up the model (saved, restored by early stopping).</summary>
    public abstract nn.Module Model { get; }

    /// <summary>Trains on one batch <c>[B, D]</c>; returns the batch's mean losses, detached, shape <c>[LossNames.Count]</c>.</summary>
    public abstract Tensor TrainStep(Tensor batch, StepInfo step);

    /// <summary>Evaluates one batch without gradients; returns its mean losses, shape <c>[LossNames.Count]</c>.</summary>
    public abstract Tensor EvaluateBatch(Tensor batch);

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

    /// <summary>Gradient clipping threshold (0 = off) and the names used in error messages.</summary>
    protected double GradientClipNorm { get; init; }

    protected string FeatureColumnName { get; init; } = "Features";

    protected double LearningRate { get; init; }

    /// <summary>
    /// One optimizer step on <paramref name="loss"/>: refuses a non-finite loss before it can touch the weights
    /// (the error names the epoch and batch and says what to try), then zero-grad, backward, clip, step.
    /// </summary>
    protected void OptimizerStep(optim.Optimizer optimizer, Tensor loss, IEnumerable<TorchSharp.Modules.Parameter> parameters, StepInfo step, string lossName = "loss")
    {
        CheckFinite(loss, step, lossName);
        optimizer.zero_grad();
        loss.backward();
        if (GradientClipNorm > 0)
            nn.utils.clip_grad_norm_(parameters, GradientClipNorm);
        optimizer.step();
    }

    /// <summary>
    /// The same step with the flat-buffer optimizer every family should use (<see cref="FlatAdam"/>: a fraction of
    /// TorchSharp's Adam's cost, and no native memory left for the finalizer): refuse a non-finite loss, zero the
    /// gradients, backward, clip, step.
    /// </summary>
    protected void OptimizerStep(FlatAdam optimizer, Tensor loss, StepInfo step, string lossName = "loss")
    {
        CheckFinite(loss, step, lossName);
        optimizer.ZeroGrad();
        loss.backward();
        if (GradientClipNorm > 0)
            optimizer.ClipGradNorm(GradientClipNorm);
        optimizer.Step();
    }

    /// <summary>Adam, or AdamW with decoupled weight decay, over <paramref name="parameters"/> as one flat buffer.</summary>
    protected static FlatAdam CreateAdam(IEnumerable<TorchSharp.Modules.Parameter> parameters, GenerativeOptimizer kind, double learningRate,
        double beta1, double beta2, double weightDecay)
        => new(parameters, learningRate, beta1, beta2, weightDecay: weightDecay, decoupled: kind == GenerativeOptimizer.AdamW);

    /// <summary>
    /// One host-side read per step: on CPU this costs microseconds and it keeps a NaN from ever reaching the weights.
    /// </summary>
    private void CheckFinite(Tensor loss, StepInfo step, string lossName)
    {
        double value = loss.dtype == ScalarType.Float64 ? loss.item<double>() : loss.item<float>();
        if (!double.IsFinite(value))
            throw new InvalidOperationException(
                $"The training {lossName} became {value} at epoch {step.Epoch}, batch {step.Batch} "
                + $"(of {step.BatchesPerEpoch}); no weights were changed by that batch and no model was produced. "
                + $"Lower LearningRate (now {LearningRate}), set GradientClipNorm (e.g. 1.0), or normalize the "
                + $"'{FeatureColumnName}' column (mlContext.Transforms.NormalizeMeanVariance, or NormalizeMinMax with fixZero: false).");
    }

    public abstract void Dispose();
}
