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
/// What every family's estimator shares, whatever its input: the options are checked when the estimator is made and
/// again by <c>Fit</c>; the seed is drawn once, so fitting the same estimator twice gives the same model; the
/// training run (seeded generators, the objective, the log line, the shared <see cref="TrainingEngine"/>, disposal of
/// the network when training fails) and the output schema are the same for all. A family reads its input into batch
/// sources (<see cref="FitCore"/>) and supplies its network, objective and transformer.
/// <see cref="GenerativeEstimatorBase{TTransformer, TOptions}"/> is the case of one known-size float vector column
/// (VAE, flows, GAN); the autoregressive family derives from this class directly (token sequences).
/// </summary>
/// <typeparam name="TTransformer">The fitted model.</typeparam>
/// <typeparam name="TOptions">The family's options.</typeparam>
public abstract class GenerativeEstimatorCore<TTransformer, TOptions> : IEstimator<TTransformer>
    where TTransformer : class, ITransformer
    where TOptions : GenerativeTrainerOptions
{
    private protected readonly IHost Host;
    private protected readonly TOptions Options;
    private protected readonly int Seed;

    private protected GenerativeEstimatorCore(IHostEnvironment env, TOptions options, string name)
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
    /// epoch (used for early stopping). The validation data must have the same input column.
    /// </summary>
    public TTransformer Fit(IDataView input, IDataView? validationData)
    {
        Host.CheckValue(input, nameof(input));
        var options = Options;
        options.Check(Host);
        Host.CheckUserArg(options.EarlyStoppingPatience == 0 || validationData is not null || options.ValidationFraction > 0,
            nameof(options.EarlyStoppingPatience), "Early stopping needs validation data: pass it to Fit or set ValidationFraction.");

        using var ch = Host.Start("Fitting " + ModelName);
        // Data-parallel training (DistributedTraining): loads and initializes MPI, or fails with what to install.
        var communicator = Communicator.ForTraining(options.DistributedTraining);
        if (communicator is null)
            return FitCore(ch, input, validationData);
        try
        {
            return FitCore(ch, input, validationData);
        }
        catch (Exception e) when (!Communicator.IsAgreed(e))
        {
            // Only this rank saw the failure and the others may be waiting in a collective: end the job, never hang.
            communicator.Abort(e, ch);
            throw;
        }
    }

    /// <summary>
    /// Runs a phase of <c>Fit</c> that each rank runs on its own (reading data, building the network). In data-parallel
    /// training it ends with a collective check: when any rank failed, every rank throws (the failing rank its own
    /// error, the others one that names the failing rank and carries its message), and <paramref name="dispose"/>
    /// releases what this rank made. In one process it just runs.
    /// </summary>
    private protected static T Collective<T>(Communicator? communicator, Func<T> phase, string what, Action<T> dispose)
    {
        if (communicator is null)
            return phase();
        T result = default!;
        Exception? failure = null;
        try
        {
            result = phase();
        }
        catch (Exception e)
        {
            failure = e;
        }
        try
        {
            communicator.Agree(failure, what);
        }
        catch when (failure is null)
        {
            dispose(result);
            throw;
        }
        return result;
    }

    /// <summary>The input columns plus the family's output columns; checks the input column.</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        Host.CheckValue(inputSchema, nameof(inputSchema));
        CheckInputColumn(inputSchema);
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

    /// <summary>Throws the user's error when <paramref name="inputSchema"/> lacks a usable input column.</summary>
    private protected abstract void CheckInputColumn(SchemaShape inputSchema);

    /// <summary>
    /// Reads <paramref name="input"/> (and the validation data) into batch sources, builds the network under the
    /// seeded lock and calls <see cref="Train"/>; disposes the sources.
    /// </summary>
    private protected abstract TTransformer FitCore(IChannel ch, IDataView input, IDataView? validationData);

    /// <summary>
    /// The shared training run: seeded noise (seed + 0) and shuffle (seed + 1) generators, the family's objective
    /// (evaluation noise from seed + 3), one log line, the <see cref="TrainingEngine"/>, and the trained transformer;
    /// <paramref name="network"/> is disposed if anything fails, owned by the transformer otherwise.
    /// </summary>
    /// <param name="ch">The fit's channel.</param>
    /// <param name="train">Training batches.</param>
    /// <param name="validation">Validation batches, or null.</param>
    /// <param name="network">The untrained network (built under <see cref="TorchRandom.Build{T}"/>).</param>
    /// <param name="what">What is trained on what, for the log: "a 784-400-20 VAE on 8000 rows".</param>
    /// <param name="createObjective">The family's objective over the network, given the noise generator and evaluation seed.</param>
    /// <param name="createTransformer">Wraps the trained network and the history.</param>
    private protected TTransformer Train<TBatch>(IChannel ch, BatchSource<TBatch> train, BatchSource<TBatch>? validation, nn.Module network,
        Func<string> what, Func<Generator, ulong, GenerativeObjective<TBatch>> createObjective,
        Func<IReadOnlyList<EpochSummary>, TTransformer> createTransformer)
    {
        try
        {
            using var noise = new Generator((ulong)Seed);
            using var shuffle = new Generator((ulong)Seed + 1);
            using var objective = createObjective(noise, (ulong)Seed + 3);
            var communicator = Communicator.ForTraining(Options.DistributedTraining);
            if (communicator is null)
                ch.Info("Training {0} for {1} epochs, batch {2}, seed {3}.", what(), Options.NumberOfEpochs, Options.BatchSize, Seed);
            else if (communicator.IsRoot)
                ch.Info("Training {0} (rank 0; {1} data) on {2} ranks for {3} epochs, global batch {4}, seed {5}.", what(),
                    Options.ShardedData ? "sharded" : "replicated", communicator.Size, Options.NumberOfEpochs, Options.BatchSize, Seed);
            var history = TrainingEngine.Run(Host, objective, train, validation, Options.ToSettings() with { Distributed = communicator }, shuffle);
            return createTransformer(history);
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }
}
