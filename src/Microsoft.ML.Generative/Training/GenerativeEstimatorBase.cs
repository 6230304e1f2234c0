using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Data;
using Microsoft.ML.Generative.Distributed;
using Microsoft.ML.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Training;

/// <summary>
/// The estimator of a family whose input is one known-size float vector column (VAE, flows, GAN): the shared data
/// path (<see cref="TrainingData"/>: cached or streamed, validation split, row checks) on top of
/// <see cref="GenerativeEstimatorCore{TTransformer, TOptions}"/>. A family supplies its network, objective, output
/// columns and transformer. A conditional model (<see cref="GenerativeTrainerOptions.ConditionColumn"/>) gets its
/// condition's encoding from the training schema here; its rows carry the encoded condition after the features.
/// </summary>
/// <typeparam name="TTransformer">The fitted model.</typeparam>
/// <typeparam name="TOptions">The family's options.</typeparam>
public abstract class GenerativeEstimatorBase<TTransformer, TOptions> : GenerativeEstimatorCore<TTransformer, TOptions>
    where TTransformer : class, ITransformer
    where TOptions : GenerativeTrainerOptions
{
    private protected GenerativeEstimatorBase(IHostEnvironment env, TOptions options, string name)
        : base(env, options, name)
    {
    }

    private protected sealed override TTransformer FitCore(IChannel ch, IDataView input, IDataView? validationData)
    {
        // A conditional model: the condition's kind, width and key values come from the training schema.
        var condition = Options.ConditionColumn is string conditionColumn ? ConditionEncoding.FromSchema(Host, input.Schema, conditionColumn) : null;
        // In data-parallel training each phase ends with a collective check (a failure on any rank stops every rank).
        var communicator = Communicator.ForTraining(Options.DistributedTraining);
        var (train, validation) = Collective(communicator, () => TrainingData.Load(Host, ch, input, validationData, Options, RowCheck, Seed, condition),
            "reading the training data", loaded => { loaded.Train.Dispose(); loaded.Validation?.Dispose(); });
        using (train)
        using (validation)
        {
            if (condition is { IsKey: true })
                condition = CountConditionValues(ch, condition, train, communicator);
            var batches = TrainingBatches(train);
            using var ownBatches = ReferenceEquals(batches, train) ? null : batches;
            // Sharded data: data-dependent state (standardization, output maps) is computed over every rank's shard.
            var network = Collective(communicator,
                () => BuildNetwork(communicator is not null && Options.ShardedData ? new GatheredBatchSource(batches, communicator) : batches, ch),
                "building the network", n => n.Dispose());
            return Train(ch, batches, validation, network,
                () => $"{Describe(network)}{(condition is null ? "" : ", conditioned on the " + condition.Describe() + ",")} on {train.Rows} rows",
                (noise, evaluationSeed) => CreateObjective(network, noise, evaluationSeed),
                history => CreateTransformer(network, history, condition));
        }
    }

    /// <summary>
    /// A key condition's counts in the training rows (every shard's with <see cref="GenerativeTrainerOptions.ShardedData"/>),
    /// kept with the model so that <c>Sample(count, seed)</c> draws conditions at their training frequencies; warns
    /// about key values the training rows never have (the model cannot learn them; <c>Sample</c> refuses them).
    /// </summary>
    private ConditionEncoding CountConditionValues(IChannel ch, ConditionEncoding condition, BatchSource train, Communicator? communicator)
    {
        var counts = Collective(communicator, () => condition.CountKeys(train, train.Dimension), "counting the condition's values", _ => { });
        if (communicator is not null && Options.ShardedData)
            communicator.AllReduce(counts.AsSpan());
        condition = condition.WithKeyCounts(counts);
        var unseen = condition.UnseenKeys();
        if (unseen.Length > 0 && (communicator is null || communicator.IsRoot))
        {
            ch.Warning("Condition column '{0}': {1} of its {2} key values never occur in the training rows ({3}{4}). The model cannot learn "
                + "them: Sample refuses them, Sample(count, seed) never draws them, and rows that have them are scored with an untrained "
                + "condition. Train on rows with every value, or map the condition to a key with only the values that occur.",
                condition.ColumnName, unseen.Length, condition.Width, string.Join(", ", unseen.Take(10).Select(condition.DescribeValue)),
                unseen.Length > 10 ? ", ..." : "");
        }
        return condition;
    }

    private protected sealed override void CheckInputColumn(SchemaShape inputSchema)
    {
        FeatureColumn.Check(Host, inputSchema, Options.FeatureColumnName);
        if (Options.ConditionColumn is string condition)
            ConditionEncoding.CheckShape(Host, inputSchema, condition);
    }

    /// <summary>
    /// The batches training reads (and the network is built from): by default <paramref name="train"/> itself. A model
    /// that draws its training rows differently (CTGAN's training-by-sampling) returns another source, which is
    /// disposed after training; <paramref name="train"/> stays owned by the caller.
    /// </summary>
    private protected virtual BatchSource TrainingBatches(BatchSource train) => train;

    /// <summary>The family's own check of each training row (null: none); see <see cref="FeatureRowReader"/>.</summary>
    private protected virtual Func<ReadOnlySpan<float>, string?>? RowCheck => null;

    /// <summary>Builds the untrained network; runs under the seeded lock, so its initialization is reproducible.</summary>
    private protected abstract nn.Module BuildNetwork(int inputDimension);

    /// <summary>
    /// Builds the untrained network from the training data. By default from its dimension alone, under the seeded
    /// lock; a family that learns something from the data first (a flow's standardization, a GAN's output map)
    /// overrides this, reads <paramref name="train"/> outside the lock with its own seeded generators, and then builds
    /// with <see cref="TorchRandom.Build{T}"/> so that the initialization stays reproducible.
    /// </summary>
    private protected virtual nn.Module BuildNetwork(BatchSource train, IChannel ch)
        => TorchRandom.Build(Seed, () => BuildNetwork(train.Dimension));

    private protected abstract GenerativeObjective CreateObjective(nn.Module network, Generator noise, ulong evaluationSeed);

    /// <summary>One phrase for the log, e.g. "a 784-400-20 VAE (Bernoulli likelihood)".</summary>
    private protected abstract string Describe(nn.Module network);

    /// <summary>Wraps the trained network; the transformer owns it from here on.</summary>
    private protected abstract TTransformer CreateTransformer(nn.Module network, IReadOnlyList<EpochSummary> history);

    /// <summary>
    /// Wraps the trained network of a model conditioned on <paramref name="condition"/> (null: unconditional, the
    /// default calls the overload above); a family that supports <c>ConditionColumnName</c> overrides this.
    /// </summary>
    private protected virtual TTransformer CreateTransformer(nn.Module network, IReadOnlyList<EpochSummary> history, ConditionEncoding? condition)
        => CreateTransformer(network, history);
}
