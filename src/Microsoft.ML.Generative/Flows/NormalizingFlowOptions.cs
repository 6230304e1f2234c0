using System;
using System.Linq;
using Microsoft.ML.Generative.Training;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Generative.Flows;

/// <summary>The kind of invertible layer a normalizing flow stacks.</summary>
public enum FlowArchitecture
{
    /// <summary>
    /// RealNVP (Dinh, Sohl-Dickstein and Bengio 2017): affine coupling layers with alternating masks; a conditioner
    /// MLP sees the kept features and gives a log-scale (soft-clamped to ±3) and a shift for the others. Fast in both
    /// directions. Needs at least 2 features.
    /// </summary>
    RealNvp,

    /// <summary>
    /// Masked autoregressive flow (Papamakarios, Pavlakou and Murray 2017): each feature is shifted and scaled by a
    /// MADE network of the features before it; the order is reversed between layers. Density evaluation is one
    /// pass; sampling is sequential (one pass per feature).
    /// </summary>
    MaskedAutoregressive,

    /// <summary>
    /// Neural spline flow (Durkan, Bekasov, Murray and Papamakarios 2019): rational-quadratic spline couplings with
    /// <see cref="NormalizingFlowOptions.NumberOfBins"/> bins on [−B, B] and identity tails outside
    /// (B = <see cref="NormalizingFlowOptions.SplineTailBound"/>). With one feature, elementwise splines. The default.
    /// </summary>
    NeuralSpline,
}

/// <summary>
/// Options of <see cref="NormalizingFlowEstimator"/>. Training settings (epochs, batch size, learning rate,
/// validation, early stopping, seed, progress, cancellation) are inherited from <see cref="GenerativeTrainerOptions"/>.
/// </summary>
/// <remarks>
/// The map from a row x to the base space is, in order: dequantization (<see cref="Dequantize"/>), the logit
/// transform (<see cref="LogitTransform"/>), standardization (<see cref="Standardize"/>), then the
/// <see cref="NumberOfLayers"/> flow layers. Every step's log-determinant enters the reported log-likelihood, which
/// is therefore in the original units of the input column.
/// </remarks>
public sealed class NormalizingFlowOptions : GenerativeTrainerOptions
{
    /// <summary>Flow defaults.</summary>
    public static new class Defaults
    {
        /// <summary>Default for <see cref="Architecture"/>.</summary>
        public const FlowArchitecture Architecture = FlowArchitecture.NeuralSpline;

        /// <summary>Default for <see cref="NumberOfLayers"/>.</summary>
        public const int NumberOfLayers = 8;

        /// <summary>Default for <see cref="NumberOfBins"/>.</summary>
        public const int NumberOfBins = 8;

        /// <summary>Default for <see cref="SplineTailBound"/>.</summary>
        public const double SplineTailBound = 3.0;

        /// <summary>Default for <see cref="DequantizationSamples"/>.</summary>
        public const int DequantizationSamples = 10;

        /// <summary>Default for <see cref="LogitAlpha"/>.</summary>
        public const double LogitAlpha = 0.05;

        /// <summary>Default for <see cref="LogLikelihoodColumnName"/>.</summary>
        public const string LogLikelihoodColumnName = "LogLikelihood";

        /// <summary>Default for <see cref="ScoreColumnName"/>.</summary>
        public const string ScoreColumnName = "Score";

        /// <summary>Default for <see cref="LatentColumnName"/>.</summary>
        public const string LatentColumnName = "Latent";
    }

    /// <summary>The layer type. Default <see cref="FlowArchitecture.NeuralSpline"/>.</summary>
    public FlowArchitecture Architecture { get; set; } = Defaults.Architecture;

    /// <summary>Number of flow layers (couplings or autoregressive layers). Default 8.</summary>
    public int NumberOfLayers { get; set; } = Defaults.NumberOfLayers;

    /// <summary>
    /// Hidden layer sizes of each layer's conditioner MLP (ReLU). Default <c>[128, 128]</c>. An empty array gives a
    /// linear conditioner. Not used by the one-feature neural spline flow, whose splines have no conditioner.
    /// </summary>
    public int[] HiddenLayerSizes { get; set; } = new[] { 128, 128 };

    /// <summary>Bins K of each rational-quadratic spline (<see cref="FlowArchitecture.NeuralSpline"/>). Default 8.</summary>
    public int NumberOfBins { get; set; } = Defaults.NumberOfBins;

    /// <summary>
    /// Tail bound B of the splines, in standardized units: the spline acts on [−B, B] and is the identity outside.
    /// Default 3 (nflows'; zuko uses 5): on the two-moons benchmark, 8 bins on [−3, 3] reached a test NLL of 0.327
    /// nats/point against 0.337 on [−5, 5] (docs/benchmarks.md). A point beyond the bound at scoring time goes
    /// through the identity tail: its score stays finite.
    /// </summary>
    public double SplineTailBound { get; set; } = Defaults.SplineTailBound;

    /// <summary>
    /// Learn a per-feature affine map (mean and standard deviation of the training data) and train in standardized
    /// space. Default true. The map is saved with the model; its Jacobian, −Σ log σ_d, is included in the reported
    /// log-likelihood, so scores stay in the original units of the input, and <c>Sample</c> returns rows in those
    /// units. A feature that is constant in the training data cannot be standardized: <c>Fit</c> names its slot.
    /// </summary>
    public bool Standardize { get; set; } = true;

    /// <summary>
    /// The features are integers (counts, levels, pixel values): training adds uniform noise u ~ U[0, 1)ᵈ to every
    /// row (Theis, van den Oord and Bethge 2016), so that the continuous flow models P(x) = ∫ p(x + u) du and the
    /// reported log-likelihood is a lower bound on the log-probability of the integer row. Default false. Fit fails on
    /// a non-integer value (naming row and slot). At scoring, the log-likelihood is the mean of log p(x + u_k) over
    /// <see cref="DequantizationSamples"/> fixed offsets u_k (the same for every row and every call, so scores are
    /// deterministic); a row with a non-integer value has probability 0 under the model (LogLikelihood −∞, Score +∞).
    /// <c>Sample</c> returns integer rows (the floor of the continuous draw).
    /// </summary>
    public bool Dequantize { get; set; }

    /// <summary>Offsets u_k averaged by dequantized scoring (see <see cref="Dequantize"/>). Default 10.</summary>
    public int DequantizationSamples { get; set; } = Defaults.DequantizationSamples;

    /// <summary>
    /// With <see cref="Dequantize"/> and <see cref="LogitTransform"/>: the number of levels L of the features
    /// (values 0 … L − 1), used to scale the dequantized values into [0, 1). Default 0: the largest training value + 1.
    /// </summary>
    public int NumberOfLevels { get; set; }

    /// <summary>
    /// Map bounded data into the real line before the flow: p = α + (1 − 2α)·y, s = log p − log(1 − p) (Dinh et al.
    /// 2017, §4.1), with its log-determinant. The data must lie in [0, 1], or, with <see cref="Dequantize"/>, be
    /// integers in [0, L − 1] (divided by L after dequantization). Default false. At scoring, a value outside that
    /// range has probability 0: LogLikelihood −∞, Score +∞.
    /// </summary>
    public bool LogitTransform { get; set; }

    /// <summary>α of <see cref="LogitTransform"/>, in (0, 0.5). Default 0.05 (Real NVP's).</summary>
    public double LogitAlpha { get; set; } = Defaults.LogitAlpha;

    /// <summary>Output column of log p(x) in nats per row, in the input's original units (float).</summary>
    public string LogLikelihoodColumnName { get; set; } = Defaults.LogLikelihoodColumnName;

    /// <summary>Output column of −log p(x) in nats (float; higher = more anomalous).</summary>
    public string ScoreColumnName { get; set; } = Defaults.ScoreColumnName;

    /// <summary>Output column of z = f(x), the row in the base space N(0, I) (vector of the input's size).</summary>
    public string LatentColumnName { get; set; } = Defaults.LatentColumnName;

    /// <summary>
    /// The column a conditional flow is conditioned on, or <see langword="null"/> (the default) for an unconditional
    /// density. A key column (a categorical condition such as a class, from <c>MapValueToKey</c>; at most 10,000
    /// values) is one-hot encoded; a known-size vector of <see cref="float"/> is used as it is. The flow then models
    /// p(x | c): every layer's conditioner also sees c (coupling and spline layers take [b⊙x, c]; a MADE layer's
    /// condition inputs connect to every unit; a one-feature spline's parameters get a learned function of c added),
    /// as in conditional RealNVP/MAF (Papamakarios et al. 2017, §3.4). The preprocessing maps (dequantization, logit,
    /// standardization) apply to x only. <c>Transform</c> gives log p(x | c) of each row given its own condition (a
    /// missing key gives NaN); <c>Sample(count, condition, seed)</c> draws x given one.
    /// </summary>
    public string? ConditionColumnName { get; set; }

    internal override string? ConditionColumn => ConditionColumnName;

    internal override void Check(IExceptionContext ectx)
    {
        base.Check(ectx);
        ectx.CheckUserArg(Enum.IsDefined(Architecture), nameof(Architecture), $"Unknown architecture {(int)Architecture}.");
        ectx.CheckUserArg(NumberOfLayers > 0 && NumberOfLayers <= 1024, nameof(NumberOfLayers), $"Must be in [1, 1024]; got {NumberOfLayers}.");
        ectx.CheckUserArg(HiddenLayerSizes is not null, nameof(HiddenLayerSizes), "Must not be null; use an empty array for a linear conditioner.");
        ectx.CheckUserArg(HiddenLayerSizes!.All(h => h > 0), nameof(HiddenLayerSizes), $"Every size must be positive; got [{string.Join(", ", HiddenLayerSizes!)}].");
        ectx.CheckUserArg(NumberOfBins >= 2 && NumberOfBins <= 256, nameof(NumberOfBins), $"Must be in [2, 256]; got {NumberOfBins}.");
        ectx.CheckUserArg(SplineTailBound > 0 && double.IsFinite(SplineTailBound), nameof(SplineTailBound), $"Must be a positive finite number; got {SplineTailBound}.");
        ectx.CheckUserArg(DequantizationSamples >= 1 && DequantizationSamples <= 1000, nameof(DequantizationSamples), $"Must be in [1, 1000]; got {DequantizationSamples}.");
        ectx.CheckUserArg(NumberOfLevels == 0 || NumberOfLevels >= 2, nameof(NumberOfLevels), $"Must be 0 (infer from the data) or at least 2; got {NumberOfLevels}.");
        ectx.CheckUserArg(LogitAlpha > 0 && LogitAlpha < 0.5, nameof(LogitAlpha), $"Must be in (0, 0.5); got {LogitAlpha}.");
        foreach (var (name, value) in new[] { (nameof(LogLikelihoodColumnName), LogLikelihoodColumnName), (nameof(ScoreColumnName), ScoreColumnName), (nameof(LatentColumnName), LatentColumnName) })
            ectx.CheckUserArg(!string.IsNullOrWhiteSpace(value), name, "Must name a column.");
        ectx.CheckUserArg(new[] { LogLikelihoodColumnName, ScoreColumnName, LatentColumnName }.Distinct().Count() == 3,
            nameof(LogLikelihoodColumnName), $"The output columns need three different names; got '{LogLikelihoodColumnName}', '{ScoreColumnName}', '{LatentColumnName}'.");
    }
}
