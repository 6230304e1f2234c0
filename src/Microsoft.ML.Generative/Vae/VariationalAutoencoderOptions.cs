using System;
using System.Linq;
using Microsoft.ML.Generative.Training;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Generative.Vae;

/// <summary>How the decoder models a feature given the latent code: the reconstruction term of the ELBO.</summary>
public enum VaeLikelihood
{
    /// <summary>
    /// Independent Bernoulli per feature, decoder outputs logits; for data in [0, 1] (binary or intensities such as
    /// pixels). Reconstruction = binary cross-entropy.
    /// </summary>
    Bernoulli,

    /// <summary>
    /// Independent Gaussian per feature with a learned per-feature variance (floored at σ = 0.01); for real-valued
    /// data (normalize it). Reconstruction = full Gaussian negative log-likelihood, ½·log 2π included.
    /// </summary>
    GaussianLearnedVariance,

    /// <summary>
    /// Independent Gaussian per feature with the fixed standard deviation
    /// <see cref="VariationalAutoencoderOptions.FixedStandardDeviation"/>.
    /// </summary>
    GaussianFixedVariance,
}

/// <summary>Hidden-layer nonlinearity.</summary>
public enum VaeActivation
{
    /// <summary>max(0, x).</summary>
    Relu,

    /// <summary>x·σ(x) (also called Swish).</summary>
    Silu,

    /// <summary>Hyperbolic tangent.</summary>
    Tanh,

    /// <summary>Gaussian error linear unit.</summary>
    Gelu,

    /// <summary>max(0.01·x, x).</summary>
    LeakyRelu,
}

/// <summary>Options of <see cref="VariationalAutoencoderEstimator"/>. Training settings are inherited.</summary>
public sealed class VariationalAutoencoderOptions : GenerativeTrainerOptions
{
    /// <summary>VAE defaults.</summary>
    public static new class Defaults
    {
        /// <summary>Default for <see cref="LatentDimension"/>.</summary>
        public const int LatentDimension = 20;

        /// <summary>Default for <see cref="LatentColumnName"/>.</summary>
        public const string LatentColumnName = "Latent";

        /// <summary>Default for <see cref="ReconstructionColumnName"/>.</summary>
        public const string ReconstructionColumnName = "Reconstruction";

        /// <summary>Default for <see cref="ScoreColumnName"/>.</summary>
        public const string ScoreColumnName = "Score";
    }

    /// <summary>Size of the latent code z. Default 20.</summary>
    public int LatentDimension { get; set; } = Defaults.LatentDimension;

    /// <summary>
    /// Hidden layer sizes of the encoder, input to latent; the decoder mirrors them. Default <c>[400]</c>.
    /// An empty array gives linear encoder and decoder.
    /// </summary>
    public int[] HiddenLayerSizes { get; set; } = new[] { 400 };

    /// <summary>Hidden-layer nonlinearity. Default <see cref="VaeActivation.Relu"/>.</summary>
    public VaeActivation Activation { get; set; } = VaeActivation.Relu;

    /// <summary>
    /// The reconstruction likelihood. Default <see cref="VaeLikelihood.Bernoulli"/>, which needs features in [0, 1]
    /// (use <c>NormalizeMinMax(..., fixZero: false)</c>: with the default <c>fixZero: true</c> negative values
    /// stay negative); use a Gaussian for other real-valued data. At scoring, a row with a value outside [0, 1] has
    /// probability 0 under this likelihood: its score is +∞.
    /// </summary>
    public VaeLikelihood Likelihood { get; set; } = VaeLikelihood.Bernoulli;

    /// <summary>σ of <see cref="VaeLikelihood.GaussianFixedVariance"/>. Default 1.</summary>
    public double FixedStandardDeviation { get; set; } = 1.0;

    /// <summary>
    /// Weight β of the KL term (β-VAE, Higgins et al. 2017): loss = reconstruction + β·KL. Default 1, the true
    /// negative ELBO.
    /// </summary>
    public double Beta { get; set; } = 1.0;

    /// <summary>
    /// Epochs over which the KL weight rises linearly from 0 to <see cref="Beta"/>, step by step (KL annealing,
    /// Bowman et al. 2016). Default 0: the full weight from the start.
    /// </summary>
    public int KlWarmupEpochs { get; set; }

    /// <summary>
    /// Free bits λ (Kingma et al. 2016): each latent dimension's batch-mean KL counts at least λ nats in the training
    /// loss, which keeps latent dimensions from collapsing. Default 0: off.
    /// </summary>
    public double FreeBits { get; set; }

    /// <summary>
    /// The column a conditional VAE (CVAE; Sohn, Lee and Yan 2015, "Learning Structured Output Representation using
    /// Deep Conditional Generative Models") is conditioned on, or <see langword="null"/> (the default) for an
    /// unconditional model. A key column (a categorical condition, such as a class from <c>MapValueToKey</c>; at most
    /// 10,000 values) is one-hot encoded; a known-size vector of <see cref="float"/> is used as it is. The condition c
    /// goes into the encoder q(z | x, c) and the decoder p(x | z, c); the prior stays N(0, I). <c>Transform</c> reads
    /// each row's condition (a missing key gives NaN outputs), and <c>Sample(count, condition, seed)</c> draws rows
    /// given one. A row whose condition is missing fails <c>Fit</c> (or is skipped with
    /// <see cref="GenerativeTrainerOptions.SkipRowsWithNonFiniteValues"/>).
    /// </summary>
    public string? ConditionColumnName { get; set; }

    internal override string? ConditionColumn => ConditionColumnName;

    /// <summary>Output column of the posterior mean E[z|x], a vector of <see cref="LatentDimension"/> floats.</summary>
    public string LatentColumnName { get; set; } = Defaults.LatentColumnName;

    /// <summary>Output column of the decoder mean at z = E[z|x] (probabilities for Bernoulli), same size as the input.</summary>
    public string ReconstructionColumnName { get; set; } = Defaults.ReconstructionColumnName;

    /// <summary>Output column of the per-row negative ELBO in nats (higher = more anomalous).</summary>
    public string ScoreColumnName { get; set; } = Defaults.ScoreColumnName;

    /// <summary>Starting value of the learned output log σ² (see <see cref="VaeArchitecture.InitialOutputLogVariance"/>); internal.</summary>
    internal double InitialOutputLogVariance { get; set; }

    internal override void Check(IExceptionContext ectx)
    {
        base.Check(ectx);
        ectx.CheckUserArg(LatentDimension > 0, nameof(LatentDimension), $"Must be positive; got {LatentDimension}.");
        ectx.CheckUserArg(HiddenLayerSizes is not null, nameof(HiddenLayerSizes), "Must not be null; use an empty array for a linear model.");
        ectx.CheckUserArg(HiddenLayerSizes!.All(h => h > 0), nameof(HiddenLayerSizes), $"Every size must be positive; got [{string.Join(", ", HiddenLayerSizes!)}].");
        ectx.CheckUserArg(Enum.IsDefined(Activation), nameof(Activation), $"Unknown activation {(int)Activation}.");
        ectx.CheckUserArg(Enum.IsDefined(Likelihood), nameof(Likelihood), $"Unknown likelihood {(int)Likelihood}.");
        ectx.CheckUserArg(FixedStandardDeviation > 0 && double.IsFinite(FixedStandardDeviation), nameof(FixedStandardDeviation), $"Must be a positive finite number; got {FixedStandardDeviation}.");
        ectx.CheckUserArg(Beta >= 0 && double.IsFinite(Beta), nameof(Beta), $"Must be non-negative and finite; got {Beta}.");
        ectx.CheckUserArg(KlWarmupEpochs >= 0, nameof(KlWarmupEpochs), $"Must be non-negative (0 = off); got {KlWarmupEpochs}.");
        ectx.CheckUserArg(FreeBits >= 0 && double.IsFinite(FreeBits), nameof(FreeBits), $"Must be non-negative (0 = off); got {FreeBits}.");
        foreach (var (name, value) in new[] { (nameof(LatentColumnName), LatentColumnName), (nameof(ReconstructionColumnName), ReconstructionColumnName), (nameof(ScoreColumnName), ScoreColumnName) })
            ectx.CheckUserArg(!string.IsNullOrWhiteSpace(value), name, "Must name a column.");
        ectx.CheckUserArg(new[] { LatentColumnName, ReconstructionColumnName, ScoreColumnName }.Distinct().Count() == 3,
            nameof(LatentColumnName), $"The output columns need three different names; got '{LatentColumnName}', '{ReconstructionColumnName}', '{ScoreColumnName}'.");
    }
}
