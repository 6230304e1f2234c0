using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using Microsoft.ML.Generative.Data;
using Microsoft.ML.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Training;

/// <summary>Settings the engine reads; every family's options map onto these.</summary>
internal sealed record TrainingSettings(int NumberOfEpochs, int BatchSize, int EarlyStoppingPatience, IProgress<EpochSummary>? Progress,
    System.Threading.CancellationToken Cancellation)
{
    /// <summary>The learning-rate schedule; <see cref="LearningRateSchedule.Constant"/> leaves the rates alone.</summary>
    public LearningRateSchedule Schedule { get; init; }

    public int WarmupSteps { get; init; }

    public double MinimumLearningRateFraction { get; init; } = 0.1;

    /// <summary>
    /// The schedule's multiple of the base rate at <paramref name="step"/> (from 1) of <paramref name="totalSteps"/>,
    /// or null for <see cref="LearningRateSchedule.Constant"/>.
    /// </summary>
    public double? LearningRateFactor(long step, long totalSteps)
    {
        if (Schedule == LearningRateSchedule.Constant)
            return null;
        if (step <= WarmupSteps)
            return (double)step / WarmupSteps;
        long decaySteps = Math.Max(1, totalSteps - WarmupSteps);
        double progress = Math.Min(1.0, (double)(step - WarmupSteps) / decaySteps);
        double m = MinimumLearningRateFraction;
        return m + (1 - m) * 0.5 * (1 + Math.Cos(Math.PI * progress));
    }
}

/// <summary>
/// The one training loop every model family runs: epochs of shuffled mini-batches, a dispose scope per step, a
/// cancellation check per batch, per-epoch progress through <see cref="MLContext.Log"/> and an optional callback,
/// validation, and early stopping that restores the best weights.
/// </summary>
internal static class TrainingEngine
{
    /// <param name="host">Cancellation, logging and errors.</param>
    /// <param name="objective">The family's objective.</param>
    /// <param name="train">Training batches.</param>
    /// <param name="validation">Validation batches, or <see langword="null"/>.</param>
    /// <param name="settings">Epochs, batch size, patience, progress callback.</param>
    /// <param name="generator">Shuffling randomness, seeded by the caller.</param>
    /// <typeparam name="TBatch">The batch type: a float matrix <see cref="Tensor"/> or, e.g., a <see cref="SequenceBatch"/>.</typeparam>
    public static IReadOnlyList<EpochSummary> Run<TBatch>(IHost host, GenerativeObjective<TBatch> objective, BatchSource<TBatch> train,
        BatchSource<TBatch>? validation, TrainingSettings settings, Generator generator)
    {
        var history = new List<EpochSummary>();
        long rows = train.Rows;
        int batchesPerEpoch = checked((int)((rows + settings.BatchSize - 1) / settings.BatchSize));
        var names = objective.LossNames;
        int stoppingIndex = Math.Max(0, names.ToList().IndexOf(objective.EarlyStoppingLossName));
        var total = Stopwatch.StartNew();
        double bestValidation = double.PositiveInfinity;
        int epochsWithoutImprovement = 0;
        Dictionary<string, Tensor>? bestWeights = null;
        long globalStep = 0;

        using var ch = host.Start("Training");
        try
        {
            for (int epoch = 1; epoch <= settings.NumberOfEpochs; epoch++)
            {
                CheckAlive(host, settings.Cancellation);
                objective.BeginEpoch(epoch);
                objective.Model.train();
                var epochClock = Stopwatch.StartNew();
                double[] trainLosses;
                long seen = 0;
                double weight = 0;
                using (var sums = zeros(names.Count, dtype: ScalarType.Float64))
                {
                    using var batches = train.Batches(settings.BatchSize, shuffle: true, generator, epoch).GetEnumerator();
                    for (int b = 0; ; b++)
                    {
                        CheckAlive(host, settings.Cancellation);
                        // The scope is opened before the move, so that it also owns the batch tensor.
                        using var scope = NewDisposeScope();
                        if (!batches.MoveNext())
                            break;
                        var batch = batches.Current;
                        long count = objective.RowsOf(batch);
                        double w = objective.WeightOf(batch);
                        ++globalStep;
                        var losses = objective.TrainStep(batch, new StepInfo(epoch, b + 1, batchesPerEpoch, globalStep,
                            settings.LearningRateFactor(globalStep, (long)batchesPerEpoch * settings.NumberOfEpochs)));
                        // Accumulated on the tensor side: no host read per step beyond the NaN guard.
                        sums.add_(losses, alpha: w); // float32 into the float64 sums
                        seen += count;
                        weight += w;
                    }
                    using var means = sums.div(Math.Max(weight, double.Epsilon));
                    trainLosses = means.data<double>().ToArray();
                }
                epochClock.Stop();

                double[]? validationLosses = null;
                if (validation is not null)
                    validationLosses = Evaluate(host, objective, validation, settings.BatchSize, settings.Cancellation);

                var summary = new EpochSummary(epoch, settings.NumberOfEpochs, ToDictionary(names, trainLosses),
                    validationLosses is null ? null : ToDictionary(names, validationLosses), seen, epochClock.Elapsed, total.Elapsed);
                history.Add(summary);
                ch.Info("{0}", objective.DescribeEpoch(summary));
                settings.Progress?.Report(summary);

                if (validationLosses is not null && settings.EarlyStoppingPatience > 0 && epoch >= objective.FirstComparableEpoch)
                {
                    if (validationLosses[stoppingIndex] < bestValidation)
                    {
                        bestValidation = validationLosses[stoppingIndex];
                        epochsWithoutImprovement = 0;
                        DisposeAll(bestWeights);
                        bestWeights = Snapshot(objective.Model);
                    }
                    else if (++epochsWithoutImprovement >= settings.EarlyStoppingPatience)
                    {
                        if (bestWeights is not null)
                            ch.Info("Early stopping after epoch {0}: validation {3} has not improved for {1} epochs; restoring the weights of the best epoch (validation {3} {2:F4}).",
                                epoch, epochsWithoutImprovement, bestValidation, stoppingIndex == 0 ? "loss" : names[stoppingIndex]);
                        else
                            ch.Warning("Early stopping after epoch {0}: the validation loss was never a finite number; keeping the last weights.", epoch);
                        break;
                    }
                }
            }

            if (bestWeights is not null)
                Restore(objective.Model, bestWeights);
        }
        finally
        {
            DisposeAll(bestWeights);
            objective.Model.eval();
        }
        return history;
    }

    private static void CheckAlive(IHost host, System.Threading.CancellationToken cancellation)
    {
        host.CheckAlive();
        cancellation.ThrowIfCancellationRequested();
    }

    /// <summary>Mean losses over all rows of <paramref name="data"/>, in order, without gradients.</summary>
    public static double[] Evaluate<TBatch>(IHost host, GenerativeObjective<TBatch> objective, BatchSource<TBatch> data, int batchSize,
        System.Threading.CancellationToken cancellation = default)
    {
        objective.Model.eval();
        objective.BeginEvaluation();
        using var noGrad = no_grad();
        using var sums = zeros(objective.LossNames.Count, dtype: ScalarType.Float64);
        double seen = 0;
        using var generator = new Generator(0);
        using var batches = data.Batches(batchSize, shuffle: false, generator, epoch: 0).GetEnumerator();
        while (true)
        {
            CheckAlive(host, cancellation);
            using var scope = NewDisposeScope();
            if (!batches.MoveNext())
                break;
            var batch = batches.Current;
            double w = objective.WeightOf(batch);
            var losses = objective.EvaluateBatch(batch);
            sums.add_(losses, alpha: w); // float32 into the float64 sums
            seen += w;
        }
        using var means = sums.div(Math.Max(seen, double.Epsilon));
        var result = means.data<double>().ToArray();
        objective.EndEvaluation(result);
        return result;
    }

    private static IReadOnlyDictionary<string, double> ToDictionary(IReadOnlyList<string> names, double[] values)
        => names.Select((n, i) => (n, i)).ToDictionary(p => p.n, p => values[p.i]);

    private static Dictionary<string, Tensor> Snapshot(nn.Module module)
    {
        using var noGrad = no_grad();
        var snapshot = new Dictionary<string, Tensor>();
        foreach (var (name, value) in module.state_dict())
        {
            using var detached = value.detach();
            snapshot[name] = detached.clone();
        }
        return snapshot;
    }

    private static void Restore(nn.Module module, Dictionary<string, Tensor> weights)
    {
        using var noGrad = no_grad();
        foreach (var (name, value) in module.state_dict())
            value.copy_(weights[name]);
    }

    private static void DisposeAll(Dictionary<string, Tensor>? weights)
    {
        if (weights is null) return;
        foreach (var t in weights.Values) t.Dispose();
        weights.Clear();
    }
}
