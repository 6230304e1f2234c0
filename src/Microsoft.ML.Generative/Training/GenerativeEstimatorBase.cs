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
/// What every family's estimator shares. The options are checked when the estimator is made and again by
/// <c>Fit</c>. The seed is drawn once, so fitting the same estimator twice gives the same model. The data path, a
/// network built under the seeded lock, the training engine, and disposal of the network when training fails are
/// the same for all. A family supplies its network, objective, output columns and transformer.
/// </summary>
/// <typeparam name="TTransformer">The fitted model.</typeparam>
/// <typeparam name="TOptions">The family's options.</typeparam>
public abstract class GenerativeEstimatorBase<TTransformer, TOptions> : IEstimator<TTransformer>
    where TTransformer : class, ITransformer
    where TOptions : GenerativeTrainerOptions
{
    private protected readonly IHost Host;
    private protected readonly TOptions Options;
    private protected readonly int Seed;

    private protected GenerativeEstimatorBase(IHostEnvironment env, TOptions options, string name)
    {
        Contracts.CheckValue(env, nameof(env));
        Host = env.Register(name);
        Host.CheckValue(options, nameof(options));
        options.Check(Host);
        Options = options;
        // Drawn once here, so that fitting the same estimator twice gives the same model.
        Seed = options.Seed ?? Host.Rand.Next();
    }

    /// <summary>Trains on <paramref name="input"/>.</summary>
    public TTransformer Fit(IDataView input) => Fit(input, null);

    /// <summary>
    /// Trains on <paramref name="input"/> and reports the losses on <paramref name="validationData"/> after every
    /// epoch (used for early stopping). The validation data must have the same feature column.
    /// </summary>
    public TTransformer Fit(IDataView input, IDataView? validationData)
    {
        Host.CheckValue(input, nameof(input));
        var options = Options;
        options.Check(Host);
        Host.CheckUserArg(options.EarlyStoppingPatience == 0 || validationData is not null || options.ValidationFraction > 0,
            nameof(options.EarlyStoppingPatience), "Early stopping needs validation data: pass it to Fit or set ValidationFraction.");

        using var ch = Host.Start("Fitting " + ModelName);
        if (Communicator.ForTraining(options.DistributedTraining) is { } communicator)
            return FitDistributed(communicator, ch, input, validationData, options);
        var (train, validation) = TrainingData.Load(Host, ch, input, validationData, options, RowCheck, Seed);
        using (train)
        using (validation)
        {
            var network = BuildNetwork(train, ch);
            try
            {
                using var noise = new Generator((ulong)Seed);
                using var shuffle = new Generator((ulong)Seed + 1);
                using var objective = CreateObjective(network, noise, evaluationSeed: (ulong)Seed + 3);
                ch.Info("Training {0} on {1} rows for {2} epochs, batch {3}, seed {4}.",
                    Describe(network), train.Rows, options.NumberOfEpochs, options.BatchSize, Seed);
                var history = TrainingEngine.Run(Host, objective, train, validation, options.ToSettings(), shuffle);
                return CreateTransformer(network, history);
            }
            catch
            {
                network.Dispose();
                throw;
            }
        }
    }

    /// <summary>
    /// <see cref="Fit(IDataView, IDataView)"/> on every rank of an MPI job: each phase that runs on its own (reading the
    /// data, building the network) ends with a collective check, so a failure on any rank is thrown by every rank;
    /// a failure only one rank sees where the others may wait in a collective ends the job (MPI_Abort) after logging it.
    /// </summary>
    private TTransformer FitDistributed(Communicator comm, IChannel ch, IDataView input, IDataView? validationData, TOptions options)
    {
        try
        {
            BatchSource? train = null, validation = null;
            Exception? failure = null;
            try
            {
                (train, validation) = TrainingData.Load(Host, ch, input, validationData, options, RowCheck, Seed);
            }
            catch (Exception e)
            {
                failure = e;
            }
            try
            {
                comm.Agree(failure, "reading the training data");
            }
            catch
            {
                train?.Dispose();
                validation?.Dispose();
                throw;
            }
            using (train)
            using (validation)
            {
                nn.Module? network = null;
                failure = null;
                try
                {
                    // Sharded: data-dependent state (standardization, output maps) is computed over every rank's shard.
                    network = BuildNetwork(options.ShardedData ? new GatheredBatchSource(train!, comm) : train!, ch);
                }
                catch (Exception e)
                {
                    failure = e;
                }
                try
                {
                    comm.Agree(failure, "building the network");
                }
                catch
                {
                    network?.Dispose();
                    throw;
                }
                try
                {
                    using var noise = new Generator((ulong)Seed);
                    using var shuffle = new Generator((ulong)Seed + 1);
                    using var objective = CreateObjective(network!, noise, evaluationSeed: (ulong)Seed + 3);
                    if (comm.IsRoot)
                        ch.Info("Training {0} on {1} ranks ({2} data, {3} rows on rank 0) for {4} epochs, global batch {5}, seed {6}.",
                            Describe(network!), comm.Size, options.ShardedData ? "sharded" : "replicated", train!.Rows, options.NumberOfEpochs,
                            options.BatchSize, Seed);
                    var history = TrainingEngine.Run(Host, objective, train!, validation, options.ToSettings() with { Distributed = comm }, shuffle);
                    return CreateTransformer(network!, history);
                }
                catch
                {
                    network!.Dispose();
                    throw;
                }
            }
        }
        catch (Exception e) when (!Communicator.IsAgreed(e))
        {
            comm.Abort(e, ch);
            throw;
        }
    }

    /// <summary>The input columns plus the family's output columns; checks the feature column.</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        Host.CheckValue(inputSchema, nameof(inputSchema));
        FeatureColumn.Check(Host, inputSchema, Options.FeatureColumnName);
        var columns = inputSchema.ToDictionary(c => c.Name);
        foreach (var (name, isVector) in OutputColumns)
        {
            columns[name] = new SchemaShape.Column(name,
                isVector ? SchemaShape.Column.VectorKind.Vector : SchemaShape.Column.VectorKind.Scalar,
                NumberDataViewType.Single, isKey: false);
        }
        return new SchemaShape(columns.Values);
    }

    /// <summary>The model's name in messages, e.g. "variational autoencoder".</summary>
    private protected abstract string ModelName { get; }

    /// <summary>The <see cref="float"/> columns the transformer adds: scalar or vector.</summary>
    private protected abstract IEnumerable<(string Name, bool IsVector)> OutputColumns { get; }

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
