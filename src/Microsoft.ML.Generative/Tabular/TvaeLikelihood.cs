using System;
using System.Linq;
using Microsoft.ML.Generative.Losses;
using Microsoft.ML.Generative.Vae;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Tabular;

/// <summary>
/// TVAE's reconstruction term (Xu et al. 2019, §5): −log p(x|z) = Σ over continuous columns of the Gaussian NLL of
/// the scalar α (mean from the decoder, per-column learned log σ², floored at σ = 0.01, ½·log 2π included)
/// + Σ over one-hot groups (modes, missing class, categories) of the cross-entropy −Σ_j x_j·log softmax(ℓ)_j.
/// Everything is in nats per row, [B]. The decoder's learned variances of the one-hot positions are never used.
/// </summary>
internal sealed class TvaeLikelihood : IDisposable
{
    private readonly Tensor? _scalarIndex;                // [S] int64 offsets of the scalars
    private readonly (long Offset, long Width)[] _groups;

    public TvaeLikelihood(TabularEncoder encoder)
    {
        var scalars = encoder.ScalarOffsets;
        _scalarIndex = scalars.Length == 0 ? null : tensor(scalars.Select(o => (long)o).ToArray(), ScalarType.Int64);
        _groups = encoder.Spans.Where(s => s.IsCategorical).Select(s => ((long)s.Offset, (long)s.Width)).ToArray();
    }

    /// <summary>−log p(x|z) per row, [B]; <paramref name="decoded"/> and <paramref name="x"/> are [B, D].</summary>
    public Tensor Nll(VaeNetwork network, Tensor decoded, Tensor x)
    {
        using var scope = NewDisposeScope();
        Tensor total = zeros(decoded.shape[0], dtype: decoded.dtype, device: decoded.device);
        if (_scalarIndex is not null)
        {
            var mean = decoded.index_select(1, _scalarIndex);                                             // [B, S]
            var target = x.index_select(1, _scalarIndex);                                                 // [B, S]
            var logVar = network.OutputLogVar!.clamp_min(VaeNetwork.MinimumLogVariance).index_select(0, _scalarIndex); // [S]
            total = total.add(VaeLosses.GaussianNll(mean, logVar, target, LossReduction.None));
        }
        foreach (var (offset, width) in _groups)
        {
            var logits = decoded.narrow(1, offset, width);                                               // [B, w]
            var target = x.narrow(1, offset, width);
            total = total.sub(nn.functional.log_softmax(logits, 1).mul(target).sum(1));
        }
        return total.MoveToOuterDisposeScope();
    }

    public void Dispose() => _scalarIndex?.Dispose();
}
