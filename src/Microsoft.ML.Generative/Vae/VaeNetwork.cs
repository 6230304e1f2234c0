using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Vae;

/// <summary>
/// The architecture a <see cref="VaeNetwork"/> is built from; saved with the model. <c>ConditionWidth</c> is C, the
/// encoded condition's floats (0: unconditional); the condition enters the encoder and the decoder.
/// </summary>
internal sealed record VaeArchitecture(int InputDimension, int LatentDimension, int[] HiddenLayerSizes,
    VaeActivation Activation, VaeLikelihood Likelihood, int ConditionWidth = 0)
{
    /// <summary>
    /// The learned output log σ²'s starting value (<see cref="VaeLikelihood.GaussianLearnedVariance"/>); 0 (σ = 1) by
    /// default. Not saved: the trained value is a weight. The tabular synthesizer starts at log 0.01 (σ = 0.1), as TVAE.
    /// </summary>
    public double InitialOutputLogVariance { get; init; }

    /// <summary>Number of weights (encoder, both heads, decoder, learned output variance).</summary>
    public long ParameterCount
    {
        get
        {
            static long Linear(long input, long output) => input * output + output;
            long count = 0, width = InputDimension + ConditionWidth;
            foreach (int h in HiddenLayerSizes)
            {
                count += Linear(width, h);
                width = h;
            }
            count += 2 * Linear(width, LatentDimension);
            width = LatentDimension + ConditionWidth;
            for (int i = HiddenLayerSizes.Length - 1; i >= 0; i--)
            {
                count += Linear(width, HiddenLayerSizes[i]);
                width = HiddenLayerSizes[i];
            }
            count += Linear(width, InputDimension);
            return count + (Likelihood == VaeLikelihood.GaussianLearnedVariance ? InputDimension : 0);
        }
    }
}

/// <summary>
/// A fully connected VAE (Kingma and Welling, 2014, "Auto-Encoding Variational Bayes"): an encoder q(z|x) =
/// N(μ(x), diag σ²(x)), the reparameterization z = μ + σ·ε, and a decoder p(x|z) whose output is logits (Bernoulli)
/// or a mean (Gaussian). Field names are the saved weights' names: renaming one breaks saved models. A conditional
/// VAE (Sohn et al. 2015) takes the encoded condition c [B, C] as extra inputs of the encoder, q(z | x, c), and of the
/// decoder, p(x | z, c): its rows are <c>[x, c]</c>, [B, D + C], as the data path delivers them.
/// </summary>
internal sealed class VaeNetwork : nn.Module<Tensor, (Tensor Decoded, Tensor Mu, Tensor LogVar)>
{
    private readonly Sequential encoder;
    private readonly Linear mu;
    private readonly Linear logVar;
    private readonly Sequential decoder;
    // Per-feature log σ² of the Gaussian likelihood with learned variance, [D]; absent otherwise.
    private readonly Parameter? outputLogVar;
    // The same layers in order, for the hand-written training step (VaeTrainingStep); not modules of their own.
    private readonly Linear[] encoderLinears;
    private readonly Linear[] decoderLinears;

    public VaeNetwork(VaeArchitecture architecture) : base("VaeNetwork")
    {
        Architecture = architecture;
        int d = architecture.InputDimension;
        var hidden = architecture.HiddenLayerSizes;

        int c = architecture.ConditionWidth;
        var encoderLayers = new List<(string, nn.Module<Tensor, Tensor>)>();
        int width = d + c;
        for (int i = 0; i < hidden.Length; i++)
        {
            encoderLayers.Add(($"linear{i}", nn.Linear(width, hidden[i])));
            encoderLayers.Add(($"activation{i}", MakeActivation(architecture.Activation)));
            width = hidden[i];
        }
        encoder = nn.Sequential(encoderLayers);           // [B, D + C] -> [B, H_last]
        encoderLinears = encoderLayers.Select(l => l.Item2).OfType<Linear>().ToArray();
        mu = nn.Linear(width, architecture.LatentDimension);      // [B, H_last] -> [B, L]
        logVar = nn.Linear(width, architecture.LatentDimension);  // [B, H_last] -> [B, L]

        var decoderLayers = new List<(string, nn.Module<Tensor, Tensor>)>();
        width = architecture.LatentDimension + c;
        for (int i = hidden.Length - 1; i >= 0; i--)
        {
            decoderLayers.Add(($"linear{hidden.Length - 1 - i}", nn.Linear(width, hidden[i])));
            decoderLayers.Add(($"activation{hidden.Length - 1 - i}", MakeActivation(architecture.Activation)));
            width = hidden[i];
        }
        decoderLayers.Add(("output", nn.Linear(width, d)));
        decoder = nn.Sequential(decoderLayers);           // [B, L + C] -> [B, D]
        decoderLinears = decoderLayers.Select(l => l.Item2).OfType<Linear>().ToArray();

        if (architecture.Likelihood == VaeLikelihood.GaussianLearnedVariance)
            outputLogVar = nn.Parameter(full(d, architecture.InitialOutputLogVariance));

        RegisterComponents();
    }

    public VaeArchitecture Architecture { get; }

    /// <summary>The encoder's linear layers, input first ([B, D + C] → … → [B, H_last]).</summary>
    internal IReadOnlyList<Linear> EncoderLinears => encoderLinears;

    /// <summary>The decoder's linear layers, the output layer last ([B, L + C] → … → [B, D]).</summary>
    internal IReadOnlyList<Linear> DecoderLinears => decoderLinears;

    /// <summary>The posterior mean's head, [B, H_last] → [B, L].</summary>
    internal Linear MuHead => mu;

    /// <summary>The posterior log-variance's head, [B, H_last] → [B, L].</summary>
    internal Linear LogVarHead => logVar;

    /// <summary>
    /// Floor of the learned per-feature log σ² (σ ≥ 0.01). Without it a constant feature (a border pixel, a constant
    /// column) drives its variance to 0 and its density, the training loss and that feature's share of the score
    /// without bound.
    /// </summary>
    public static readonly double MinimumLogVariance = Math.Log(1e-4);

    /// <summary>log σ² of the decoder's Gaussian, [D], or null.</summary>
    public Tensor? OutputLogVar => outputLogVar;

    /// <summary>Floats of the encoded condition (0: unconditional).</summary>
    public int ConditionWidth => Architecture.ConditionWidth;

    /// <summary>The features [B, D] and the condition [B, C] (null when unconditional) of rows [B, D + C]: views, no copy.</summary>
    public (Tensor X, Tensor? C) Split(Tensor rows)
    {
        if (ConditionWidth == 0)
            return (rows, null);
        int d = Architecture.InputDimension;
        return (rows.narrow(1, 0, d), rows.narrow(1, d, ConditionWidth));
    }

    /// <summary>Posterior parameters μ, log σ², each [B, L], of rows [B, D + C] (features, then the condition).</summary>
    public (Tensor Mu, Tensor LogVar) Encode(Tensor x)
    {
        using var h = encoder.forward(x);
        return (mu.forward(h), logVar.forward(h));
    }

    /// <summary>z = μ + exp(½ log σ²)·ε, ε ~ N(0, I) drawn from <paramref name="generator"/>.</summary>
    public static Tensor Reparameterize(Tensor mu, Tensor logVar, Generator? generator)
    {
        using var std = logVar.mul(0.5).exp_();
        // In place on the fresh noise tensor, which is what is returned.
        var eps = randn(mu.shape, dtype: mu.dtype, device: mu.device, generator: generator);
        return eps.mul_(std).add_(mu);
    }

    /// <summary>Decoder output for z [B, L] (and the condition c [B, C]): logits (Bernoulli) or means (Gaussian), [B, D].</summary>
    public Tensor Decode(Tensor z, Tensor? c = null)
    {
        if (c is null)
            return decoder.forward(z);
        using var input = cat(new[] { z, c }, 1);                                        // [B, L + C]
        return decoder.forward(input);
    }

    /// <summary>The decoder's mean in feature space: probabilities for Bernoulli, the Gaussian mean otherwise.</summary>
    public Tensor DecodeMean(Tensor z, Tensor? c = null)
    {
        var decoded = Decode(z, c);
        if (Architecture.Likelihood != VaeLikelihood.Bernoulli)
            return decoded;
        using (decoded)
            return decoded.sigmoid();
    }

    /// <summary>Encodes, draws z with the training noise of the global generator, and decodes.</summary>
    public override (Tensor Decoded, Tensor Mu, Tensor LogVar) forward(Tensor x) => Forward(x, null);

    /// <summary>Encodes rows [B, D + C], draws z, and decodes it with the rows' condition.</summary>
    public (Tensor Decoded, Tensor Mu, Tensor LogVar) Forward(Tensor x, Generator? generator)
    {
        var (m, lv) = Encode(x);
        using var z = Reparameterize(m, lv, generator);
        return (Decode(z, Split(x).C), m, lv);
    }

    private static nn.Module<Tensor, Tensor> MakeActivation(VaeActivation activation) => activation switch
    {
        VaeActivation.Relu => nn.ReLU(),
        VaeActivation.Silu => nn.SiLU(),
        VaeActivation.Tanh => nn.Tanh(),
        VaeActivation.Gelu => nn.GELU(),
        VaeActivation.LeakyRelu => nn.LeakyReLU(0.01),
        _ => throw new ArgumentOutOfRangeException(nameof(activation), activation, "Unknown activation."),
    };
}
