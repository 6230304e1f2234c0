using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Data;
using Microsoft.ML.Generative.Scoring;
using Microsoft.ML.Generative.Training;
using Microsoft.ML.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Vae;

/// <summary>
/// Trains a <see cref="VariationalAutoencoderTransformer"/> by minimizing the negative ELBO with TorchSharp.
/// Create it with <c>mlContext.Generative().VariationalAutoencoder(...)</c>.
/// </summary>
/// <remarks>
/// <para>Input: a known-size vector of <see cref="float"/> (default column <c>Features</c>). Output: the input columns
/// plus <c>Latent</c> (vector of <see cref="VariationalAutoencoderOptions.LatentDimension"/> floats),
/// <c>Reconstruction</c> (vector, same size as the input) and <c>Score</c> (float, negative ELBO in nats).</para>
/// <para>Loss: −ELBO(x) = E_q[−log p(x|z)] + β·KL(q(z|x) ‖ N(0, I)), with KL = −½ Σ (1 + log σ² − μ² − σ²), estimated
/// with one reparameterized sample per row (Kingma and Welling, 2014).</para>
/// </remarks>
public sealed class VariationalAutoencoderEstimator : IEstimator<VariationalAutoencoderTransformer>
{
    private readonly IHost _host;
    private readonly VariationalAutoencoderOptions _options;
    private readonly int _seed;

    internal VariationalAutoencoderEstimator(IHostEnvironment env, VariationalAutoencoderOptions options)
    {
        Contracts.CheckValue(env, nameof(env));
        _host = env.Register(nameof(VariationalAutoencoderEstimator));
        _host.CheckValue(options, nameof(options));
        options.Check(_host);
        _options = options;
        // Drawn once here, so that fitting the same estimator twice gives the same model.
        _seed = options.Seed ?? _host.Rand.Next();
    }

    /// <summary>Trains on <paramref name="input"/>.</summary>
    public VariationalAutoencoderTransformer Fit(IDataView input) => Fit(input, null);

    /// <summary>
    /// Trains on <paramref name="input"/> and reports the negative ELBO on <paramref name="validationData"/> after
    /// every epoch (used for early stopping). The validation data must have the same feature column.
    /// </summary>
    public VariationalAutoencoderTransformer Fit(IDataView input, IDataView? validationData)
    {
        _host.CheckValue(input, nameof(input));
        var options = _options;
        options.Check(_host);
        _host.CheckUserArg(options.EarlyStoppingPatience == 0 || validationData is not null || options.ValidationFraction > 0,
            nameof(options.EarlyStoppingPatience), "Early stopping needs validation data: pass it to Fit or set ValidationFraction.");

        using var ch = _host.Start("Fitting variational autoencoder");
        var (train, validation) = TrainingData.Load(_host, ch, input, validationData, options,
            options.Likelihood == VaeLikelihood.Bernoulli ? CheckUnitInterval : null, _seed);
        using (train)
        using (validation)
        {
            var architecture = new VaeArchitecture(train.Dimension, options.LatentDimension, options.HiddenLayerSizes.ToArray(),
                options.Activation, options.Likelihood);
            var network = TorchRandom.Build(_seed, () => new VaeNetwork(architecture));
            try
            {
                using var noise = new Generator((ulong)_seed);
                using var shuffle = new Generator((ulong)_seed + 1);
                using var objective = new VaeObjective(network, options, noise, evaluationSeed: (ulong)_seed + 3);
                ch.Info("Training a {0}-{1}-{2} VAE ({3} likelihood) on {4} rows for {5} epochs, batch {6}, seed {7}.",
                    architecture.InputDimension, string.Join("-", architecture.HiddenLayerSizes), architecture.LatentDimension,
                    architecture.Likelihood, train.Rows, options.NumberOfEpochs, options.BatchSize, _seed);
                var history = TrainingEngine.Run(_host, objective, train, validation, options.ToSettings(), shuffle);
                return new VariationalAutoencoderTransformer(_host, network, options.FeatureColumnName, options.FixedStandardDeviation,
                    options.LatentColumnName, options.ReconstructionColumnName, options.ScoreColumnName, history);
            }
            catch
            {
                network.Dispose();
                throw;
            }
        }
    }

    /// <summary>The input columns plus the three output columns; checks the feature column.</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        _host.CheckValue(inputSchema, nameof(inputSchema));
        FeatureColumn.Check(_host, inputSchema, _options.FeatureColumnName);
        var columns = inputSchema.ToDictionary(c => c.Name);
        var vector = SchemaShape.Column.VectorKind.Vector;
        columns[_options.LatentColumnName] = new SchemaShape.Column(_options.LatentColumnName, vector, NumberDataViewType.Single, isKey: false);
        columns[_options.ReconstructionColumnName] = new SchemaShape.Column(_options.ReconstructionColumnName, vector, NumberDataViewType.Single, isKey: false);
        columns[_options.ScoreColumnName] = new SchemaShape.Column(_options.ScoreColumnName, SchemaShape.Column.VectorKind.Scalar, NumberDataViewType.Single, isKey: false);
        return new SchemaShape(columns.Values);
    }

    private static string? CheckUnitInterval(ReadOnlySpan<float> row)
    {
        int i = FeatureRowReader.IndexOutside(row, 0f, 1f);
        return i < 0 ? null
            : $"value {row[i]} at slot {i} is outside [0, 1], which the Bernoulli likelihood needs. Scale the features into [0, 1] "
              + "(mlContext.Transforms.NormalizeMinMax with fixZero: false; the default fixZero: true keeps negative values negative), or use Likelihood = VaeLikelihood.GaussianLearnedVariance for real-valued data.";
    }
}
