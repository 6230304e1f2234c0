using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Gan;

/// <summary>
/// The architecture a <see cref="GanNetwork"/> is built from; saved with the model. <c>ConditionWidth</c> is C, the
/// encoded condition's floats (0: unconditional), and <c>Conditioning</c> how D takes it.
/// </summary>
internal sealed record GanArchitecture(int InputDimension, int LatentDimension, int[] GeneratorHiddenLayerSizes,
    int[] DiscriminatorHiddenLayerSizes, GanActivation Activation, double DiscriminatorDropout, bool SpectralNormalization,
    bool GeneratorEma, GanOutputScaling OutputScaling, int ConditionWidth = 0,
    DiscriminatorConditioning Conditioning = DiscriminatorConditioning.Concatenation)
{
    /// <summary>
    /// PacGAN's pack size m (Lin et al. 2018, "PacGAN: The power of two samples in generative adversarial networks"):
    /// D scores packs of m rows concatenated into one input, [B/m, m·(D + C)] (1: every row on its own, the default).
    /// Used by CTGAN (m = 10); only with concatenation conditioning.
    /// </summary>
    public int Pac { get; init; } = 1;

    /// <summary>
    /// CTGAN's generator (Xu et al. 2019, §4.4) instead of a plain MLP: each hidden layer is a residual block
    /// h ← [ReLU(BatchNorm(W h + b)), h] (its output concatenated with its input), then a linear output layer.
    /// Default false. Needs no generator average (the average would not track BatchNorm's running statistics).
    /// </summary>
    public bool ResidualGenerator { get; init; }

    /// <summary>Whether D is a projection discriminator (conditional models only).</summary>
    public bool Projection => ConditionWidth > 0 && Conditioning == DiscriminatorConditioning.Projection;

    /// <summary>Number of trainable weights (generator, its average when kept, discriminator).</summary>
    public long ParameterCount
    {
        get
        {
            static long Residual(int input, int[] hidden, int output)
            {
                long count = 0, width = input;
                foreach (int h in hidden)
                {
                    count += width * h + h + 2L * h;   // linear, BatchNorm's scale and shift
                    width += h;
                }
                return count + width * output + output;
            }
            static long Mlp(int input, int[] hidden, int output)
            {
                long count = 0, width = input;
                foreach (int h in hidden)
                {
                    count += width * h + h;
                    width = h;
                }
                return count + width * output + output;
            }
            long generator = ResidualGenerator
                ? Residual(LatentDimension + ConditionWidth, GeneratorHiddenLayerSizes, InputDimension)
                : Mlp(LatentDimension + ConditionWidth, GeneratorHiddenLayerSizes, InputDimension);
            long discriminator = Projection
                ? Mlp(InputDimension, DiscriminatorHiddenLayerSizes, 1) + (long)ConditionWidth * DiscriminatorHiddenLayerSizes.DefaultIfEmpty(InputDimension).Last()
                : Mlp(Pac * (InputDimension + ConditionWidth), DiscriminatorHiddenLayerSizes, 1);
            return generator * (GeneratorEma ? 2 : 1) + discriminator;
        }
    }

    public string Describe()
        => $"a GAN: generator {LatentDimension}-{string.Join("-", GeneratorHiddenLayerSizes.Append(InputDimension))}, "
           + $"discriminator {InputDimension}-{string.Join("-", DiscriminatorHiddenLayerSizes.Append(1))}"
           + (SpectralNormalization ? " (spectral normalization)" : "")
           + (DiscriminatorDropout > 0 ? $" (dropout {DiscriminatorDropout})" : "")
           + (ConditionWidth > 0 ? $", conditional ({ConditionWidth} condition values into G; {(Projection ? "projection" : "concatenation")} discriminator)" : "")
           + (ResidualGenerator ? ", residual generator (BatchNorm)" : "")
           + (Pac > 1 ? $", PacGAN packs of {Pac}" : "");
}

/// <summary>
/// Dropout whose mask comes from a <see cref="Generator"/> set by the trainer, so that a seeded fit is reproducible
/// even while other models train (nn.Dropout draws from libtorch's process-wide generator). Inverted dropout:
/// kept units are scaled by 1/(1 − p) in training; the identity in evaluation mode.
/// </summary>
internal sealed class SeededDropout : nn.Module<Tensor, Tensor>
{
    private readonly double _p;

    public SeededDropout(double p) : base(nameof(SeededDropout)) => _p = p;

    public Generator? Generator { get; set; }

    public override Tensor forward(Tensor x)
    {
        if (!training || _p == 0)
            return x.alias();
        using var scope = NewDisposeScope();
        var keep = rand(x.shape, x.dtype, x.device, generator: Generator).ge_(_p).to_type(x.dtype);
        return x.mul(keep).mul_(1.0 / (1.0 - _p)).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// The generator G: z [N, L] → [N, D] (tanh output under <see cref="GanOutputScaling.MinMax"/>), the discriminator
/// D: [N, D] → logits [N, 1], an optional exponential moving average of G's weights, and the per-feature map between
/// the data's units and G's output range (buffers <c>center</c> and <c>halfRange</c>, [D]). Field names are the
/// saved weights' names: renaming one breaks saved models. A conditional GAN takes the encoded condition c [N, C]:
/// G([z, c]) (Mirza and Osindero 2014), and D([x, c]) (concatenation) or ψ(φ(x)) + (V c)ᵀφ(x) (projection, Miyato
/// and Koyama 2018), where the projection discriminator's <c>discriminator</c> is φ (its hidden layers),
/// <c>discriminatorOutput</c> is ψ and <c>conditionProjection</c> is V.
/// </summary>
internal sealed class GanNetwork : nn.Module<Tensor, Tensor>
{
    private readonly Sequential generator;
    private readonly Sequential discriminator;
    private readonly nn.Module<Tensor, Tensor>? discriminatorOutput;   // ψ of the projection discriminator
    private readonly nn.Module<Tensor, Tensor>? conditionProjection;   // V: [N, C] -> [N, H_last] (no bias unless spectrally normalized)
    private readonly Sequential? generatorEma;
    private readonly Tensor center;      // [D], c_j = (min_j + max_j) / 2
    private readonly Tensor halfRange;   // [D], h_j = (max_j − min_j) / 2 (0 for a constant feature)
    private readonly SeededDropout[] _dropouts;

    public GanNetwork(GanArchitecture architecture) : base(nameof(GanNetwork))
    {
        Architecture = architecture;
        int d = architecture.InputDimension;
        generator = BuildGenerator(architecture);
        if (architecture.GeneratorEma)
        {
            generatorEma = BuildGenerator(architecture);
            using var noGrad = no_grad();
            foreach (var (target, source) in generatorEma.parameters().Zip(generator.parameters()))
            {
                target.copy_(source);
                target.requires_grad_(false);
            }
        }

        var layers = new List<(string, nn.Module<Tensor, Tensor>)>();
        var dropouts = new List<SeededDropout>();
        int width = architecture.Projection ? d : architecture.Pac * (d + architecture.ConditionWidth);
        var hidden = architecture.DiscriminatorHiddenLayerSizes;
        for (int i = 0; i < hidden.Length; i++)
        {
            layers.Add(($"linear{i}", MakeLinear(width, hidden[i], architecture.SpectralNormalization)));
            layers.Add(($"activation{i}", MakeActivation(architecture.Activation)));
            if (architecture.DiscriminatorDropout > 0)
            {
                var dropout = new SeededDropout(architecture.DiscriminatorDropout);
                dropouts.Add(dropout);
                layers.Add(($"dropout{i}", dropout));
            }
            width = hidden[i];
        }
        if (architecture.Projection)
        {
            discriminator = nn.Sequential(layers);   // φ: [N, D] -> [N, H_last]
            discriminatorOutput = MakeLinear(width, 1, architecture.SpectralNormalization);
            // With spectral normalization V is normalized too (Miyato and Koyama 2018): otherwise (Vc)ᵀφ(x) leaves D's
            // Lipschitz constant unbounded, which a Wasserstein critic without a gradient penalty relies on.
            conditionProjection = architecture.SpectralNormalization
                ? new SpectralNormLinear(architecture.ConditionWidth, width)
                : nn.Linear(architecture.ConditionWidth, width, hasBias: false);
        }
        else
        {
            layers.Add(("output", MakeLinear(width, 1, architecture.SpectralNormalization)));
            discriminator = nn.Sequential(layers);   // [N, D + C] -> [N, 1]
        }
        _dropouts = dropouts.ToArray();

        center = zeros(d);
        halfRange = ones(d);
        RegisterComponents();
    }

    public GanArchitecture Architecture { get; }

    public Sequential GeneratorModule => generator;

    public Sequential DiscriminatorModule => discriminator;

    public Sequential? GeneratorEmaModule => generatorEma;

    /// <summary>D's parameters: its layers and, for a projection discriminator, ψ and V.</summary>
    public IEnumerable<Parameter> DiscriminatorParameters
    {
        get
        {
            var all = discriminator.parameters();
            if (discriminatorOutput is not null)
                all = all.Concat(discriminatorOutput.parameters()).Concat(conditionProjection!.parameters());
            return all;
        }
    }

    /// <summary>Floats of the encoded condition (0: unconditional).</summary>
    public int ConditionWidth => Architecture.ConditionWidth;

    /// <summary>
    /// Conditions of some training rows, row-major [n, C] (not saved): what the mode-collapse check at the end of
    /// <c>Fit</c> generates with.
    /// </summary>
    public float[]? TrainingConditions { get; set; }

    /// <summary>The features [B, D] and the condition [B, C] (null when unconditional) of rows [B, D + C]: views, no copy.</summary>
    public (Tensor X, Tensor? C) Split(Tensor rows)
    {
        if (ConditionWidth == 0)
            return (rows, null);
        int d = Architecture.InputDimension;
        return (rows.narrow(1, 0, d), rows.narrow(1, d, ConditionWidth));
    }

    /// <summary>The generator sampling uses: the averaged one when kept.</summary>
    public Sequential SamplingGenerator => generatorEma ?? generator;

    public Tensor Center => center;

    /// <summary>
    /// The training rows' mean per-feature standard deviation in the generator's range (not saved): the yardstick of
    /// the mode-collapse check at the end of <c>Fit</c>.
    /// </summary>
    public double TrainingSpread { get; set; } = double.NaN;

    public Tensor HalfRange => halfRange;

    /// <summary>Sets the randomness of the discriminator's dropout masks (null: libtorch's global generator).</summary>
    public void SetDropoutGenerator(Generator? generator)
    {
        foreach (var d in _dropouts)
            d.Generator = generator;
    }

    /// <summary>Sets the per-feature map (from the training data's range) and the output range it maps onto.</summary>
    public void SetOutputMap(Tensor newCenter, Tensor newHalfRange)
    {
        using var noGrad = no_grad();
        center.copy_(newCenter);
        halfRange.copy_(newHalfRange);
    }

    /// <summary>Rows in the data's units [N, D] → the generator's range: (x − c) / h, with 0 for constant features.</summary>
    public Tensor FromUnits(Tensor x)
    {
        using var scope = NewDisposeScope();
        var inverse = halfRange.gt(0).to_type(halfRange.dtype).div_(halfRange.clamp_min(1e-30));   // 1/h or 0
        return x.sub(center).mul_(inverse).MoveToOuterDisposeScope();
    }

    /// <summary>The generator's rows [N, D] → the data's units: c + h·y.</summary>
    public Tensor ToUnits(Tensor y) => y.mul(halfRange).add_(center);

    /// <summary>G(z) or the averaged G(z), in the generator's range, [N, D]; a conditional G takes c [N, C] too.</summary>
    public Tensor Generate(Tensor z, bool averaged) => Generate(z, averaged, null);

    /// <summary>G([z, c]) of a conditional generator (c null: G(z)), in the generator's range, [N, D].</summary>
    public Tensor Generate(Tensor z, bool averaged, Tensor? c)
    {
        var g = averaged ? SamplingGenerator : generator;
        if (c is null)
            return g.forward(z);
        using var input = cat(new[] { z, c }, 1);                  // [N, L + C]
        return g.forward(input);
    }

    /// <summary>D's raw output (a realness logit, or a critic score) for rows in the generator's range, [N, 1].</summary>
    public Tensor Discriminate(Tensor x) => Architecture.Pac > 1 ? Discriminate(x, null) : discriminator.forward(x);

    /// <summary>
    /// D's raw output (a realness logit, or a critic score) for rows in the generator's range, [N, 1]; a conditional
    /// D takes the rows' condition c [N, C] too.
    /// </summary>
    public Tensor Discriminate(Tensor x, Tensor? c)
    {
        int pac = Architecture.Pac;
        if (pac > 1)
        {
            // PacGAN: m consecutive rows form one input, [B/m, m·(D + C)] (each row's features, then each row's
            // condition: a fixed permutation of CTGAN's [x₁, c₁, …, x_m, c_m] layout, which an MLP does not mind).
            if (x.shape[0] % pac != 0)
                throw new InvalidOperationException($"A PacGAN discriminator scores packs of {pac} rows; got a batch of {x.shape[0]} rows.");
            using var packedX = x.reshape(x.shape[0] / pac, -1);
            if (c is null)
                return discriminator.forward(packedX);
            using var packedC = c.reshape(c.shape[0] / pac, -1);
            using var packed = cat(new[] { packedX, packedC }, 1);
            return discriminator.forward(packed);                  // [B/m, 1]
        }
        if (c is null)
            return discriminator.forward(x);
        if (discriminatorOutput is null)
        {
            using var input = cat(new[] { x, c }, 1);              // [N, D + C]
            return discriminator.forward(input);
        }
        using var h = discriminator.forward(x);                    // φ(x) [N, H]
        using var embedded = conditionProjection!.forward(c);      // V c [N, H]
        using var product = embedded.mul(h);
        using var projection = product.sum(1, keepdim: true);      // (V c)ᵀ φ(x) [N, 1]
        using var output = discriminatorOutput.forward(h);         // ψ(φ(x)) [N, 1]
        return output.add(projection);
    }

    /// <summary>Generates with the raw generator (the module's forward is G).</summary>
    public override Tensor forward(Tensor z) => generator.forward(z);

    /// <summary>θ_EMA ← β·θ_EMA + (1 − β)·θ for every generator weight.</summary>
    public void UpdateEma(double decay)
    {
        if (generatorEma is null)
            return;
        using var noGrad = no_grad();
        foreach (var (average, current) in generatorEma.parameters().Zip(generator.parameters()))
            average.mul_(decay).add_(current, alpha: 1 - decay);
    }

    /// <summary>All spectrally normalized layers of D, in order (empty without spectral normalization).</summary>
    public IEnumerable<SpectralNormLinear> SpectralNormLayers
        => discriminator.children().Append(discriminatorOutput).OfType<SpectralNormLinear>();

    private static Sequential BuildGenerator(GanArchitecture a)
    {
        var layers = new List<(string, nn.Module<Tensor, Tensor>)>();
        int width = a.LatentDimension + a.ConditionWidth;
        if (a.ResidualGenerator)
        {
            for (int i = 0; i < a.GeneratorHiddenLayerSizes.Length; i++)
            {
                layers.Add(($"residual{i}", new ResidualBlock(width, a.GeneratorHiddenLayerSizes[i])));
                width += a.GeneratorHiddenLayerSizes[i];
            }
            layers.Add(("output", nn.Linear(width, a.InputDimension)));
            return nn.Sequential(layers);   // [N, L + C] -> [N, D], no output nonlinearity (the trainer's output hook applies it)
        }
        for (int i = 0; i < a.GeneratorHiddenLayerSizes.Length; i++)
        {
            layers.Add(($"linear{i}", nn.Linear(width, a.GeneratorHiddenLayerSizes[i])));
            layers.Add(($"activation{i}", MakeActivation(a.Activation)));
            width = a.GeneratorHiddenLayerSizes[i];
        }
        layers.Add(("output", nn.Linear(width, a.InputDimension)));
        if (a.OutputScaling == GanOutputScaling.MinMax)
            layers.Add(("tanh", nn.Tanh()));
        return nn.Sequential(layers);   // [N, L + C] -> [N, D]
    }

    private static nn.Module<Tensor, Tensor> MakeLinear(int input, int output, bool spectral)
        => spectral ? new SpectralNormLinear(input, output) : nn.Linear(input, output);

    private static nn.Module<Tensor, Tensor> MakeActivation(GanActivation activation) => activation switch
    {
        GanActivation.LeakyRelu => nn.LeakyReLU(0.2),
        GanActivation.Relu => nn.ReLU(),
        GanActivation.Silu => nn.SiLU(),
        GanActivation.Gelu => nn.GELU(),
        GanActivation.Tanh => nn.Tanh(),
        _ => throw new ArgumentOutOfRangeException(nameof(activation), activation, "Unknown activation."),
    };
}

/// <summary>
/// CTGAN's residual block (Xu et al. 2019, §4.4): h [N, I] → [ReLU(BatchNorm(W h + b)), h], [N, O + I]. BatchNorm uses
/// the batch's statistics in training and its running averages (momentum 0.1) in evaluation mode.
/// </summary>
internal sealed class ResidualBlock : nn.Module<Tensor, Tensor>
{
    private readonly Linear linear;
    private readonly BatchNorm1d norm;

    public ResidualBlock(int input, int output) : base(nameof(ResidualBlock))
    {
        linear = nn.Linear(input, output);
        norm = nn.BatchNorm1d(output);
        RegisterComponents();
    }

    public override Tensor forward(Tensor h)
    {
        using var projected = linear.forward(h);
        using var normalized = norm.forward(projected);
        using var activated = nn.functional.relu(normalized);
        return cat(new[] { activated, h }, 1);
    }
}
