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

    /// <summary>Data-parallel training's communicator, or null in one process.</summary>
    public global::Microsoft.ML.Generative.Distributed.Communicator? Distributed { get; init; }

    /// <summary>Data-parallel training: each rank's data is its own shard (see <see cref="GenerativeTrainerOptions.ShardedData"/>).</summary>
    public bool ShardedData { get; init; }

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
        var comm = settings.Distributed;
        // Data-parallel training: every rank starts from rank 0's weights and agrees on the epoch's length.
        var plan = comm is null ? null : DataParallelPlan.Create(comm, objective, train, settings.BatchSize, settings.ShardedData);
        bool logs = comm is null || comm.IsRoot;
        objective.Distributed = comm;   // its optimizer steps all-reduce the gradients
        long rows = plan?.TotalRows ?? train.Rows;
        int batchesPerEpoch = plan?.Steps ?? checked((int)((rows + settings.BatchSize - 1) / settings.BatchSize));
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
                if (comm is null)
                {
                    CheckAlive(host, settings.Cancellation);
                    objective.BeginEpoch(epoch);
                }
                else
                {
                    int e = epoch;
                    comm.Agree(() => { CheckAlive(host, settings.Cancellation); objective.BeginEpoch(e); return 0; }, $"starting epoch {epoch}");
                }
                objective.Model.train();
                var epochClock = Stopwatch.StartNew();
                double[] trainLosses;
                long seen = 0;
                double weight = 0;
                using (var sums = zeros(names.Count, dtype: ScalarType.Float64))
                {
                    var epochBatches = plan is { Sharded: true }
                        ? plan.ShardBatches(train, generator, epoch)
                        : train.Batches(settings.BatchSize, shuffle: true, generator, epoch);
                    using var batches = epochBatches.GetEnumerator();
                    for (int b = 0; ; b++)
                    {
                        // The scope is opened before the move, so that it also owns the batch tensor.
                        using var scope = NewDisposeScope();
                        bool more;
                        if (comm is null)
                        {
                            CheckAlive(host, settings.Cancellation);
                            more = batches.MoveNext();
                        }
                        else
                        {
                            // Cancellation and a bad row on any rank stop every rank here, before the step's collectives.
                            more = comm.Agree(() => { CheckAlive(host, settings.Cancellation); return batches.MoveNext(); },
                                $"reading batch {b + 1} of epoch {epoch}");
                        }
                        if (!more)
                            break;
                        ++globalStep;
                        var info = new StepInfo(epoch, b + 1, batchesPerEpoch, globalStep,
                            settings.LearningRateFactor(globalStep, (long)batchesPerEpoch * settings.NumberOfEpochs));
                        var batch = batches.Current;
                        long count;
                        double w;
                        if (plan is null)
                        {
                            count = objective.RowsOf(batch);
                            w = objective.WeightOf(batch);
                        }
                        else
                        {
                            (batch, info, count) = plan.Slice(objective, batch, info);
                            w = info.Weight;
                        }
                        var losses = objective.TrainStep(batch, info);
                        // Accumulated on the tensor side: no host read per step beyond the NaN guard.
                        if (w != 0)
                            sums.add_(losses, alpha: w); // float32 into the float64 sums
                        seen += count;
                        weight += w;
                    }
                    if (comm is null)
                    {
                        using var means = sums.div(Math.Max(weight, double.Epsilon));
                        trainLosses = means.data<double>().ToArray();
                    }
                    else
                    {
                        // The epoch's means over the rows of every rank.
                        var reduced = sums.data<double>().ToArray().Append(weight).Append(seen).ToArray();
                        comm.AllReduce(reduced.AsSpan());
                        weight = reduced[names.Count];
                        seen = (long)reduced[names.Count + 1];
                        trainLosses = reduced.Take(names.Count).Select(v => v / Math.Max(weight, double.Epsilon)).ToArray();
                    }
                }
                epochClock.Stop();

                double[]? validationLosses = null;
                if (validation is not null)
                {
                    if (comm is null)
                    {
                        validationLosses = Evaluate(host, objective, validation, settings.BatchSize, settings.Cancellation);
                    }
                    else
                    {
                        validationLosses = EvaluateDistributed(host, comm, objective, validation, settings.BatchSize, plan!.Sharded, epoch,
                            settings.Cancellation);
                    }
                }

                var epochTime = epochClock.Elapsed;
                var totalTime = total.Elapsed;
                if (comm is not null)
                {
                    // Rank 0's clock, so that every rank's history (saved with the model) is the same.
                    var times = new[] { epochTime.TotalSeconds, totalTime.TotalSeconds };
                    comm.Broadcast(times.AsSpan());
                    (epochTime, totalTime) = (TimeSpan.FromSeconds(times[0]), TimeSpan.FromSeconds(times[1]));
                }
                var summary = new EpochSummary(epoch, settings.NumberOfEpochs, ToDictionary(names, trainLosses),
                    validationLosses is null ? null : ToDictionary(names, validationLosses), seen, epochTime, totalTime);
                history.Add(summary);
                if (logs)
                {
                    ch.Info("{0}", objective.DescribeEpoch(summary));
                    settings.Progress?.Report(summary);
                }

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
                        if (!logs)
                            break;
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
            objective.Distributed = null;
            objective.Shard = null;
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
        var (sums, seen) = EvaluateSums(host, objective, data, batchSize, cancellation);
        var result = sums.Select(v => v / Math.Max(seen, double.Epsilon)).ToArray();
        objective.EndEvaluation(result);
        return result;
    }

    /// <summary>
    /// Data-parallel validation: every rank evaluates its validation data (with <paramref name="sharded"/>, its shard,
    /// and the sums of all shards are added up: the mean losses and the objective's
    /// <see cref="GenerativeObjective{TBatch}.EvaluationStatistics"/>, so that a figure such as the GAN's Fréchet
    /// distance is computed over every shard's rows); rank 0's figures are then broadcast, so that every rank takes
    /// the same early-stopping decision.
    /// </summary>
    private static double[] EvaluateDistributed<TBatch>(IHost host, global::Microsoft.ML.Generative.Distributed.Communicator comm,
        GenerativeObjective<TBatch> objective, BatchSource<TBatch> data, int batchSize, bool sharded, int epoch,
        System.Threading.CancellationToken cancellation)
    {
        string phase = $"validating after epoch {epoch}";
        if (sharded)
        {
            // Where this rank's rows sit among every shard's (objectives that draw noise per row use it).
            var counts = new long[comm.Size];
            counts[comm.Rank] = data.Rows;
            comm.AllReduce(counts.AsSpan());
            if (counts.Sum() == 0)
                throw global::Microsoft.ML.Generative.Distributed.Communicator.MarkAgreed(new InvalidOperationException(
                    $"Validation data is empty on every one of the {comm.Size} ranks (ShardedData = true): give the ranks their shards of the validation data, or raise ValidationFraction."));
            objective.Shard = new EvaluationShard(counts.Take(comm.Rank).Sum(), counts.Sum(), comm.Rank, comm.Size);
        }
        double[]? statistics = null;
        var (sums, seen) = comm.Agree(() =>
        {
            var result = EvaluateSums(host, objective, data, batchSize, cancellation);
            if (sharded)
                statistics = objective.EvaluationStatistics();
            return result;
        }, phase);
        if (sharded)
        {
            // The loss sums, the total weight and the objective's own statistics of every shard, in one all-reduce.
            var reduced = sums.Append(seen).Concat(statistics ?? Array.Empty<double>()).ToArray();
            comm.AllReduce(reduced.AsSpan());
            seen = reduced[sums.Length];
            if (statistics is not null)
                objective.SetEvaluationStatistics(reduced.Skip(sums.Length + 1).ToArray());
            sums = reduced.Take(sums.Length).ToArray();
        }
        var result = sums.Select(v => v / Math.Max(seen, double.Epsilon)).ToArray();
        comm.Agree(() => { objective.EndEvaluation(result); return 0; }, phase);
        comm.Broadcast(result.AsSpan());
        return result;
    }

    /// <summary>Weighted sums of the losses over all rows of <paramref name="data"/>, and the total weight.</summary>
    private static (double[] Sums, double Weight) EvaluateSums<TBatch>(IHost host, GenerativeObjective<TBatch> objective, BatchSource<TBatch> data,
        int batchSize, System.Threading.CancellationToken cancellation)
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
        return (sums.data<double>().ToArray(), seen);
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
