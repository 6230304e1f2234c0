using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Training;

/// <summary>
/// Adam and AdamW (Kingma and Ba, 2015; Loshchilov and Hutter, 2019) over one flat buffer: the parameters become
/// views of one contiguous tensor and their gradients views of another, so that a step is six element-wise
/// operations on the whole model instead of about ten per parameter tensor, gradient clipping is one norm, and a
/// future all-reduce has one buffer to send.
/// </summary>
/// <remarks>
/// <para>Same arithmetic, element by element, as <c>torch.optim.Adam</c>/<c>AdamW</c> (the single-tensor form):
/// m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)g²; θ ← θ − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε). Adam adds
/// λθ to g first (L2 penalty); AdamW multiplies θ by (1 − lr·λ) first (decoupled weight decay).</para>
/// <para>Why it exists: TorchSharp 0.107's own Adam costs about a third of a small model's step, and the temporary
/// tensors of its step are released only by the .NET finalizer, so resident memory grows by ~100 MiB per epoch of
/// the 784-400-20 VAE until a garbage collection happens to run (measured: docs/benchmarks.md). Here every
/// temporary is disposed within the step.</para>
/// <para>Gradients accumulate into the flat buffer (autograd adds into an existing gradient in place), so
/// <see cref="ZeroGrad"/> zeroes it and never sets gradients to null. A parameter may belong to one
/// <see cref="FlatAdam"/> only; moving the module to another device afterwards is not supported.</para>
/// </remarks>
internal sealed class FlatAdam : IDisposable
{
    private readonly Parameter[] _parameters;
    private readonly Tensor _values;     // [P] every parameter, concatenated
    private readonly Tensor _gradients;  // [P] their gradients: the first P elements of _exchange
    private readonly Tensor _exchange;   // [P + 2] gradients, weight, weighted loss: the all-reduce buffer
    private readonly Array _exchangeStorage;   // the managed array under _exchange (float[] or double[])
    private readonly Tensor _m;          // [P] first moment
    private readonly Tensor _v;          // [P] second moment
    private readonly double _beta1;
    private readonly double _beta2;
    private readonly double _epsilon;
    private readonly double _weightDecay;
    private readonly long _decayed;      // the first _decayed elements take weight decay
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
    public FlatAdam(IEnumerable<Parameter> parameters, double learningRate, double beta1 = 0.9, double beta2 = 0.999,
        double epsilon = 1e-8, double weightDecay = 0, bool decoupled = false, Func<Parameter, bool>? decays = null)
    {
        var trained = parameters.Where(p => p.requires_grad).ToArray();
        if (trained.Select(p => p.Handle).Distinct().Count() != trained.Length)
            throw new ArgumentException("A parameter is listed twice (tied weights must be one parameter).", nameof(parameters));
        var decayedFirst = decays is null ? trained : trained.Where(decays).Concat(trained.Where(p => !decays(p))).ToArray();
        _parameters = decayedFirst;
        _decayed = decays is null ? trained.Sum(p => p.numel()) : trained.Where(decays).Sum(p => p.numel());
        if (_parameters.Length == 0)
            throw new ArgumentException("There are no parameters to train.", nameof(parameters));
        var first = _parameters[0];
        if (_parameters.Any(p => p.dtype != first.dtype || p.device_type != first.device_type || p.device_index != first.device_index))
            throw new ArgumentException("All parameters must have one dtype and one device.", nameof(parameters));
        LearningRate = learningRate;
        _beta1 = beta1;
        _beta2 = beta2;
        _epsilon = epsilon;
        _weightDecay = weightDecay;
        _decoupled = decoupled;

        long total = _parameters.Sum(p => p.numel());
        using var noGrad = no_grad();
        _values = empty(total, dtype: first.dtype, device: first.device);
        // The gradients live in a managed array (shared, not copied, by the tensor) so that MPI reduces them in place;
        // two more elements carry the step's weight and weighted loss in the same all-reduce.
        if (first.device_type != DeviceType.CPU || (first.dtype != ScalarType.Float32 && first.dtype != ScalarType.Float64))
            throw new ArgumentException("FlatAdam trains float32 or float64 parameters on the CPU.", nameof(parameters));
        _exchangeStorage = first.dtype == ScalarType.Float32 ? new float[total + 2] : new double[total + 2];
        _exchange = frombuffer(_exchangeStorage, first.dtype);
        _gradients = _exchange.narrow(0, 0, total);
        _m = zeros(total, dtype: first.dtype, device: first.device);
        _v = zeros(total, dtype: first.dtype, device: first.device);
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
    }

    /// <summary>The step size; a schedule may change it between steps.</summary>
    public double LearningRate { get; set; }

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
        if (_exchangeStorage is float[] f)
        {
            f[p] = (float)weight;
            f[p + 1] = (float)weightedLoss;
            communicator.AllReduce(f.AsSpan());
            (total, sum) = (f[p], f[p + 1]);
        }
        else
        {
            var d = (double[])_exchangeStorage;
            d[p] = weight;
            d[p + 1] = weightedLoss;
            communicator.AllReduce(d.AsSpan());
            (total, sum) = (d[p], d[p + 1]);
        }
        using (no_grad())
            _gradients.div_(total);
        return sum / total;
    }

    /// <summary>Sets every gradient to zero (in place: the gradients stay views of the flat buffer).</summary>
    public void ZeroGrad() => _gradients.zero_();

    /// <summary>
    /// Scales the gradients so that their global L2 norm is at most <paramref name="maxNorm"/>, as
    /// <c>clip_grad_norm_</c> does (coefficient maxNorm / (‖g‖ + 1e-6), capped at 1); no host read.
    /// </summary>
    public void ClipGradNorm(double maxNorm)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var norm = _gradients.norm();
        var coefficient = norm.add_(1e-6).reciprocal_().mul_(maxNorm).clamp_max_(1.0);
        _gradients.mul_(coefficient);
    }

    /// <summary>One Adam/AdamW update from the current gradients.</summary>
    public void Step()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        _steps++;
        double lr = LearningRate;
        var g = _gradients;
        if (_weightDecay != 0 && _decayed > 0)
        {
            bool all = _decayed == _values.shape[0];
            var values = all ? _values : _values.narrow(0, 0, _decayed);
            if (_decoupled)
            {
                values.mul_(1 - lr * _weightDecay);
            }
            else if (all)
            {
                g = g.add(_values, alpha: _weightDecay);
            }
            else
            {
                g = g.clone();
                g.narrow(0, 0, _decayed).add_(values, alpha: _weightDecay);
            }
        }
        double biasCorrection1 = 1 - Math.Pow(_beta1, _steps);
        double biasCorrection2Sqrt = Math.Sqrt(1 - Math.Pow(_beta2, _steps));
        // Six passes over the buffers: m ← m + (1 − β₁)(g − m) (lerp, one pass), v ← β₂v + (1 − β₂)g², and
        // θ ← θ − (lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ)) · m / (√v + ε·√(1 − β₂ᵗ)), which is torch's
        // θ − (lr/(1 − β₁ᵗ)) · m / (√v/√(1 − β₂ᵗ) + ε) with the bias correction moved out of the per-element division.
        _m.lerp_(g, 1 - _beta1);
        _v.mul_(_beta2).addcmul_(g, g, value: 1 - _beta2);
        var denominator = _v.sqrt().add_(_epsilon * biasCorrection2Sqrt);
        _values.addcdiv_(_m, denominator, value: -lr * biasCorrection2Sqrt / biasCorrection1);
    }

    public void Dispose()
    {
        // The parameters keep the storage of _values and _gradients alive through their views.
        _values.Dispose();
        _gradients.Dispose();
        _exchange.Dispose();
        _m.Dispose();
        _v.Dispose();
    }
}
