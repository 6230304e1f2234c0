using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Microsoft.ML.Generative.Losses;
using Microsoft.ML.Generative.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Vae;

/// <summary>
/// The VAE's training step written out by hand for its default form — ReLU layers, a Bernoulli likelihood (or a
/// Gaussian with a fixed σ), no condition, no free bits, float32 — the same mathematics as the autograd step (<see cref="VaeObjective.TrainStep"/>), without
/// autograd: every matrix product goes into a buffer made for it (each weight gradient straight into the optimizer's
/// flat gradient buffer, overwriting it, so no zeroing and no accumulation), and the element-wise work — bias and ReLU,
/// reparameterization with the KL term and its gradient, the Bernoulli likelihood with its gradient, ReLU's backward,
/// the bias gradients — is a few vectorized .NET passes split over libtorch's own OpenMP threads
/// (<see cref="OpenMpTeam"/>).
/// </summary>
/// <remarks>
/// <para>Why: on the 784-400-20 VAE the autograd step issues about a hundred libtorch operations, each with its
/// dispatch, allocation and an OpenMP hand-off, and those cost as much as the matrix products (docs/benchmarks.md,
/// stop 12); here the step is the 14 products and 8 passes: 1.27× the autograd step's speed in one process.</para>
/// <para>Equations (B rows, mean over rows; β the KL weight of this step): forward h₀ = x, hᵢ = ReLU(hᵢ₋₁Wᵢᵀ + bᵢ);
/// μ, log σ² = λ from the heads; z = μ + e^{λ/2}ε; the decoder likewise; ℓ = logits. Loss = (1/B)Σ_r [Σ_d
/// (max(ℓ,0) − ℓx + log1p(e^{−|ℓ|})) + β·½Σ_j (μ² + e^λ − 1 − λ)]. Backward: ∂/∂ℓ = (σ(ℓ) − x)/B;
/// ∂/∂μ = βμ/B + ∂/∂z; ∂/∂λ = β·½·expm1(λ)/B + ∂/∂z ⊙ ½e^{λ/2}ε; through each layer δ ← (δW) ⊙ 1[h &gt; 0],
/// ∂W = δᵀh, ∂b = Σ_r δ. With the fixed-σ Gaussian the likelihood's term is ½Σ_d t² + D(½ log 2π + log σ),
/// t = (x − μ)/σ, and ∂/∂μ = −t/(σB). e^λ − 1 − λ is the same cancellation-free form as <see cref="VaeLosses.KlDivergenceStandardNormal"/>
/// (a series below |λ| = ½), in float64 per element. Tests check the loss and every gradient against autograd.</para>
/// </remarks>
internal sealed unsafe class VaeTrainingStep
{
    private readonly Linear[] _encoder;
    private readonly Linear[] _decoder;      // the output layer last
    private readonly Linear _mu;
    private readonly Linear _logVar;
    private readonly int _latent;
    private readonly int _input;
    private readonly double? _sigma;         // the Gaussian's fixed σ; null: Bernoulli

    private VaeTrainingStep(VaeNetwork network, double? sigma)
    {
        _sigma = sigma;
        _encoder = network.EncoderLinears.ToArray();
        _decoder = network.DecoderLinears.ToArray();
        _mu = network.MuHead;
        _logVar = network.LogVarHead;
        _latent = network.Architecture.LatentDimension;
        _input = network.Architecture.InputDimension;
    }

    /// <summary>
    /// The hand-written step for <paramref name="network"/> trained by <paramref name="optimizer"/>, or null when the model
    /// is not in the form it covers (another activation, the Gaussian with a learned variance, a condition, free bits, a
    /// custom reconstruction term, float64, no AVX2): those train through autograd.
    /// </summary>
    public static VaeTrainingStep? TryCreate(VaeNetwork network, VariationalAutoencoderOptions options, bool customReconstruction, FlatAdam optimizer)
    {
        var a = network.Architecture;
        if (customReconstruction || a.Activation != VaeActivation.Relu || a.Likelihood == VaeLikelihood.GaussianLearnedVariance
            || a.ConditionWidth != 0 || options.FreeBits != 0 || !Vector256.IsHardwareAccelerated)
            return null;
        var parameters = network.parameters().ToList();
        if (parameters.Any(p => p.dtype != ScalarType.Float32 || p.device_type != DeviceType.CPU || !p.requires_grad))
            return null;
        // Every weight's gradient is written by the step: the optimizer must hold exactly these parameters, each with its
        // gradient a contiguous view of the flat buffer.
        var trained = optimizer.Parameters.Select(p => p.Handle).ToHashSet();
        if (parameters.Count != optimizer.Parameters.Count || parameters.Any(p => !trained.Contains(p.Handle) || !HasContiguousGradient(p)))
            return null;
        return new VaeTrainingStep(network, a.Likelihood == VaeLikelihood.GaussianFixedVariance ? options.FixedStandardDeviation : null);
    }

    private static bool HasContiguousGradient(Parameter p)
    {
        using var gradient = p.grad;             // a new wrapper each time: disposed here
        return gradient is not null && gradient.is_contiguous();
    }

    /// <summary>
    /// Forward, loss and backward on <paramref name="batch"/> [B, D] (float32, contiguous, values in [0, 1]) with the
    /// noise ε [B, L]; every parameter's gradient is overwritten with the gradient of the batch's mean loss. Returns
    /// (loss, mean reconstruction NLL, mean KL) in nats, each rounded to float32 (the loss is +∞ where float32 overflows,
    /// as autograd's; the gradients may then be non-finite too, and the caller refuses the step).
    /// </summary>
    public (double Loss, double Reconstruction, double Kl) Run(Tensor batch, Tensor noise, double beta)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        int rows = checked((int)batch.shape[0]);
        if (batch.shape[1] != _input || noise.shape[0] != rows || noise.shape[1] != _latent)
            throw new ArgumentException($"VaeTrainingStep: batch [{batch.shape[0]}, {batch.shape[1]}] or noise [{noise.shape[0]}, {noise.shape[1]}] does not fit the model.");
        var x = batch.is_contiguous() ? batch : batch.contiguous();
        var eps = noise.is_contiguous() ? noise : noise.contiguous();

        // Encoder: hᵢ = ReLU(hᵢ₋₁Wᵢᵀ + bᵢ), kept for the backward pass.
        var hidden = new Tensor[_encoder.Length + 1];
        hidden[0] = x;
        for (int i = 0; i < _encoder.Length; i++)
            hidden[i + 1] = LinearRelu(hidden[i], _encoder[i]);
        var top = hidden[^1];
        int l = _latent;
        var mu = Product(top, _mu);
        var logVar = Product(top, _logVar);
        var z = empty(rows, l);
        var spread = empty(rows, l);          // e^{λ/2}ε, for ∂z/∂λ
        var dMu = empty(rows, l);
        var dLogVar = empty(rows, l);
        double kl = Reparameterize(rows, l, mu, logVar, eps, _mu.bias!, _logVar.bias!, z, spread, dMu, dLogVar, beta);

        // Decoder: the hidden layers, then the logits.
        var decoded = new Tensor[_decoder.Length];
        decoded[0] = z;
        for (int j = 0; j < _decoder.Length - 1; j++)
            decoded[j + 1] = LinearRelu(decoded[j], _decoder[j]);
        var output = _decoder[^1];
        var logits = Product(decoded[^1], output);
        var delta = empty(rows, _input);
        var rowNll = new double[rows];
        if (_sigma is double sigma)
            GaussianPass(rows, logits, output.bias!, x, delta, rowNll, sigma);
        else
            BernoulliPass(rows, logits, output.bias!, x, delta, rowNll);
        double reconstruction = rowNll.Sum() / rows;

        // Backward through the decoder: δ is ∂L/∂(the layer's output before its bias and ReLU).
        for (int j = _decoder.Length - 1; j >= 0; j--)
        {
            var layer = _decoder[j];
            WeightGradient(layer, delta, decoded[j]);
            var below = empty(rows, decoded[j].shape[1]);
            below.addmm_(delta, layer.weight!, 0, 1);                                   // δW
            if (j > 0)
                ReluBackward(below, decoded[j]);
            delta = below;
        }
        // delta is ∂L/∂z now: into μ and λ.
        LatentBackward(rows * l, delta, spread, dMu, dLogVar);
        WeightGradient(_mu, dMu, top);
        WeightGradient(_logVar, dLogVar, top);
        if (_encoder.Length == 0)
            return Result(reconstruction, kl / rows, beta);                            // the input's gradient is not needed
        delta = empty(rows, top.shape[1]);
        delta.addmm_(dMu, _mu.weight!, 0, 1);
        delta.addmm_(dLogVar, _logVar.weight!, 1, 1);
        // Backward through the encoder (the input's gradient is not needed).
        for (int i = _encoder.Length - 1; i >= 0; i--)
        {
            ReluBackward(delta, hidden[i + 1]);
            WeightGradient(_encoder[i], delta, hidden[i]);
            if (i > 0)
            {
                var below = empty(rows, hidden[i].shape[1]);
                below.addmm_(delta, _encoder[i].weight!, 0, 1);
                delta = below;
            }
        }
        return Result(reconstruction, kl / rows, beta);
    }

    /// <summary>
    /// The loss and its terms rounded to float32, as the autograd step computes them: a loss that overflows float32 is
    /// +∞ here too (then refused before any weight changes), even where its float64 sum would still be finite.
    /// </summary>
    private static (double Loss, double Reconstruction, double Kl) Result(double reconstruction, double kl, double beta)
    {
        float r = (float)reconstruction, k = (float)kl;
        return ((float)beta * k + r, r, k);
    }

    /// <summary>A part's rows.</summary>
    private static (int From, int To) Rows(int rows, int part, int parts)
    {
        var (from, to) = OpenMpTeam.Range(rows, part, parts);
        return ((int)from, (int)to);
    }

    /// <summary>A part's elements (or columns), on whole vectors of 8 floats.</summary>
    private static (int From, int To) Elements(int count, int part, int parts)
    {
        var (from, to) = OpenMpTeam.Range(count, part, parts, alignment: 8);
        return ((int)from, (int)to);
    }

    private static float* Pointer(Tensor t) => (float*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(VectorMath.Span<float>(t)));

    /// <summary>h Wᵀ [B, out] without the bias (added by the pass that follows).</summary>
    private static Tensor Product(Tensor h, Linear layer)
    {
        var result = empty(h.shape[0], layer.weight!.shape[0]);
        using var transposed = layer.weight!.t();
        result.addmm_(h, transposed, 0, 1);
        return result;
    }

    /// <summary>ReLU(h Wᵀ + b), [B, out].</summary>
    private static Tensor LinearRelu(Tensor h, Linear layer)
    {
        var a = Product(h, layer);
        int rows = (int)a.shape[0], n = (int)a.shape[1];
        float* pa = Pointer(a), pb = Pointer(layer.bias!);
        OpenMpTeam.For(rows * n < ParallelElements ? 1 : int.MaxValue, (part, parts) =>
        {
            var bias = new ReadOnlySpan<float>(pb, n);
            for (var (r, end) = Rows(rows, part, parts); r < end; r++)
            {
                var row = new Span<float>(pa + (long)r * n, n);
                int j = 0;
                for (; j + 8 <= n; j += 8)
                    Vector256.Max(Vector256.Create<float>(row.Slice(j)) + Vector256.Create(bias.Slice(j)), Vector256<float>.Zero).CopyTo(row.Slice(j));
                for (; j < n; j++)
                    row[j] = MathF.Max(row[j] + bias[j], 0);
            }
        });
        return a;
    }

    /// <summary>δ ← δ ⊙ 1[h &gt; 0], where h is the layer's ReLU output.</summary>
    private static void ReluBackward(Tensor delta, Tensor h)
    {
        int count = checked((int)delta.numel());
        float* pd = Pointer(delta), ph = Pointer(h);
        OpenMpTeam.For(count < ParallelElements ? 1 : int.MaxValue, (part, parts) =>
        {
            var (from, to) = Elements(count, part, parts);
            var d = new Span<float>(pd + from, to - from);
            var hs = new ReadOnlySpan<float>(ph + from, to - from);
            int i = 0;
            for (; i + 8 <= d.Length; i += 8)
                Vector256.ConditionalSelect(Vector256.GreaterThan(Vector256.Create(hs.Slice(i)), Vector256<float>.Zero),
                    Vector256.Create<float>(d.Slice(i)), Vector256<float>.Zero).CopyTo(d.Slice(i));
            for (; i < d.Length; i++)
                if (!(hs[i] > 0))
                    d[i] = 0;
        });
    }

    /// <summary>∂W = δᵀh (overwriting the weight's gradient) and ∂b = Σ_r δ (the bias's).</summary>
    private static void WeightGradient(Linear layer, Tensor delta, Tensor h)
    {
        using (var deltaT = delta.t())
            layer.weight!.grad!.addmm_(deltaT, h, 0, 1);
        int rows = (int)delta.shape[0], n = (int)delta.shape[1];
        float* pd = Pointer(delta), pg = Pointer(layer.bias!.grad!);
        OpenMpTeam.For(rows * n < ParallelElements ? 1 : int.MaxValue, (part, parts) =>
        {
            // Columns [from, to) summed over the rows in float32, row after row (libtorch's sum is a cascade: last-bit
            // differences, 3e-7 of the scale at 9,000 rows).
            var (from, to) = Elements(n, part, parts);
            var sums = new Span<float>(pg + from, to - from);
            sums.Clear();
            for (int r = 0; r < rows; r++)
            {
                var row = new ReadOnlySpan<float>(pd + (long)r * n + from, to - from);
                int j = 0;
                for (; j + 8 <= sums.Length; j += 8)
                    (Vector256.Create<float>(sums.Slice(j)) + Vector256.Create(row.Slice(j))).CopyTo(sums.Slice(j));
                for (; j < sums.Length; j++)
                    sums[j] += row[j];
            }
        });
    }

    /// <summary>
    /// μ += b_μ, λ += b_λ; z = μ + e^{λ/2}ε; the KL term's sum over the batch (returned) and its gradients
    /// β·μ/B and β·½·expm1(λ)/B.
    /// </summary>
    private static double Reparameterize(int rows, int l, Tensor mu, Tensor logVar, Tensor eps, Tensor muBias, Tensor logVarBias,
        Tensor z, Tensor spread, Tensor dMu, Tensor dLogVar, double beta)
    {
        var m = VectorMath.Span<float>(mu);
        var lv = VectorMath.Span<float>(logVar);
        var e = VectorMath.Span<float>(eps);
        var bm = VectorMath.Span<float>(muBias);
        var bl = VectorMath.Span<float>(logVarBias);
        var zs = VectorMath.Span<float>(z);
        var s = VectorMath.Span<float>(spread);
        var gm = VectorMath.Span<float>(dMu);
        var gl = VectorMath.Span<float>(dLogVar);
        double kl = 0, scale = beta / rows;
        for (int r = 0, i = 0; r < rows; r++)
        {
            for (int j = 0; j < l; j++, i++)
            {
                float mi = m[i] + bm[j], li = lv[i] + bl[j];
                double g = LossMath.ExpMinusOneMinusX(Math.Min(li, 1e4));
                kl += 0.5 * ((double)mi * mi + g);
                float se = MathF.Exp(0.5f * li) * e[i];
                s[i] = se;
                zs[i] = mi + se;
                gm[i] = (float)(scale * mi);
                gl[i] = (float)(scale * 0.5 * (li + g));           // ½·expm1(λ) = ½(λ + g(λ))
            }
        }
        return kl;
    }

    /// <summary>∂L/∂μ += ∂L/∂z; ∂L/∂λ += ∂L/∂z ⊙ ½e^{λ/2}ε.</summary>
    private static void LatentBackward(int count, Tensor dz, Tensor spread, Tensor dMu, Tensor dLogVar)
    {
        var d = VectorMath.Span<float>(dz);
        var s = VectorMath.Span<float>(spread);
        var gm = VectorMath.Span<float>(dMu);
        var gl = VectorMath.Span<float>(dLogVar);
        for (int i = 0; i < count; i++)
        {
            gm[i] += d[i];
            gl[i] += d[i] * 0.5f * s[i];
        }
    }

    /// <summary>
    /// Per row, logits ℓ = (the product) + b: the NLL Σ_d max(ℓ,0) − ℓx + log1p(e^{−|ℓ|}) into <paramref name="rowNll"/>
    /// and ∂/∂ℓ of the batch mean, (σ(ℓ) − x)/B, into <paramref name="delta"/>.
    /// </summary>
    private static void BernoulliPass(int rows, Tensor logits, Tensor bias, Tensor x, Tensor delta, double[] rowNll)
    {
        int n = (int)logits.shape[1];
        float* pl = Pointer(logits), pb = Pointer(bias), px = Pointer(x), pd = Pointer(delta);
        float inverseRows = 1f / rows;
        OpenMpTeam.For(rows * n < ParallelElements ? 1 : int.MaxValue, (part, parts) =>
        {
            var b = new ReadOnlySpan<float>(pb, n);
            var zero = Vector256<float>.Zero;
            var one = Vector256.Create(1f);
            var scale = Vector256.Create(inverseRows);
            for (var (r, end) = Rows(rows, part, parts); r < end; r++)
            {
                var lr = new ReadOnlySpan<float>(pl + (long)r * n, n);
                var xr = new ReadOnlySpan<float>(px + (long)r * n, n);
                var dr = new Span<float>(pd + (long)r * n, n);
                var sum = Vector256<float>.Zero;
                int j = 0;
                for (; j + 8 <= n; j += 8)
                {
                    var v = Vector256.Create(lr.Slice(j)) + Vector256.Create(b.Slice(j));
                    var t = Vector256.Create(xr.Slice(j));
                    var e = VectorMath.ExpSingle(-Vector256.Abs(v));                     // e^{−|ℓ|} ∈ (0, 1]
                    sum += Vector256.Max(v, zero) - v * t + VectorMath.Log1pUnit(e);
                    var inverse = one / (one + e);                                        // σ(|ℓ|)
                    var sigmoid = Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(v, zero), inverse, e * inverse);
                    ((sigmoid - t) * scale).CopyTo(dr.Slice(j));
                }
                double total = Vector256.Sum(sum);
                for (; j < n; j++)
                {
                    float v = lr[j] + b[j], t = xr[j], e = MathF.Exp(-MathF.Abs(v));
                    total += MathF.Max(v, 0) - v * t + Math.Log(1 + (double)e);
                    dr[j] = ((v >= 0 ? 1 / (1 + e) : e / (1 + e)) - t) * inverseRows;
                }
                rowNll[r] = total;
            }
        });
    }

    /// <summary>
    /// Per row, means μ = (the product) + b: the NLL ½Σ_d t² + D(½ log 2π + log σ) with t = (x − μ)/σ (as
    /// <see cref="VaeLosses.GaussianNll(Tensor, Tensor, double, LossReduction)"/>) into <paramref name="rowNll"/> and
    /// ∂/∂μ of the batch mean, −t/(σB), into <paramref name="delta"/>.
    /// </summary>
    private static void GaussianPass(int rows, Tensor means, Tensor bias, Tensor x, Tensor delta, double[] rowNll, double sigma)
    {
        int n = (int)means.shape[1];
        float* pm = Pointer(means), pb = Pointer(bias), px = Pointer(x), pd = Pointer(delta);
        float inverseSigma = (float)(1 / sigma), gradientScale = (float)(-1 / sigma / rows);
        double constant = n * (LossReducer.HalfLog2Pi + Math.Log(sigma));
        OpenMpTeam.For(rows * n < ParallelElements ? 1 : int.MaxValue, (part, parts) =>
        {
            var b = new ReadOnlySpan<float>(pb, n);
            var inverse = Vector256.Create(inverseSigma);
            var scale = Vector256.Create(gradientScale);
            for (var (r, end) = Rows(rows, part, parts); r < end; r++)
            {
                var mr = new ReadOnlySpan<float>(pm + (long)r * n, n);
                var xr = new ReadOnlySpan<float>(px + (long)r * n, n);
                var dr = new Span<float>(pd + (long)r * n, n);
                var sum = Vector256<float>.Zero;
                int j = 0;
                for (; j + 8 <= n; j += 8)
                {
                    var t = (Vector256.Create(xr.Slice(j)) - Vector256.Create(mr.Slice(j)) - Vector256.Create(b.Slice(j))) * inverse;
                    sum += t * t;
                    (t * scale).CopyTo(dr.Slice(j));
                }
                double total = Vector256.Sum(sum);
                for (; j < n; j++)
                {
                    float t = (xr[j] - mr[j] - b[j]) * inverseSigma;
                    total += t * t;
                    dr[j] = t * gradientScale;
                }
                rowNll[r] = 0.5 * total + constant;
            }
        });
    }

    /// <summary>Below this many elements a pass runs on the calling thread (libtorch's grain size).</summary>
    private const int ParallelElements = 32_768;
}
