using System;
using System.Collections.Generic;
using System.Linq;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Training;

/// <summary>
/// Adam and AdamW (Kingma and Ba, 2015; Loshchilov and Hutter, 2019) over one flat buffer: the parameters become
/// views of one contiguous tensor and their gradients views of another, so that a step is one fused pass over the
/// whole model (instead of about ten libtorch operations per parameter tensor), gradient clipping is one norm, and
/// an all-reduce has one buffer to send. Optionally, chosen matrices are trained with <see cref="Muon"/> instead (stored
/// after Adam's parameters in the same buffers, so clipping and the all-reduce still see one gradient).
/// </summary>
/// <remarks>
/// <para>Same arithmetic, element by element, as <c>torch.optim.Adam</c>/<c>AdamW</c> (the single-tensor form):
/// m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)g²; θ ← θ − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε). Adam adds
/// λθ to g first (L2 penalty); AdamW multiplies θ by (1 − lr·λ) first (decoupled weight decay).</para>
/// <para>Why it exists: TorchSharp 0.107's own Adam costs about a third of a small model's step, and the temporary
/// tensors of its step are released only by the .NET finalizer, so resident memory grows by ~100 MiB per epoch of
/// the 784-400-20 VAE until a garbage collection happens to run (measured: docs/benchmarks.md). The buffers are
/// managed arrays shared (not copied) with libtorch, and the update is one vectorized pass over them: on the 652,824
/// weights of that VAE, 0.45 ms on one thread against 1.5 ms for the same update as six libtorch operations over the
/// flat buffers on two (docs/benchmarks.md, stop 10). From <see cref="ParallelThreshold"/> weights up the pass is split
/// over libtorch's own OpenMP threads (<see cref="OpenMpTeam"/>): inside the VAE's training step 0.6–0.7 ms instead of
/// 1.0–1.1, the whole step ~6–12% faster (stop 12).</para>
/// <para>Gradients accumulate into the flat buffer (autograd adds into an existing gradient in place), so
/// <see cref="ZeroGrad"/> zeroes it and never sets gradients to null. A parameter may belong to one
/// <see cref="FlatAdam"/> only; moving the module to another device afterwards is not supported.</para>
/// </remarks>
internal sealed class FlatAdam : IDisposable
{
    private readonly Parameter[] _parameters;
    private readonly Tensor _values;     // [P] every parameter, concatenated (over _valueStorage)
    private readonly Array _valueStorage;      // the pinned array under _values (float[] or double[])
    private readonly int _valueOffset;         // where _values starts in it (a 64-byte boundary)
    private readonly Tensor _gradients;  // [P] their gradients: the first P elements of _exchange
    private readonly Tensor _exchange;   // [P + 2] gradients, weight, weighted loss: the all-reduce buffer
    private readonly Array _exchangeStorage;   // the pinned array under _exchange (float[] or double[])
    private readonly int _exchangeOffset;      // where _exchange starts in it (a 64-byte boundary)
    private readonly Array _m;           // [P] first moment (float[] or double[])
    private readonly Array _v;           // [P] second moment
    private readonly double _beta1;
    private readonly double _beta2;
    private readonly double _epsilon;
    private readonly double _weightDecay;
    private readonly long _decayed;      // the first _decayed elements take weight decay
    private readonly long _adamCount;    // the first _adamCount elements are Adam's; Muon's matrices follow
    private readonly Muon? _muon;
    private readonly double _initialLearningRate;
    private readonly bool _decoupled;
    private long _steps;

    /// <param name="parameters">The parameters to train (those that do not require gradients are skipped).</param>
    /// <param name="learningRate">Step size lr.</param>
    /// <param name="beta1">β₁ of the first moment.</param>
    /// <param name="beta2">β₂ of the second moment.</param>
    /// <param name="epsilon">ε added to √v̂.</param>
    /// <param name="weightDecay">λ: an L2 penalty (Adam) or decoupled decay (AdamW).</param>
    /// <param name="decoupled">True for AdamW.</param>
    /// <param name="decays">
    /// Which parameters take weight decay (null: all), e.g. matrices but not biases and LayerNorm gains, as
    /// nanoGPT's two AdamW parameter groups; the decayed ones are stored first, so decay is one operation on a prefix.
    /// </param>
    /// <param name="orthogonalized">
    /// Matrices trained with Muon instead of Adam (null: none); see <see cref="Muon"/>. They take no weight decay.
    /// </param>
    /// <param name="muonLearningRate">Muon's step size at the schedule's full rate.</param>
    public FlatAdam(IEnumerable<Parameter> parameters, double learningRate, double beta1 = 0.9, double beta2 = 0.999,
        double epsilon = 1e-8, double weightDecay = 0, bool decoupled = false, Func<Parameter, bool>? decays = null,
        Func<Parameter, bool>? orthogonalized = null, double muonLearningRate = 0.02)
    {
        var trained = parameters.Where(p => p.requires_grad).ToArray();
        if (trained.Select(p => p.Handle).Distinct().Count() != trained.Length)
            throw new ArgumentException("A parameter is listed twice (tied weights must be one parameter).", nameof(parameters));
        var muon = orthogonalized is null ? Array.Empty<Parameter>() : trained.Where(orthogonalized).ToArray();
        if (muon.Any(p => p.dim() != 2))
            throw new ArgumentException("Muon trains matrices only.", nameof(orthogonalized));
        var adam = trained.Except(muon).ToArray();
        // Adam's parameters first (those with weight decay before the others), Muon's matrices last.
        var decayedFirst = decays is null ? adam : adam.Where(decays).Concat(adam.Where(p => !decays(p))).ToArray();
        _parameters = decayedFirst.Concat(muon).ToArray();
        _decayed = decays is null ? adam.Sum(p => p.numel()) : adam.Where(decays).Sum(p => p.numel());
        _adamCount = adam.Sum(p => p.numel());
        if (_parameters.Length == 0)
            throw new ArgumentException("There are no parameters to train.", nameof(parameters));
        var first = _parameters[0];
        if (_parameters.Any(p => p.dtype != first.dtype || p.device_type != first.device_type || p.device_index != first.device_index))
            throw new ArgumentException("All parameters must have one dtype and one device.", nameof(parameters));
        LearningRate = learningRate;
        _initialLearningRate = learningRate;
        _beta1 = beta1;
        _beta2 = beta2;
        _epsilon = epsilon;
        _weightDecay = weightDecay;
        _decoupled = decoupled;

        long total = _parameters.Sum(p => p.numel());
        using var noGrad = no_grad();
        if (first.device_type != DeviceType.CPU || (first.dtype != ScalarType.Float32 && first.dtype != ScalarType.Float64))
            throw new ArgumentException("FlatAdam trains float32 or float64 parameters on the CPU.", nameof(parameters));
        const int padding = 2 + 64 / sizeof(float);   // the all-reduce's two elements, and room to align (AlignedArray)
        if (total + padding > Array.MaxLength)
            throw new ArgumentException($"The model has {total:N0} weights; FlatAdam holds at most {Array.MaxLength - padding:N0}.", nameof(parameters));
        bool single = first.dtype == ScalarType.Float32;
        // Every buffer is a managed array, shared (not copied) with libtorch: the update runs over them in .NET, and
        // MPI reduces the gradients in place; two more gradient elements carry the step's weight and weighted loss in
        // the same all-reduce.
        (_valueStorage, _valueOffset) = single ? AlignedArray<float>(total) : AlignedArray<double>(total);
        _values = frombuffer(_valueStorage, first.dtype, total, _valueOffset);
        (_exchangeStorage, _exchangeOffset) = single ? AlignedArray<float>(total + 2) : AlignedArray<double>(total + 2);
        _exchange = frombuffer(_exchangeStorage, first.dtype, total + 2, _exchangeOffset);
        _gradients = _exchange.narrow(0, 0, total);
        _m = single ? new float[total] : new double[total];
        _v = single ? new float[total] : new double[total];
        long offset = 0;
        foreach (var p in _parameters)
        {
            long n = p.numel();
            var shape = p.shape;
            using (var slice = _values.narrow(0, offset, n))
            {
                using (var flat = p.reshape(-1))
                    slice.copy_(flat);
                using var view = slice.view(shape);
                p.set_(view);                          // the parameter now lives in _values
            }
            using (var gradientSlice = _gradients.narrow(0, offset, n))
            using (var gradientView = gradientSlice.view(shape))
                p.grad = gradientView;                 // backward adds into _gradients in place
            offset += n;
        }
        _muon = muon.Length == 0 ? null : new Muon(muon, _gradients.narrow(0, _adamCount, total - _adamCount), muonLearningRate);
    }

    /// <summary>The step size; a schedule may change it between steps.</summary>
    public double LearningRate { get; set; }

    /// <summary>The matrices trained with Muon (empty: none).</summary>
    internal IReadOnlyList<Parameter> OrthogonalizedParameters => _muon?.Matrices ?? Array.Empty<Parameter>();

    /// <summary>The trained parameters, in the order of the flat buffers (those that take weight decay first).</summary>
    public IReadOnlyList<Parameter> Parameters => _parameters;

    /// <summary>Number of elements in the flat buffers.</summary>
    public long Count => _values.shape[0];

    /// <summary>The flat gradient buffer <c>[P]</c> (views of it are the parameters' gradients).</summary>
    internal Tensor Gradients => _gradients;

    /// <summary>
    /// Data-parallel step, between <c>backward()</c> and clipping: the gradients, computed on
    /// <paramref name="weight"/> × this rank's mean loss (so that they are the sum over its rows), are summed over
    /// every rank in one all-reduce of the flat buffer, together with the weights and the weighted losses, and divided
    /// by the total weight: the gradient of the global batch's mean loss, as one process would compute it. Returns the
    /// global batch's mean loss (the same number on every rank). <paramref name="weight"/> is this rank's rows (or
    /// tokens) in the step, 0 for a rank without rows.
    /// </summary>
    internal double AllReduceGradients(Distributed.Communicator communicator, double weight, double loss)
    {
        long p = Count;
        double weightedLoss = weight == 0 ? 0 : weight * loss;
        double total, sum;
        int at = _exchangeOffset + (int)p;   // the weight and the weighted loss follow the gradients
        if (_exchangeStorage is float[] f)
        {
            f[at] = (float)weight;
            f[at + 1] = (float)weightedLoss;
            communicator.AllReduce(f.AsSpan(_exchangeOffset, (int)p + 2));
            (total, sum) = (f[at], f[at + 1]);
        }
        else
        {
            var d = (double[])_exchangeStorage;
            d[at] = weight;
            d[at + 1] = weightedLoss;
            communicator.AllReduce(d.AsSpan(_exchangeOffset, (int)p + 2));
            (total, sum) = (d[at], d[at + 1]);
        }
        using (no_grad())
            _gradients.div_(total);
        return sum / total;
    }

    /// <summary>Sets every gradient to zero (in place: the gradients stay views of the flat buffer).</summary>
    public void ZeroGrad() => _gradients.zero_();

    /// <summary>
    /// Scales the gradients so that their global L2 norm is at most <paramref name="maxNorm"/>, as
    /// <c>clip_grad_norm_</c> does (coefficient maxNorm / (‖g‖ + 1e-6), capped at 1): one norm, and a second pass
    /// only when the gradients are scaled.
    /// </summary>
    public void ClipGradNorm(double maxNorm)
    {
        using var noGrad = no_grad();
        using var norm = _gradients.norm();
        double coefficient = maxNorm / (norm.ToDouble() + 1e-6);
        if (coefficient < 1)
            _gradients.mul_(coefficient);
    }

    /// <summary>
    /// Below this many weights the update runs on the calling thread (libtorch's own grain size for splitting an
    /// element-wise kernel): a parallel region's hand-off costs more than it saves on a smaller pass.
    /// </summary>
    internal const long ParallelThreshold = 32_768;

    /// <summary>One Adam/AdamW update from the current gradients.</summary>
    public void Step()
    {
        _steps++;
        double lr = LearningRate;
        double biasCorrection1 = 1 - Math.Pow(_beta1, _steps);
        double biasCorrection2Sqrt = Math.Sqrt(1 - Math.Pow(_beta2, _steps));
        // θ ← θ − (lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ)) · m / (√v + ε·√(1 − β₂ᵗ)), which is torch's
        // θ − (lr/(1 − β₁ᵗ)) · m / (√v/√(1 − β₂ᵗ) + ε) with the bias correction moved out of the per-element division.
        var update = new AdamUpdate(1 - _beta1, _beta2, 1 - _beta2, lr * biasCorrection2Sqrt / biasCorrection1,
            _epsilon * biasCorrection2Sqrt,
            Shrink: _weightDecay != 0 && _decoupled ? 1 - lr * _weightDecay : 1,
            Penalty: _weightDecay != 0 && !_decoupled ? _weightDecay : 0);
        // Split over libtorch's own OpenMP threads (OpenMpTeam), not over .NET threads: a .NET thread competes with
        // OpenMP's workers, which spin for a while after each kernel (docs/benchmarks.md, stops 10 and 12). Element-wise,
        // so the result does not depend on the split.
        var plain = update with { Shrink = 1, Penalty = 0 };
        long count = _adamCount, decayed = _decayed;
        OpenMpTeam.For(count < ParallelThreshold ? 1 : int.MaxValue, (part, parts) =>
        {
            // Parts start on 64-byte boundaries (16 elements of the aligned buffers): no cache line is shared.
            var (from, to) = OpenMpTeam.Range(count, part, parts, alignment: 16);
            if (from < decayed)
                Update(from, Math.Min(to, decayed), update);
            if (to > decayed)
                Update(Math.Max(from, decayed), to, plain);
        });
        // Muon's rate follows the same schedule as Adam's.
        _muon?.Step(LearningRate / _initialLearningRate);
    }

    /// <param name="OneMinusBeta1">1 − β₁.</param>
    /// <param name="Beta2">β₂.</param>
    /// <param name="OneMinusBeta2">1 − β₂.</param>
    /// <param name="StepSize">lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ).</param>
    /// <param name="Epsilon">ε·√(1 − β₂ᵗ).</param>
    /// <param name="Shrink">AdamW's 1 − lr·λ on decayed weights (1: none).</param>
    /// <param name="Penalty">Adam's λ, added as λθ to decayed weights' gradients (0: none).</param>
    private readonly record struct AdamUpdate(double OneMinusBeta1, double Beta2, double OneMinusBeta2, double StepSize,
        double Epsilon, double Shrink, double Penalty);

    /// <summary>Elements [from, to) of the buffers.</summary>
    private void Update(long from, long to, AdamUpdate u)
    {
        int start = (int)from, length = (int)(to - from);
        if (_valueStorage is float[] values)
            Update(values.AsSpan(_valueOffset + start, length), ((float[])_exchangeStorage).AsSpan(_exchangeOffset + start, length),
                ((float[])_m).AsSpan(start, length), ((float[])_v).AsSpan(start, length), u);
        else
            Update(((double[])_valueStorage).AsSpan(_valueOffset + start, length), ((double[])_exchangeStorage).AsSpan(_exchangeOffset + start, length),
                ((double[])_m).AsSpan(start, length), ((double[])_v).AsSpan(start, length), u);
    }

    /// <summary>
    /// A zeroed array on the pinned-object heap (it never moves, so libtorch may hold its address) and the index of
    /// its first element on a 64-byte boundary, where the buffer starts. libtorch allocates at 64 bytes, and MKL's
    /// results depend on its operands' alignment: weights held at another alignment would give last-bit different
    /// outputs from the same weights saved and loaded (and from run to run, as the array's address varies).
    /// </summary>
    private static (Array Array, int Offset) AlignedArray<T>(long count) where T : unmanaged
    {
        const int alignment = 64;
        int size = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        var array = GC.AllocateArray<T>((int)count + alignment / size, pinned: true);
        var handle = GCHandle.Alloc(array, GCHandleType.Pinned);
        long address = handle.AddrOfPinnedObject().ToInt64();
        handle.Free();
        return (array, (int)((alignment - address % alignment) % alignment / size));
    }

    /// <summary>
    /// The fused update of one stretch of the buffers, one read of θ, g, m, v and one write of θ, m, v per element, in the
    /// order of the six-operation form it replaces: θ ← θ·shrink; g ← g + penalty·θ; m ← m + (1 − β₁)(g − m);
    /// v ← β₂v + (1 − β₂)g²; θ ← θ − step·m/(√v + ε).
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)] // optimized from the first step (no tier-0 pass)
    private static void Update<T>(Span<T> p, Span<T> g, Span<T> m, Span<T> v, AdamUpdate u)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T oneMinusBeta1 = T.CreateChecked(u.OneMinusBeta1), beta2 = T.CreateChecked(u.Beta2), oneMinusBeta2 = T.CreateChecked(u.OneMinusBeta2);
        T stepSize = T.CreateChecked(u.StepSize), epsilon = T.CreateChecked(u.Epsilon);
        T shrink = T.CreateChecked(u.Shrink), penalty = T.CreateChecked(u.Penalty);
        bool shrinks = u.Shrink != 1, penalizes = u.Penalty != 0;
        int vectorized = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var pv = MemoryMarshal.Cast<T, Vector256<T>>(p);
            var gv = MemoryMarshal.Cast<T, Vector256<T>>(g);
            var mv = MemoryMarshal.Cast<T, Vector256<T>>(m);
            var vv = MemoryMarshal.Cast<T, Vector256<T>>(v);
            var b1 = Vector256.Create(oneMinusBeta1);
            var b2 = Vector256.Create(beta2);
            var ob2 = Vector256.Create(oneMinusBeta2);
            var step = Vector256.Create(stepSize);
            var eps = Vector256.Create(epsilon);
            var shrinkV = Vector256.Create(shrink);
            var penaltyV = Vector256.Create(penalty);
            for (int k = 0; k < pv.Length; k++)
            {
                var theta = pv[k];
                if (shrinks)
                    theta *= shrinkV;
                var gk = gv[k];
                if (penalizes)
                    gk += penaltyV * theta;
                var mk = mv[k];
                mk += b1 * (gk - mk);
                var vk = b2 * vv[k] + ob2 * gk * gk;
                mv[k] = mk;
                vv[k] = vk;
                pv[k] = theta - step * mk / (Vector256.Sqrt(vk) + eps);
            }
            vectorized = pv.Length * Vector256<T>.Count;
        }
        for (int i = vectorized; i < p.Length; i++)
        {
            T theta = p[i];
            if (shrinks)
                theta *= shrink;
            T gi = g[i];
            if (penalizes)
                gi += penalty * theta;
            T mi = m[i] + oneMinusBeta1 * (gi - m[i]);
            T vi = beta2 * v[i] + oneMinusBeta2 * gi * gi;
            m[i] = mi;
            v[i] = vi;
            p[i] = theta - stepSize * mi / (T.Sqrt(vi) + epsilon);
        }
    }

    public void Dispose()
    {
        // The parameters keep the storage of _values and _gradients alive through their views.
        _values.Dispose();
        _gradients.Dispose();
        _exchange.Dispose();
        _muon?.Dispose();
    }
}

/// <summary>
/// Muon (Jordan et al., 2024, "Muon: an optimizer for hidden layers in neural networks"): for each weight matrix
/// W [r, c] with gradient G, a Nesterov momentum B ← μB + G, U = G + μB, then W ← W − η·√max(1, r/c)·O(U), where O(U)
/// is U's nearest semi-orthogonal matrix (U = PΣQᵀ → PQᵀ) approximated by five steps of the quintic Newton–Schulz
/// iteration X ← aX + (bA + cA²)X, A = XXᵀ, (a, b, c) = (3.4445, −4.7750, 2.0315), from X = U/‖U‖_F. The update has
/// every singular value near 1, so each direction of the matrix moves by about η whatever its gradient's scale.
/// μ = 0.95; no weight decay. Used for the hidden matrices of a network (embeddings, heads, biases and gains stay
/// with Adam).
/// </summary>
internal sealed class Muon : IDisposable
{
    internal const double Momentum = 0.95;
    private readonly Parameter[] _matrices;
    private readonly Tensor _gradients;   // [M] the matrices' gradients, contiguous (a view of the flat buffer)
    private readonly Tensor _momentum;    // [M] their momentum, in the same layout
    private readonly (int[] Members, bool Tall)[] _groups;   // matrices of one shape, orthogonalized as one batch
    private readonly long[] _offsets;
    private readonly double _learningRate;

    /// <param name="matrices">The matrices, stored one after the other in <paramref name="gradients"/>' layout.</param>
    /// <param name="gradients">Their gradients as one contiguous vector.</param>
    /// <param name="learningRate">η at the schedule's full rate.</param>
    public Muon(Parameter[] matrices, Tensor gradients, double learningRate)
    {
        _matrices = matrices;
        _gradients = gradients;
        _learningRate = learningRate;
        using var noGrad = no_grad();
        _momentum = zeros_like(gradients);
        _offsets = new long[matrices.Length];
        for (int i = 1; i < matrices.Length; i++)
            _offsets[i] = _offsets[i - 1] + matrices[i - 1].numel();
        _groups = Enumerable.Range(0, matrices.Length)
            .GroupBy(i => (Math.Min(matrices[i].shape[0], matrices[i].shape[1]), Math.Max(matrices[i].shape[0], matrices[i].shape[1]), matrices[i].shape[0] > matrices[i].shape[1]))
            .Select(g => (g.ToArray(), g.Key.Item3))
            .ToArray();
    }

    /// <summary>One update from the matrices' current gradients, at <paramref name="rateFactor"/> × the learning rate.</summary>
    public void Step(double rateFactor)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        _momentum.mul_(Momentum).add_(_gradients);                 // B ← μB + G, every matrix at once
        var nesterov = _gradients.add(_momentum, alpha: Momentum);  // U = G + μB
        foreach (var (members, tall) in _groups)
        {
            // The matrices of one shape as one batch, each on its wide orientation.
            var updates = stack(members.Select(i =>
            {
                var u = nesterov.narrow(0, _offsets[i], _matrices[i].numel()).view(_matrices[i].shape);
                return tall ? u.t() : u;
            }).ToArray());
            var orthogonal = OrthogonalizeBatch(updates);
            for (int j = 0; j < members.Length; j++)
            {
                var p = _matrices[members[j]];
                double rows = p.shape[0], columns = p.shape[1];
                var o = orthogonal[j];
                p.add_(tall ? o.t() : o, alpha: -_learningRate * rateFactor * Math.Sqrt(Math.Max(1, rows / columns)));
            }
        }
    }

    /// <summary>
    /// Five quintic Newton–Schulz steps toward the semi-orthogonal factor of <paramref name="u"/> [r, c] (computed on
    /// the wide orientation); singular values land in about [0.7, 1.2] rather than exactly 1, which is what makes five
    /// steps enough.
    /// </summary>
    internal static Tensor Orthogonalize(Tensor u)
    {
        using var scope = NewDisposeScope();
        bool tall = u.shape[0] > u.shape[1];
        var o = OrthogonalizeBatch((tall ? u.t() : u).unsqueeze(0))[0];
        return (tall ? o.t() : o).MoveToOuterDisposeScope();
    }

    /// <summary>The iteration on a batch <paramref name="u"/> [k, r, c] of wide matrices (r ≤ c), each on its own.</summary>
    private static Tensor OrthogonalizeBatch(Tensor u, int steps = 5)
    {
        const double a = 3.4445, b = -4.7750, c = 2.0315;
        using var scope = NewDisposeScope();
        var x = u.div(linalg.matrix_norm(u, "fro", dims: new long[] { 1, 2 }, keepdim: true).add_(1e-7));
        for (int k = 0; k < steps; k++)
        {
            var gram = x.bmm(x.transpose(1, 2));                           // A = XXᵀ
            var polynomial = gram.bmm(gram).mul_(c).add_(gram, alpha: b);  // bA + cA²
            x = polynomial.bmm(x).add_(x, alpha: a);                       // aX + (bA + cA²)X
        }
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>The matrices Muon trains.</summary>
    public IReadOnlyList<Parameter> Matrices => _matrices;

    public void Dispose()
    {
        _momentum.Dispose();
        _gradients.Dispose();   // this view's handle (the storage belongs to FlatAdam)
    }
}
