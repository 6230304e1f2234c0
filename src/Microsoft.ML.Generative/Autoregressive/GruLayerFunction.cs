using System;
using System.Collections.Generic;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using TorchSharp;
using static Microsoft.ML.Generative.VectorMath;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Autoregressive;

/// <summary>
/// One GRU layer run over a batch of whole sequences as a single autograd operation, for training. The equations and
/// weight layout are <c>nn.GRU</c>'s (Cho et al. 2014, PyTorch's variant): with gates ordered (r, z, n) in the rows of
/// <c>W_ih [3H, E]</c>, <c>W_hh [3H, H]</c>, <c>b_ih</c>, <c>b_hh [3H]</c>,
/// <c>r = σ(W_ir x + b_ir + W_hr h + b_hr)</c>, <c>z = σ(W_iz x + b_iz + W_hz h + b_hz)</c>,
/// <c>n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))</c>, <c>h' = (h − n) ⊙ z + n</c>, from a zero initial state.
/// <para>Why: <c>nn.GRU</c> on the CPU runs each time step as a dozen small libtorch kernels, each recorded by autograd,
/// and as many again backward. Here each time step forward is one matrix product (<c>h·W_hhᵀ</c>) and one vectorized
/// .NET pass (the three gates and the new state); backward is one pass and one product (<c>δ·W_hh</c>); the input
/// projection and every weight gradient are single products over all time steps (<c>W_hh</c>'s gradient is formed
/// after the time loop from the saved per-step gate gradients). Forward + backward at batch 64, T = 12, E = 32,
/// H = 128 on one thread: 6.7 ms against nn.GRU's 11.9 (docs/benchmarks.md). Tests compare outputs and all five
/// gradients with <c>nn.GRU</c>'s autograd in float64.</para>
/// </summary>
internal sealed class GruLayerFunction : autograd.MultiTensorFunction<GruLayerFunction>
{
    public override string Name => nameof(GruLayerFunction);

    /// <summary>
    /// <paramref name="x"/> <c>[B, T, E]</c> (batch first, contiguous or not) → the hidden states <c>[B, T, H]</c>.
    /// float32 or float64 (all five tensors one type); gradients flow to every argument. Call it inside a dispose
    /// scope (the training step's): the tensors kept for backward are released with it. Vectorized where
    /// <c>Vector256</c> is hardware-accelerated (x64 with AVX2), scalar otherwise; the lanes use
    /// <see cref="VectorMath.ExpSingle"/> and a hidden size's scalar tail <c>float.Exp</c>, so float32 results agree
    /// with nn.GRU to rounding, not bit for bit.
    /// </summary>
    public static Tensor Apply(Tensor x, Tensor weightIh, Tensor weightHh, Tensor biasIh, Tensor biasHh)
        => apply(x, weightIh, weightHh, biasIh, biasHh)[0];

    /// <summary>
    /// Whether a batch fits the kernel's spans: the saved gates, [T, B, 4H], and every other buffer must have fewer than
    /// 2³¹ elements (callers use <c>nn.GRU</c> otherwise).
    /// </summary>
    public static bool Fits(long batch, long time, long hidden, long input)
        => (time + 1) * batch * 4 * Math.Max(hidden, input) < int.MaxValue;

    public override List<Tensor> forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var x = (Tensor)vars[0];
        var wIh = (Tensor)vars[1];
        var wHh = (Tensor)vars[2];
        var bIh = (Tensor)vars[3];
        var bHh = (Tensor)vars[4];
        long batch = x.shape[0], time = x.shape[1], inputSize = x.shape[2], hidden = wHh.shape[1];
        var xt = x.transpose(0, 1).contiguous();                                        // [T, B, E]
        var hs = empty(new[] { time + 1, batch, hidden }, x.dtype);                      // hs[0] = 0, hs[s + 1] = h_s
        var gates = empty(new[] { time, batch, 4 * hidden }, x.dtype);                   // r, z, n, W_hn h + b_hn
        using (var wIhT = wIh.t())
        using (var flat = xt.view(time * batch, inputSize))
        using (var gi = addmm(bIh, flat, wIhT, 1, 1))                                          // [T·B, 3H]
        using (var wHhT = wHh.t())
        {
            if (x.dtype == ScalarType.Float32) Run<float>(gi, hs, gates, wHhT, bHh, time, batch, hidden);
            else if (x.dtype == ScalarType.Float64) Run<double>(gi, hs, gates, wHhT, bHh, time, batch, hidden);
            else throw new NotSupportedException($"GruLayerFunction: {x.dtype} is not supported (float32 or float64).");
        }
        ctx.save_for_backward(new List<Tensor> { xt, wIh, wHh, hs, gates });
        using var states = hs.narrow(0, 1, time);
        using var batchFirst = states.transpose(0, 1);
        return new List<Tensor> { batchFirst.contiguous() };
    }

    private static void Run<T>(Tensor gi, Tensor hs, Tensor gates, Tensor wHhT, Tensor bHh, long time, long batch, long hidden)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int b = checked((int)batch), h = checked((int)hidden), bh = b * h;
        Span<T> inputs = VectorMath.Span<T>(gi), states = VectorMath.Span<T>(hs), kept = VectorMath.Span<T>(gates);
        Span<T> bias = VectorMath.Span<T>(bHh);
        states.Slice(0, bh).Clear();
        for (long s = 0; s < time; s++)
        {
            int at = checked((int)(s * bh));
            using var previous = hs.select(0, s);
            using var gh = previous.mm(wHhT);                                             // [B, 3H], without b_hh
            ForwardStep(inputs.Slice(3 * at, 3 * bh), VectorMath.Span<T>(gh), bias, states.Slice(at, 2 * bh), kept.Slice(4 * at, 4 * bh), b, h);
        }
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, List<Tensor> gradOutputs)
    {
        var saved = ctx.get_saved_variables();
        Tensor xt = saved[0], wIh = saved[1], wHh = saved[2], hs = saved[3], gates = saved[4];
        long time = xt.shape[0], batch = xt.shape[1], inputSize = xt.shape[2], hidden = wHh.shape[1];
        using var dyBatchFirst = gradOutputs[0];
        using var dyTimeFirst = dyBatchFirst.transpose(0, 1);
        using var dy = dyTimeFirst.contiguous();                                         // [T, B, H]
        using var dGi = empty(new[] { time * batch, 3 * hidden }, xt.dtype);             // ∂L/∂(W_ih x + b_ih)
        using var dGh = empty(new[] { time * batch, 3 * hidden }, xt.dtype);             // ∂L/∂(W_hh h + b_hh)
        if (xt.dtype == ScalarType.Float32) Back<float>(dy, hs, gates, dGi, dGh, wHh, time, batch, hidden);
        else Back<double>(dy, hs, gates, dGi, dGh, wHh, time, batch, hidden);

        using var previous = hs.narrow(0, 0, time);
        using var previousFlat = previous.reshape(time * batch, hidden);
        using var xFlat = xt.view(time * batch, inputSize);
        using var dGhT = dGh.t();
        using var dGiT = dGi.t();
        var dWhh = dGhT.mm(previousFlat);
        var dWih = dGiT.mm(xFlat);
        var dbHh = dGh.sum(new long[] { 0 });
        var dbIh = dGi.sum(new long[] { 0 });
        using var dxFlat = dGi.mm(wIh);                                                   // [T·B, E]
        using var dxTimeFirst = dxFlat.view(time, batch, inputSize);
        using var dxBatchFirst = dxTimeFirst.transpose(0, 1);
        var dx = dxBatchFirst.contiguous();
        foreach (var t in saved) t.Dispose();
        return new List<Tensor> { dx, dWih, dWhh, dbIh, dbHh };
    }

    private static void Back<T>(Tensor dy, Tensor hs, Tensor gates, Tensor dGi, Tensor dGh, Tensor wHh, long time, long batch, long hidden)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int b = checked((int)batch), h = checked((int)hidden), bh = b * h;
        var carry = new T[bh];                                                            // z ⊙ ∂L/∂h_{s+1}
        Span<T> upstream = VectorMath.Span<T>(dy), states = VectorMath.Span<T>(hs), kept = VectorMath.Span<T>(gates);
        Span<T> inputGradient = VectorMath.Span<T>(dGi), recurrentGradient = VectorMath.Span<T>(dGh);
        Tensor? recurrent = null;                                                         // ∂L/∂(W_hh h_s)·W_hh
        try
        {
            for (long s = time - 1; s >= 0; s--)
            {
                int at = checked((int)(s * bh));
                BackwardStep(upstream.Slice(at, bh), carry, recurrent is null ? default : VectorMath.Span<T>(recurrent),
                    states.Slice(at, bh), kept.Slice(4 * at, 4 * bh), inputGradient.Slice(3 * at, 3 * bh),
                    recurrentGradient.Slice(3 * at, 3 * bh), b, h);
                recurrent?.Dispose();
                recurrent = null;
                if (s > 0)
                {
                    using var step = dGh.narrow(0, s * batch, batch);
                    recurrent = step.mm(wHh);                                             // [B, H]
                }
            }
        }
        finally
        {
            recurrent?.Dispose();
        }
    }

    /// <summary>One time step forward for every row: gates and the new state (<paramref name="states"/> holds h_{s−1} then h_s).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void ForwardStep<T>(ReadOnlySpan<T> gi, ReadOnlySpan<T> gh, ReadOnlySpan<T> bHh, Span<T> states, Span<T> gates, int batch, int h)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = Vector256.IsHardwareAccelerated ? Vector256<T>.Count : int.MaxValue;
        for (int b = 0; b < batch; b++)
        {
            var giRow = gi.Slice(3 * h * b, 3 * h);
            var ghRow = gh.Slice(3 * h * b, 3 * h);
            var previous = states.Slice(h * b, h);
            var next = states.Slice(h * (batch + b), h);
            var g = gates.Slice(4 * h * b, 4 * h);
            int j = 0;
            for (; j + n <= h; j += n)
            {
                var r = Sigmoid(Vector256.Create(giRow.Slice(j)) + Vector256.Create(ghRow.Slice(j)) + Vector256.Create(bHh.Slice(j)));
                var z = Sigmoid(Vector256.Create(giRow.Slice(h + j)) + Vector256.Create(ghRow.Slice(h + j)) + Vector256.Create(bHh.Slice(h + j)));
                var hn = Vector256.Create(ghRow.Slice(2 * h + j)) + Vector256.Create(bHh.Slice(2 * h + j));
                var nv = Tanh(Vector256.Create(giRow.Slice(2 * h + j)) + r * hn);
                (((Vector256.Create(previous.Slice(j)) - nv) * z) + nv).CopyTo(next.Slice(j));
                r.CopyTo(g.Slice(j));
                z.CopyTo(g.Slice(h + j));
                nv.CopyTo(g.Slice(2 * h + j));
                hn.CopyTo(g.Slice(3 * h + j));
            }
            for (; j < h; j++)
            {
                T r = Sigmoid(giRow[j] + ghRow[j] + bHh[j]);
                T z = Sigmoid(giRow[h + j] + ghRow[h + j] + bHh[h + j]);
                T hn = ghRow[2 * h + j] + bHh[2 * h + j];
                T nv = Tanh(giRow[2 * h + j] + r * hn);
                next[j] = (previous[j] - nv) * z + nv;
                g[j] = r;
                g[h + j] = z;
                g[2 * h + j] = nv;
                g[3 * h + j] = hn;
            }
        }
    }

    /// <summary>
    /// One time step backward for every row: from ∂L/∂h_s = dy + <paramref name="carry"/> + <paramref name="recurrent"/>
    /// (empty at the last step) to the pre-activation gradients of the input and recurrent products; leaves z ⊙ ∂L/∂h_s
    /// in <paramref name="carry"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void BackwardStep<T>(ReadOnlySpan<T> dy, Span<T> carry, ReadOnlySpan<T> recurrent, ReadOnlySpan<T> previous,
        ReadOnlySpan<T> gates, Span<T> dGi, Span<T> dGh, int batch, int h)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = Vector256.IsHardwareAccelerated ? Vector256<T>.Count : int.MaxValue;
        bool first = recurrent.IsEmpty;
        for (int b = 0; b < batch; b++)
        {
            int row = h * b;
            var g = gates.Slice(4 * row, 4 * h);
            var gi = dGi.Slice(3 * row, 3 * h);
            var gh = dGh.Slice(3 * row, 3 * h);
            int j = 0;
            for (; j + n <= h; j += n)
            {
                var dh = Vector256.Create(dy.Slice(row + j)) + Vector256.Create(carry.Slice(row + j));
                if (!first) dh += Vector256.Create(recurrent.Slice(row + j));
                var r = Vector256.Create(g.Slice(j));
                var z = Vector256.Create(g.Slice(h + j));
                var nv = Vector256.Create(g.Slice(2 * h + j));
                var hn = Vector256.Create(g.Slice(3 * h + j));
                var dz = dh * (Vector256.Create(previous.Slice(row + j)) - nv);
                var dn = (dh - dh * z) * (Vector256<T>.One - nv * nv);
                var dr = dn * hn * r * (Vector256<T>.One - r);
                var dzPre = dz * z * (Vector256<T>.One - z);
                dr.CopyTo(gi.Slice(j));
                dzPre.CopyTo(gi.Slice(h + j));
                dn.CopyTo(gi.Slice(2 * h + j));
                dr.CopyTo(gh.Slice(j));
                dzPre.CopyTo(gh.Slice(h + j));
                (dn * r).CopyTo(gh.Slice(2 * h + j));
                (dh * z).CopyTo(carry.Slice(row + j));
            }
            for (; j < h; j++)
            {
                T dh = dy[row + j] + carry[row + j];
                if (!first) dh += recurrent[row + j];
                T r = g[j], z = g[h + j], nv = g[2 * h + j], hn = g[3 * h + j];
                T dz = dh * (previous[row + j] - nv);
                T dn = (dh - dh * z) * (T.One - nv * nv);
                T dr = dn * hn * r * (T.One - r);
                T dzPre = dz * z * (T.One - z);
                gi[j] = dr;
                gi[h + j] = dzPre;
                gi[2 * h + j] = dn;
                gh[j] = dr;
                gh[h + j] = dzPre;
                gh[2 * h + j] = dn * r;
                carry[row + j] = dh * z;
            }
        }
    }
}
