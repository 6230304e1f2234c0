using System;
using System.Linq;
using Microsoft.ML.Generative.Losses;
using Microsoft.ML.Generative.Training;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Generative.Gan;

/// <summary>Hidden-layer nonlinearity of the generator and the discriminator.</summary>
public enum GanActivation
{
    /// <summary>max(0.2·x, x): the usual GAN choice (Radford et al. 2016, "DCGAN"), slope 0.2.</summary>
    LeakyRelu,

    /// <summary>max(0, x).</summary>
    Relu,

    /// <summary>x·σ(x) (also called Swish).</summary>
    Silu,

    /// <summary>Gaussian error linear unit.</summary>
    Gelu,

    /// <summary>Hyperbolic tangent.</summary>
    Tanh,
}

/// <summary>How the generator's output is mapped to the units of the feature column.</summary>
public enum GanOutputScaling
{
    /// <summary>
    /// The estimator learns each feature's range [min_j, max_j] from the training data and maps it onto [−1, 1]:
    /// x̃_j = (x_j − c_j) / h_j with c_j = (min_j + max_j)/2, h_j = (max_j − min_j)/2 (h_j = 0 for a constant feature,
    /// which then maps to 0 and comes back exactly as c_j). The generator ends in tanh, so its rows map back into the
    /// observed range: <c>Sample</c> returns rows in the column's own units, whatever they are (pixels in [0, 1],
    /// standardized or raw tabular values). The discriminator sees the mapped rows. The map is saved with the model.
    /// </summary>
    MinMax,

    /// <summary>
    /// No map: the data is used as it is and the generator's last layer is linear (no tanh). For data that is
    /// already standardized and whose extremes matter (heavy tails), at the price of unbounded samples.
    /// </summary>
    None,
}

/// <summary>How a conditional GAN's discriminator takes the condition (see <see cref="GenerativeAdversarialNetworkOptions.ConditionColumnName"/>).</summary>
public enum DiscriminatorConditioning
{
    /// <summary>
    /// The projection discriminator (Miyato and Koyama 2018, "cGANs with Projection Discriminator", eq. 3):
    /// D(x, c) = ψ(φ(x)) + (V c)ᵀ φ(x), where φ is D's hidden layers, ψ its output layer and V a learned
    /// C × H matrix (for a one-hot class, a learned class embedding). Usually gives samples that match their class
    /// more closely than concatenation.
    /// </summary>
    Projection,

    /// <summary>
    /// The condition is concatenated to D's input, D([x, c]) (Mirza and Osindero 2014, "Conditional Generative
    /// Adversarial Nets"); the form CTGAN uses.
    /// </summary>
    Concatenation,
}

/// <summary>
/// Options of <see cref="GenerativeAdversarialNetworkEstimator"/>. Training settings (epochs, batch size, optimizer,
/// validation, seed, progress, cancellation) are inherited; the GAN defaults differ from the shared ones in two
/// places: <see cref="GenerativeTrainerOptions.LearningRate"/> is 2e-4 and <see cref="GenerativeTrainerOptions.Beta1"/>
/// is 0.5 (Radford et al. 2016).
/// </summary>
/// <remarks>
/// <para>Each training step takes one batch of real rows x (mapped by <see cref="OutputScaling"/>) and noise
/// z ~ N(0, I) of <see cref="LatentDimension"/> values per row. The discriminator (critic) D takes one Adam step on
/// L_D = DiscriminatorLoss(D(x), D(G(z))) + λ·GP + R1; every <see cref="CriticStepsPerGeneratorStep"/>-th step the
/// generator then takes one Adam step on L_G = GeneratorLoss(D(G(z′))) with fresh noise z′. The loss kinds and their
/// formulas are those of <see cref="AdversarialLoss"/> (Goodfellow et al. 2014; Arjovsky et al. 2017; Lim &amp; Ye
/// 2017; Mao et al. 2017).</para>
/// </remarks>
public sealed class GenerativeAdversarialNetworkOptions : GenerativeTrainerOptions
{
    /// <summary>GAN defaults.</summary>
    public static new class Defaults
    {
        /// <summary>Default for <see cref="LatentDimension"/>.</summary>
        public const int LatentDimension = 64;

        /// <summary>Default for <see cref="GenerativeTrainerOptions.LearningRate"/> of a GAN (both networks).</summary>
        public const double LearningRate = 2e-4;

        /// <summary>Default for <see cref="GenerativeTrainerOptions.Beta1"/> of a GAN.</summary>
        public const double Beta1 = 0.5;

        /// <summary>Default for <see cref="GeneratorEmaDecay"/>.</summary>
        public const double GeneratorEmaDecay = 0.999;

        /// <summary>Default gradient-penalty weight λ with <see cref="AdversarialLoss.Wasserstein"/> (Gulrajani et al. 2017).</summary>
        public const double WassersteinGradientPenaltyWeight = 10.0;

        /// <summary>Default n_critic with <see cref="AdversarialLoss.Wasserstein"/> (Gulrajani et al. 2017).</summary>
        public const int WassersteinCriticSteps = 5;

        /// <summary>Default for <see cref="DiscriminatorScoreColumnName"/>.</summary>
        public const string DiscriminatorScoreColumnName = "DiscriminatorScore";

        /// <summary>Default for <see cref="DivergencePatience"/>.</summary>
        public const int DivergencePatience = 10;
    }

    /// <summary>Creates the options with the GAN defaults (learning rate 2e-4, Adam β₁ = 0.5).</summary>
    public GenerativeAdversarialNetworkOptions()
    {
        LearningRate = Defaults.LearningRate;
        Beta1 = Defaults.Beta1;
    }

    /// <summary>Size of the noise vector z ~ N(0, I) the generator maps to a row. Default 64.</summary>
    public int LatentDimension { get; set; } = Defaults.LatentDimension;

    /// <summary>Hidden layer sizes of the generator, from z to the output. Default <c>[256, 512]</c>.</summary>
    public int[] GeneratorHiddenLayerSizes { get; set; } = { 256, 512 };

    /// <summary>Hidden layer sizes of the discriminator, from the input to its single output. Default <c>[512, 256]</c>.</summary>
    public int[] DiscriminatorHiddenLayerSizes { get; set; } = { 512, 256 };

    /// <summary>Hidden-layer nonlinearity of both networks. Default <see cref="GanActivation.LeakyRelu"/> (slope 0.2).</summary>
    public GanActivation Activation { get; set; } = GanActivation.LeakyRelu;

    /// <summary>The adversarial objective. Default <see cref="AdversarialLoss.NonSaturating"/>.</summary>
    public AdversarialLoss Loss { get; set; } = AdversarialLoss.NonSaturating;

    /// <summary>
    /// Discriminator (critic) steps per generator step, n_critic. Default <see langword="null"/>: 5 with
    /// <see cref="AdversarialLoss.Wasserstein"/> (WGAN-GP, Gulrajani et al. 2017), 1 otherwise. Each critic step uses
    /// the next training batch; the generator steps after every n_critic-th batch.
    /// </summary>
    public int? CriticStepsPerGeneratorStep { get; set; }

    /// <summary>Adam step size of the generator; <see langword="null"/> (default) uses <see cref="GenerativeTrainerOptions.LearningRate"/>. Different rates for G and D are the two time-scale update rule (TTUR, Heusel et al. 2017).</summary>
    public double? GeneratorLearningRate { get; set; }

    /// <summary>Adam step size of the discriminator; <see langword="null"/> (default) uses <see cref="GenerativeTrainerOptions.LearningRate"/>.</summary>
    public double? DiscriminatorLearningRate { get; set; }

    /// <summary>
    /// Weight λ of the WGAN-GP gradient penalty λ·E[(‖∇D(x̂)‖₂ − 1)²] on interpolates x̂ of real and generated rows
    /// (Gulrajani et al. 2017). Default <see langword="null"/>: 10 with <see cref="AdversarialLoss.Wasserstein"/>
    /// (unless <see cref="SpectralNormalization"/> is on, which already bounds the critic), 0 otherwise.
    /// </summary>
    public double? GradientPenaltyWeight { get; set; }

    /// <summary>
    /// Weight γ of the R1 penalty (γ/2)·E[‖∇D(x)‖₂²] on real rows (Mescheder et al. 2018); 10 is common. Default 0: off.
    /// </summary>
    public double R1Weight { get; set; }

    /// <summary>
    /// Spectral normalization of every discriminator layer (Miyato et al. 2018): W is divided by an estimate of its
    /// largest singular value, refined by one power iteration per training forward pass, so each layer is about
    /// 1-Lipschitz. Default <see langword="false"/>.
    /// </summary>
    public bool SpectralNormalization { get; set; }

    /// <summary>Dropout probability after each hidden layer of the discriminator, in [0, 1). Default 0: off.</summary>
    public double DiscriminatorDropout { get; set; }

    /// <summary>
    /// One-sided label smoothing s (Salimans et al. 2016): the discriminator's target for real rows is 1 − s instead
    /// of 1, i.e. its real term is (1 − s)·softplus(−r) + s·softplus(r). In [0, 0.5); only for the cross-entropy losses
    /// (<see cref="AdversarialLoss.Minimax"/>, <see cref="AdversarialLoss.NonSaturating"/>). Default 0: off.
    /// </summary>
    public double LabelSmoothing { get; set; }

    /// <summary>How generated rows are mapped to the feature column's units. Default <see cref="GanOutputScaling.MinMax"/>.</summary>
    public GanOutputScaling OutputScaling { get; set; } = GanOutputScaling.MinMax;

    /// <summary>
    /// Decay β of the exponential moving average of the generator's weights, θ_EMA ← β·θ_EMA + (1 − β)·θ after each
    /// generator step (Yazıcı et al. 2019, "The Unusual Effectiveness of Averaging in GAN Training"; Karras et al.
    /// 2018). Sampling uses the averaged generator. Early steps use min(β, (1 + t)/(10 + t)) at generator step t, so
    /// a short run is not dominated by the random initial weights. In [0, 1); 0 turns it off. Default 0.999.
    /// </summary>
    public double GeneratorEmaDecay { get; set; } = Defaults.GeneratorEmaDecay;

    /// <summary>
    /// Divergence checks: when the discriminator loss stays below 1e-3 (it wins outright) for this many consecutive
    /// epochs, or when the trained generator's samples have almost no variance (mode collapse: their mean per-feature
    /// standard deviation is below 5% of the data's), <c>Fit</c> fails with advice instead of returning a useless
    /// model. A non-finite loss always fails. Default 10; 0 turns the two checks off.
    /// </summary>
    public int DivergencePatience { get; set; } = Defaults.DivergencePatience;

    /// <summary>
    /// Rows generated for the validation Fréchet distance each epoch: the validation rows' count, capped at this.
    /// Default 10,000.
    /// </summary>
    public int MaximumValidationSamples { get; set; } = 10_000;

    /// <summary>
    /// The column a conditional GAN is conditioned on, or <see langword="null"/> (the default) for an unconditional
    /// model. A key column (a categorical condition such as a class, from <c>MapValueToKey</c>; at most 10,000
    /// values) is one-hot encoded; a known-size vector of <see cref="float"/> is used as it is. The generator takes
    /// [z, c] (Mirza and Osindero 2014); the discriminator takes c as <see cref="DiscriminatorConditioning"/> says;
    /// in training the fake rows of a batch are generated with the real rows' conditions. <c>Transform</c> scores
    /// each row given its own condition (a missing key gives NaN); <c>Sample(count, condition, seed)</c> draws rows
    /// given one. A row whose condition is missing fails <c>Fit</c> (or is skipped with
    /// <see cref="GenerativeTrainerOptions.SkipRowsWithNonFiniteValues"/>).
    /// </summary>
    public string? ConditionColumnName { get; set; }

    /// <summary>How the discriminator of a conditional GAN takes the condition. Default <see cref="DiscriminatorConditioning.Projection"/>.</summary>
    public DiscriminatorConditioning DiscriminatorConditioning { get; set; } = DiscriminatorConditioning.Projection;

    internal override string? ConditionColumn => ConditionColumnName;

    /// <summary>PacGAN's pack size (see <see cref="GanArchitecture.Pac"/>); set by CTGAN. Default 1: no packing.</summary>
    internal int Pac { get; set; } = 1;

    /// <summary>CTGAN's residual generator with BatchNorm (see <see cref="GanArchitecture.ResidualGenerator"/>). Default false.</summary>
    internal bool ResidualGenerator { get; set; }

    /// <summary>Output column of <c>Transform</c>: the discriminator's raw output (realness logit) per row.</summary>
    public string DiscriminatorScoreColumnName { get; set; } = Defaults.DiscriminatorScoreColumnName;

    internal int EffectiveCriticSteps => CriticStepsPerGeneratorStep ?? (Loss == AdversarialLoss.Wasserstein ? Defaults.WassersteinCriticSteps : 1);

    internal double EffectiveGradientPenaltyWeight
        => GradientPenaltyWeight ?? (Loss == AdversarialLoss.Wasserstein && !SpectralNormalization ? Defaults.WassersteinGradientPenaltyWeight : 0);

    internal double EffectiveGeneratorLearningRate => GeneratorLearningRate ?? LearningRate;

    internal double EffectiveDiscriminatorLearningRate => DiscriminatorLearningRate ?? LearningRate;

    internal override void Check(IExceptionContext ectx)
    {
        base.Check(ectx);
        ectx.CheckUserArg(LatentDimension > 0, nameof(LatentDimension), $"Must be positive; got {LatentDimension}.");
        CheckLayers(ectx, GeneratorHiddenLayerSizes, nameof(GeneratorHiddenLayerSizes));
        CheckLayers(ectx, DiscriminatorHiddenLayerSizes, nameof(DiscriminatorHiddenLayerSizes));
        ectx.CheckUserArg(Enum.IsDefined(Activation), nameof(Activation), $"Unknown activation {(int)Activation}.");
        ectx.CheckUserArg(Enum.IsDefined(Loss), nameof(Loss), $"Unknown adversarial loss {(int)Loss}.");
        ectx.CheckUserArg(Enum.IsDefined(OutputScaling), nameof(OutputScaling), $"Unknown output scaling {(int)OutputScaling}.");
        ectx.CheckUserArg(Enum.IsDefined(DiscriminatorConditioning), nameof(DiscriminatorConditioning), $"Unknown discriminator conditioning {(int)DiscriminatorConditioning}.");
        ectx.CheckUserArg(CriticStepsPerGeneratorStep is null or >= 1, nameof(CriticStepsPerGeneratorStep),
            $"Must be at least 1 (one discriminator step per generator step); got {CriticStepsPerGeneratorStep}.");
        ectx.CheckUserArg(GeneratorLearningRate is null || (GeneratorLearningRate > 0 && double.IsFinite(GeneratorLearningRate.Value)),
            nameof(GeneratorLearningRate), $"Must be a positive finite number (or null for LearningRate); got {GeneratorLearningRate}.");
        ectx.CheckUserArg(DiscriminatorLearningRate is null || (DiscriminatorLearningRate > 0 && double.IsFinite(DiscriminatorLearningRate.Value)),
            nameof(DiscriminatorLearningRate), $"Must be a positive finite number (or null for LearningRate); got {DiscriminatorLearningRate}.");
        ectx.CheckUserArg(GradientPenaltyWeight is null || (GradientPenaltyWeight >= 0 && double.IsFinite(GradientPenaltyWeight.Value)),
            nameof(GradientPenaltyWeight), $"Must be non-negative and finite (0 = off, null = 10 with Wasserstein); got {GradientPenaltyWeight}.");
        ectx.CheckUserArg(R1Weight >= 0 && double.IsFinite(R1Weight), nameof(R1Weight), $"Must be non-negative and finite (0 = off); got {R1Weight}.");
        ectx.CheckUserArg(DiscriminatorDropout >= 0 && DiscriminatorDropout < 1, nameof(DiscriminatorDropout), $"Must be in [0, 1); got {DiscriminatorDropout}.");
        ectx.CheckUserArg(LabelSmoothing >= 0 && LabelSmoothing < 0.5, nameof(LabelSmoothing), $"Must be in [0, 0.5) (0 = off; 0.1 is usual); got {LabelSmoothing}.");
        ectx.CheckUserArg(LabelSmoothing == 0 || Loss is AdversarialLoss.NonSaturating or AdversarialLoss.Minimax, nameof(LabelSmoothing),
            $"Label smoothing softens the cross-entropy target of real rows, so it applies to the Minimax and NonSaturating losses only; "
            + $"Loss is {Loss}. Set LabelSmoothing = 0, or use Loss = AdversarialLoss.NonSaturating.");
        ectx.CheckUserArg(GeneratorEmaDecay >= 0 && GeneratorEmaDecay < 1, nameof(GeneratorEmaDecay), $"Must be in [0, 1) (0 = off); got {GeneratorEmaDecay}.");
        ectx.CheckUserArg(DivergencePatience >= 0, nameof(DivergencePatience), $"Must be non-negative (0 = off); got {DivergencePatience}.");
        ectx.CheckUserArg(MaximumValidationSamples > 1, nameof(MaximumValidationSamples), $"Must be at least 2; got {MaximumValidationSamples}.");
        ectx.CheckUserArg(!string.IsNullOrWhiteSpace(DiscriminatorScoreColumnName), nameof(DiscriminatorScoreColumnName), "Must name a column.");
        ectx.CheckUserArg(Pac >= 1, nameof(Pac), $"Must be at least 1; got {Pac}.");
        ectx.CheckUserArg(Pac == 1 || (BatchSize % Pac == 0 && (ConditionColumnName is null || DiscriminatorConditioning == DiscriminatorConditioning.Concatenation)),
            nameof(Pac), $"Packs of {Pac} rows need a BatchSize that is a multiple of {Pac} (got {BatchSize}) and, for a conditional model, concatenation conditioning.");
        ectx.CheckUserArg(!ResidualGenerator || GeneratorEmaDecay == 0, nameof(GeneratorEmaDecay),
            "The residual generator's BatchNorm statistics are not averaged: set GeneratorEmaDecay = 0.");
        // The Wasserstein critic loss f − r is only a distance estimate for a (roughly) 1-Lipschitz critic; without a
        // constraint it grows without bound and training diverges (Arjovsky et al. 2017; Gulrajani et al. 2017).
        ectx.CheckUserArg(Loss != AdversarialLoss.Wasserstein || EffectiveGradientPenaltyWeight > 0 || SpectralNormalization,
            nameof(GradientPenaltyWeight),
            "The Wasserstein loss needs a Lipschitz constraint on the critic, or its scores grow without bound and training diverges. "
            + "Set GradientPenaltyWeight to a positive value (10 is the WGAN-GP default; null chooses it), or set SpectralNormalization = true.");
    }

    private static void CheckLayers(IExceptionContext ectx, int[]? sizes, string name)
    {
        ectx.CheckUserArg(sizes is not null, name, "Must not be null; use an empty array for a single linear layer.");
        ectx.CheckUserArg(sizes!.All(h => h > 0), name, $"Every size must be positive; got [{string.Join(", ", sizes!)}].");
    }
}
