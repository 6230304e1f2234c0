using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Data;
using Microsoft.ML.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Training;

/// <summary>
/// The estimator of a family whose input is one known-size float vector column (VAE, flows, GAN): the shared data
/// path (<see cref="TrainingData"/>: cached or streamed, validation split, row checks) on top of
/// <see cref="GenerativeEstimatorCore{TTransformer, TOptions}"/>. A family supplies its network, objective, output
/// columns and transformer.
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
        var (train, validation) = TrainingData.Load(Host, ch, input, validationData, Options, RowCheck, Seed);
        using (train)
        using (validation)
        {
            var network = BuildNetwork(train, ch);
            return Train(ch, train, validation, network, () => $"{Describe(network)} on {train.Rows} rows",
                (noise, evaluationSeed) => CreateObjective(network, noise, evaluationSeed),
                history => CreateTransformer(network, history));
        }
    }

    private protected sealed override void CheckInputColumn(SchemaShape inputSchema)
        => FeatureColumn.Check(Host, inputSchema, Options.FeatureColumnName);

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
}
