using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Generative.Data;
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
public sealed class VariationalAutoencoderEstimator
    : GenerativeEstimatorBase<VariationalAutoencoderTransformer, VariationalAutoencoderOptions>
{
    private readonly VaeReconstruction? _reconstruction;

    internal VariationalAutoencoderEstimator(IHostEnvironment env, VariationalAutoencoderOptions options)
        : this(env, options, null)
    {
    }

    /// <param name="env">The host.</param>
    /// <param name="options">The VAE's options.</param>
    /// <param name="reconstruction">A reconstruction term replacing the likelihood's (the tabular synthesizer's
    /// per-column likelihoods); the transformer it yields still scores with <see cref="VariationalAutoencoderOptions.Likelihood"/>.</param>
    internal VariationalAutoencoderEstimator(IHostEnvironment env, VariationalAutoencoderOptions options, VaeReconstruction? reconstruction)
        : base(env, options, nameof(VariationalAutoencoderEstimator))
    {
        _reconstruction = reconstruction;
    }

    private protected override string ModelName => "variational autoencoder";

    private protected override IEnumerable<(string Name, bool IsVector)> OutputColumns => new[]
    {
        (Options.LatentColumnName, true),
        (Options.ReconstructionColumnName, true),
        (Options.ScoreColumnName, false),
    };

    private protected override Func<ReadOnlySpan<float>, string?>? RowCheck
        => Options.Likelihood == VaeLikelihood.Bernoulli ? CheckUnitInterval : null;

    private protected override nn.Module BuildNetwork(int inputDimension)
        => new VaeNetwork(Architecture(inputDimension, 0));

    /// <summary>The network for the training data's features and condition (a CVAE when the data has one).</summary>
    private protected override nn.Module BuildNetwork(BatchSource train, IChannel ch)
        => TorchRandom.Build(Seed, () => new VaeNetwork(Architecture(train.Dimension, train.ConditionWidth)));

    private VaeArchitecture Architecture(int inputDimension, int conditionWidth)
        => new(inputDimension, Options.LatentDimension, Options.HiddenLayerSizes.ToArray(), Options.Activation, Options.Likelihood, conditionWidth)
        { InitialOutputLogVariance = Options.InitialOutputLogVariance };

    private protected override GenerativeObjective CreateObjective(nn.Module network, Generator noise, ulong evaluationSeed)
        => new VaeObjective((VaeNetwork)network, Options, noise, evaluationSeed, _reconstruction);

    private protected override string Describe(nn.Module network)
    {
        var a = ((VaeNetwork)network).Architecture;
        return $"a {a.InputDimension}-{string.Join("-", a.HiddenLayerSizes.Append(a.LatentDimension))} {(a.ConditionWidth > 0 ? "conditional VAE" : "VAE")} ({a.Likelihood} likelihood)";
    }

    private protected override VariationalAutoencoderTransformer CreateTransformer(nn.Module network, IReadOnlyList<EpochSummary> history)
        => CreateTransformer(network, history, null);

    private protected override VariationalAutoencoderTransformer CreateTransformer(nn.Module network, IReadOnlyList<EpochSummary> history,
        ConditionEncoding? condition)
        => new(Host, (VaeNetwork)network, Options.FeatureColumnName, Options.FixedStandardDeviation,
            Options.LatentColumnName, Options.ReconstructionColumnName, Options.ScoreColumnName, history, condition);

    private static string? CheckUnitInterval(ReadOnlySpan<float> row)
    {
        int i = FeatureRowReader.IndexOutside(row, 0f, 1f);
        return i < 0 ? null
            : $"value {row[i]} at slot {i} is outside [0, 1], which the Bernoulli likelihood needs. Scale the features into [0, 1] "
              + "(mlContext.Transforms.NormalizeMinMax with fixZero: false; the default fixZero: true keeps negative values negative), "
              + "or use Likelihood = VaeLikelihood.GaussianLearnedVariance for real-valued data.";
    }
}
