#pragma warning disable CS1591
using System;
using static TorchSharp.torch;
namespace Microsoft.ML.Generative.Losses;
public enum LossReduction { Mean, Sum, None }
public sealed class ElboLoss : IDisposable
{
    public ElboLoss(Tensor l, Tensor r, Tensor k) { Loss = l; Reconstruction = r; Kl = k; }
    public Tensor Loss { get; } public Tensor Reconstruction { get; } public Tensor Kl { get; }
    public void Dispose() { }
}
public static class VaeLosses
{
    static Tensor Reduce(Tensor t, LossReduction r) => r switch { LossReduction.Mean => t.mean(), LossReduction.Sum => t.sum(), _ => t };
    public static Tensor KlDivergenceStandardNormal(Tensor mu, Tensor logVar, LossReduction reduction = LossReduction.Mean, double freeBits = 0)
        => Reduce((logVar.exp() + mu.pow(2) - 1 - logVar).sum(1).mul(0.5), reduction);
    public static Tensor BernoulliNllWithLogits(Tensor logits, Tensor target, LossReduction reduction = LossReduction.Mean)
        => Reduce(nn.functional.binary_cross_entropy_with_logits(logits, target, reduction: nn.Reduction.None).sum(1), reduction);
    public static Tensor GaussianNll(Tensor mean, Tensor target, double sigma, LossReduction reduction = LossReduction.Mean)
        => Reduce(((target - mean).pow(2).div(sigma * sigma) + Math.Log(2 * Math.PI) + 2 * Math.Log(sigma)).sum(1).mul(0.5), reduction);
    public static Tensor GaussianNll(Tensor mean, Tensor logVar, Tensor target, LossReduction reduction = LossReduction.Mean)
        => Reduce(((target - mean).pow(2) * (-logVar).exp() + Math.Log(2 * Math.PI) + logVar).sum(1).mul(0.5), reduction);
    public static ElboLoss Elbo(Tensor rec, Tensor mu, Tensor logVar, double beta = 1, LossReduction reduction = LossReduction.Mean, double freeBits = 0)
    {
        var kl = KlDivergenceStandardNormal(mu, logVar, LossReduction.None);
        return new ElboLoss(Reduce(rec + beta * kl, reduction), Reduce(rec, reduction), Reduce(kl, reduction));
    }
}
