using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Generative.Losses;
using Microsoft.ML.Generative.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Vae;

/// <summary>
/// The VAE's training objective, the negative ELBO: reconstruction NLL + β·KL(q(z|x) ‖ N(0, I))
/// (Kingma and Welling, 2014), with optional KL warm-up and free bits.
/// </summary>
/// <summary>
/// A reconstruction term other than the <see cref="VaeLikelihood"/> ones: −log p(x|z) per row, [B], from the decoder
/// output <c>decoded</c> [B, D] and the rows <c>x</c> [B, D] (e.g. the tabular synthesizer's per-column likelihoods).
/// </summary>
internal delegate Tensor VaeReconstruction(VaeNetwork network, Tensor decoded, Tensor x);

internal sealed class VaeObjective : GenerativeObjective
{
    internal static readonly string[] Names = { "Loss", "Reconstruction", "Kl" };
    private readonly VaeNetwork _network;
    private readonly FlatAdam _optimizer;
    private readonly Generator _noise;
    // Validation draws its own noise, reset before every pass: turning validation on does not change the trained
    // model, and epochs are compared on the same draws.
    private readonly Generator _evaluationNoise;
    private readonly ulong _evaluationSeed;
    private readonly double _beta;
    private readonly int _warmupEpochs;
    private readonly double _freeBits;
    private readonly double _sigma;
    private readonly VaeReconstruction? _reconstruction;
    private readonly VaeTrainingStep? _handWritten;

    /// <param name="network">The network to train.</param>
    /// <param name="options">β, warm-up, free bits, optimizer settings.</param>
    /// <param name="noise">The reparameterization noise of training.</param>
    /// <param name="evaluationSeed">Seed of validation's own noise.</param>
    /// <param name="reconstruction">Replaces the likelihood's reconstruction term when given (training and evaluation).</param>
    public VaeObjective(VaeNetwork network, VariationalAutoencoderOptions options, Generator noise, ulong evaluationSeed,
        VaeReconstruction? reconstruction = null)
    {
        _reconstruction = reconstruction;
        _network = network;
        _noise = noise;
        _evaluationSeed = evaluationSeed;
        _evaluationNoise = new Generator(evaluationSeed);
        _beta = options.Beta;
        _warmupEpochs = options.KlWarmupEpochs;
        _freeBits = options.FreeBits;
        _sigma = options.FixedStandardDeviation;
        GradientClipNorm = options.GradientClipNorm;
        LearningRate = options.LearningRate;
        FeatureColumnName = options.FeatureColumnName;
        _optimizer = CreateAdam(network.parameters(), options.Optimizer, options.LearningRate, options.Beta1, options.Beta2, options.WeightDecay);
        _handWritten = UseHandWrittenStep ? VaeTrainingStep.TryCreate(network, options, reconstruction is not null, _optimizer) : null;
    }

    /// <summary>
    /// Whether models in the form <see cref="VaeTrainingStep"/> covers train through it (true) or through autograd;
    /// a switch for tests and benchmarks that compare the two.
    /// </summary>
    internal static bool UseHandWrittenStep { get; set; } = true;

    /// <summary>Whether this objective trains through the hand-written step.</summary>
    internal bool HandWritten => _handWritten is not null;

    public override IReadOnlyList<string> LossNames => Names;

    public override nn.Module Model => _network;

    public override int FirstComparableEpoch => _warmupEpochs + 1;

    public override void BeginEvaluation() => _evaluationNoise.manual_seed((long)_evaluationSeed);

    public override Tensor TrainStep(Tensor batch, StepInfo step)
    {
        double beta = _beta;
        if (_warmupEpochs > 0)
            beta *= Math.Min(1.0, (double)step.GlobalStep / ((long)_warmupEpochs * step.BatchesPerEpoch));
        if (_handWritten is not null && Distributed is null && batch.dtype == ScalarType.Float32)
        {
            // The same noise draw as the autograd path below, so both train the same model up to rounding.
            using var noise = RowNoise(step, batch.shape[0], n => randn(new[] { n, (long)_network.Architecture.LatentDimension }, dtype: batch.dtype, device: batch.device, generator: _noise));
            var (loss, reconstructionMean, klMean) = _handWritten.Run(batch, noise, beta);
            OptimizerStepWithGradients(_optimizer, loss, step, "negative ELBO");
            return tensor(new[] { (float)loss, (float)reconstructionMean, (float)klMean });
        }
        // Rows [B, D + C] of a conditional model: the encoder sees all of it, the likelihood the features only.
        var (mu, logVar) = _network.Encode(batch);                                 // [B, L] each
        var (x, c) = _network.Split(batch);
        // ε for this step's rows (in data-parallel training: this rank's slice of the global batch's draw).
        var eps = RowNoise(step, mu.shape[0], n => randn(new[] { n, mu.shape[1] }, dtype: mu.dtype, device: mu.device, generator: _noise));
        Tensor decoded;
        using (var std = logVar.mul(0.5).exp_())
        using (var z = eps.mul_(std).add_(mu))                                     // z = μ + σ·ε
            decoded = _network.Decode(z, c);
        var reconstruction = Reconstruction(decoded, x);                          // [B]
        using var elbo = VaeLosses.Elbo(reconstruction, mu, logVar, beta, LossReduction.Mean, _freeBits);
        OptimizerStep(_optimizer, elbo.Loss, step, "negative ELBO");
        return stack(new[] { elbo.Loss, elbo.Reconstruction, elbo.Kl }).detach();
    }

    /// <summary>The model's negative ELBO with the configured β (no warm-up, no free bits), one noise sample per row.</summary>
    public override Tensor EvaluateBatch(Tensor batch)
    {
        var (decoded, mu, logVar) = _network.Forward(batch, _evaluationNoise);
        var reconstruction = Reconstruction(decoded, _network.Split(batch).X);
        using var elbo = VaeLosses.Elbo(reconstruction, mu, logVar, _beta, LossReduction.Mean);
        return stack(new[] { elbo.Loss, elbo.Reconstruction, elbo.Kl });
    }

    private Tensor Reconstruction(Tensor decoded, Tensor x)
        => _reconstruction is null ? ReconstructionNll(_network, decoded, x, _sigma) : _reconstruction(_network, decoded, x);

    /// <summary>−log p(x|z) per row, [B], for the network's likelihood; <paramref name="decoded"/> is the decoder output.</summary>
    public static Tensor ReconstructionNll(VaeNetwork network, Tensor decoded, Tensor x, double sigma)
        => network.Architecture.Likelihood switch
        {
            // Rows were checked to lie in [0, 1] once in the data path (RowCheck), and scoring maps rows outside it to +∞:
            // no per-step device synchronization for the target's range.
            VaeLikelihood.Bernoulli => VaeLosses.BernoulliNllWithLogitsUnchecked(decoded, x, LossReduction.None),
            VaeLikelihood.GaussianLearnedVariance => VaeLosses.GaussianNll(decoded, network.OutputLogVar!.clamp_min(VaeNetwork.MinimumLogVariance), x, LossReduction.None),
            _ => VaeLosses.GaussianNll(decoded, x, sigma, LossReduction.None),
        };

    public override void Dispose()
    {
        _optimizer.Dispose();
        _evaluationNoise.Dispose();
    }
}
