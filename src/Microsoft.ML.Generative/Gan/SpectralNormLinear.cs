using System;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Gan;

/// <summary>
/// A linear layer y = x·(W/σ(W))ᵀ + b whose weight is divided by its spectral norm σ(W), the largest singular value
/// (Miyato, Kataoka, Koyama &amp; Yoshida 2018, "Spectral Normalization for Generative Adversarial Networks",
/// Algorithm 1). σ is estimated by power iteration with persistent vectors u [out] and v [in]: in training mode each
/// forward pass first refines them by one step, v ← Wᵀu / ‖Wᵀu‖, u ← W v / ‖W v‖ (without gradient), and then
/// uses σ = uᵀ W v, through which the gradient does flow. In evaluation mode u and v are used as they are, so scoring
/// does not change the layer. TorchSharp 0.107 has no <c>nn.utils.spectral_norm</c>; this follows PyTorch's
/// semantics (one iteration per training forward, u and v saved with the weights).
/// </summary>
internal sealed class SpectralNormLinear : nn.Module<Tensor, Tensor>
{
    // Field names are the saved weights' names.
    private readonly Parameter weight;   // [out, in], the unnormalized weight
    private readonly Parameter bias;     // [out]
    private readonly Tensor u;           // [out], left singular vector estimate (buffer)
    private readonly Tensor v;           // [in], right singular vector estimate (buffer)

    private const double NormEpsilon = 1e-12;

    public SpectralNormLinear(long inputSize, long outputSize) : base(nameof(SpectralNormLinear))
    {
        // The weight and bias start as those of nn.Linear (uniform in ±1/√in).
        using (var init = nn.Linear(inputSize, outputSize))
        using (no_grad())
        using (var scope = NewDisposeScope())
        {
            weight = nn.Parameter(init.weight!.detach().clone().DetachFromDisposeScope());
            bias = nn.Parameter(init.bias!.detach().clone().DetachFromDisposeScope());
        }
        u = Normalize(randn(outputSize));
        v = Normalize(randn(inputSize));
        RegisterComponents();
    }

    public long InputSize => weight.shape[1];

    public long OutputSize => weight.shape[0];

    /// <summary>The current estimate σ = uᵀ W v of the weight's largest singular value.</summary>
    public double SpectralNormEstimate
    {
        get
        {
            using var noGrad = no_grad();
            using var wv = weight.mv(v);
            using var sigma = u.dot(wv);
            return sigma.ToDouble();
        }
    }

    /// <summary>The normalized weight W/σ, [out, in].</summary>
    public Tensor NormalizedWeight()
    {
        if (training)
        {
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            var vNew = Normalize(weight.t().mv(u));
            var uNew = Normalize(weight.mv(vNew));
            v.copy_(vNew);
            u.copy_(uNew);
        }
        using var inner = NewDisposeScope();
        // Copies, so that a later forward pass refining u and v in place does not invalidate this pass's graph.
        var uc = training ? u.clone() : u;
        var vc = training ? v.clone() : v;
        var sigma = uc.dot(weight.mv(vc));                   // scalar; its gradient is u vᵀ
        return weight.div(sigma).MoveToOuterDisposeScope();  // [out, in]
    }

    public override Tensor forward(Tensor x)
    {
        using var w = NormalizedWeight();
        return nn.functional.linear(x, w, bias);
    }

    private static Tensor Normalize(Tensor x)
    {
        using (x)
        {
            using var norm = x.norm().clamp_min_(NormEpsilon);
            return x.div(norm);
        }
    }
}
