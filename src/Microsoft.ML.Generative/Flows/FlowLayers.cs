using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Flows;

/// <summary>
/// One invertible map of a flow. <c>forward</c> goes from the data towards the base distribution and returns
/// (y, log|det ∂y/∂x|) with y [B, D] and the log-determinant [B]; <see cref="Inverse(Tensor)"/> goes back and returns
/// (x, log|det ∂x/∂y|) = (x, −forward log-det). One sign convention everywhere (zuko/normflows style), so that
/// the log-dets of a chain add up and inverse∘forward is checked together with logdet(fwd) + logdet(inv) = 0.
/// </summary>
internal abstract class FlowLayer : nn.Module<Tensor, (Tensor Y, Tensor LogDet)>
{
    protected FlowLayer(string name) : base(name)
    {
    }

    /// <summary>x = f⁻¹(y) and log|det ∂x/∂y| per row, [B].</summary>
    public (Tensor X, Tensor LogDet) Inverse(Tensor y) => Inverse(y, null);

    /// <summary>
    /// y = f(x | c) and log|det ∂y/∂x| per row: a conditional layer's conditioner also sees the encoded condition
    /// c [B, C] (null: unconditional). The condition changes the map, never the Jacobian's form: log|det| is still
    /// taken with respect to x only.
    /// </summary>
    public abstract (Tensor Y, Tensor LogDet) Forward(Tensor x, Tensor? c);

    /// <summary>x = f⁻¹(y | c) and log|det ∂x/∂y| per row, [B].</summary>
    public abstract (Tensor X, Tensor LogDet) Inverse(Tensor y, Tensor? c);

    public override (Tensor Y, Tensor LogDet) forward(Tensor x) => Forward(x, null);

    /// <summary>The conditioner's input: the masked features, followed by the condition when there is one.</summary>
    internal static Tensor WithCondition(Tensor input, Tensor? c) => c is null ? input : cat(new[] { input, c }, 1);

    /// <summary>
    /// Soft clamp b·tanh(s/b): the identity near 0 (so gradients at initialization are those of an unbounded
    /// scale), never beyond ±b. Bounding each layer's log-scale keeps deep stacks from overflowing (normflows #73).
    /// </summary>
    internal static Tensor SoftClamp(Tensor s, double bound) => s.div(bound).tanh().mul(bound);   // not in place: tanh's backward needs its output

    /// <summary>Log-scale bound of the affine layers: a factor of at most e³ ≈ 20 per layer.</summary>
    internal const double LogScaleBound = 3.0;

    /// <summary>An MLP input → hidden… → output with ReLU, its last layer zero-initialized (the layer starts as the identity).</summary>
    internal static Sequential Conditioner(int input, IReadOnlyList<int> hidden, int output)
    {
        var layers = new List<(string, nn.Module<Tensor, Tensor>)>();
        int width = input;
        for (int i = 0; i < hidden.Count; i++)
        {
            layers.Add(($"linear{i}", nn.Linear(width, hidden[i])));
            layers.Add(($"activation{i}", nn.ReLU()));
            width = hidden[i];
        }
        var last = nn.Linear(width, output);
        ZeroInitialize(last);
        layers.Add(("output", last));
        return nn.Sequential(layers);
    }

    /// <summary>Zeroes a linear layer so that the layer it ends outputs 0: every flow layer starts as the identity.</summary>
    internal static void ZeroInitialize(Linear linear)
    {
        using var noGrad = no_grad();
        // In-place ops return a new handle to the same tensor: dispose it, the parameter lives on.
        linear.weight!.zero_().Dispose();
        linear.bias!.zero_().Dispose();
    }

    /// <summary>A constant [D] row of 0/1 in the dtype and device of <paramref name="like"/>.</summary>
    internal static Tensor Constant(float[] values, Tensor like)
        => tensor(values, dtype: like.dtype, device: like.device);

    // The coupling mask b and 1 − b, made once per dtype and device (not per step) and owned by the layer. Not
    // registered as buffers: they follow from the saved architecture. A race between scoring threads only builds the
    // same pair twice.
    private (Tensor Mask, Tensor Free)? _masks;

    internal (Tensor Mask, Tensor Free) Masks(float[] mask, Tensor like)
    {
        var cached = _masks;
        if (cached is { } c && c.Mask.dtype == like.dtype && c.Mask.device_type == like.device_type && c.Mask.device_index == like.device_index)
            return c;
        using var noGrad = no_grad();
        var m = Constant(mask, like).DetachFromDisposeScope();
        var f = (1 - m).DetachFromDisposeScope();
        _masks = (m, f);
        return (m, f);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && _masks is { } c)
        {
            c.Mask.Dispose();
            c.Free.Dispose();
            _masks = null;
        }
        base.Dispose(disposing);
    }
}

/// <summary>
/// Affine coupling (Dinh, Sohl-Dickstein and Bengio 2017, "Density estimation using Real NVP", §3.3, eq. 9):
/// with a binary mask b, y = b⊙x + (1 − b)⊙(x⊙exp(s(b⊙x)) + t(b⊙x)), log|det| = Σ_d (1 − b_d) s_d. The conditioner
/// sees the masked input (D values) and outputs s and t (2D values); s is soft-clamped to ±3 and the last layer is
/// zero-initialized, so every layer starts as the identity. A conditional layer's conditioner sees [b⊙x, c].
/// </summary>
internal sealed class AffineCoupling : FlowLayer
{
    private readonly Sequential net;
    private readonly float[] _mask;
    private readonly int _dimension;

    public AffineCoupling(int dimension, float[] mask, IReadOnlyList<int> hidden, int conditionWidth = 0) : base(nameof(AffineCoupling))
    {
        _dimension = dimension;
        _mask = mask;
        net = Conditioner(dimension + conditionWidth, hidden, 2 * dimension);
        RegisterComponents();
    }

    private (Tensor S, Tensor T) Parameters(Tensor conditioning, Tensor free, Tensor? c)
    {
        var h = net.forward(WithCondition(conditioning, c));                    // [B, 2D]
        var s = SoftClamp(h.narrow(1, 0, _dimension), LogScaleBound).mul(free); // [B, D], 0 on kept dims
        var t = h.narrow(1, _dimension, _dimension).mul(free);                  // [B, D]
        return (s, t);
    }

    public override (Tensor Y, Tensor LogDet) Forward(Tensor x, Tensor? c)
    {
        using var scope = NewDisposeScope();
        var (mask, free) = Masks(_mask, x);
        var (s, t) = Parameters(x * mask, free, c);
        var y = x * s.exp() + t;                                                 // kept dims: x·1 + 0 = x exactly
        return (y.MoveToOuterDisposeScope(), s.sum(1).MoveToOuterDisposeScope());
    }

    public override (Tensor X, Tensor LogDet) Inverse(Tensor y, Tensor? c)
    {
        using var scope = NewDisposeScope();
        var (mask, free) = Masks(_mask, y);
        var (s, t) = Parameters(y * mask, free, c);                              // y⊙b = x⊙b: same conditioner input
        var x = (y - t) * s.neg().exp();
        return (x.MoveToOuterDisposeScope(), s.sum(1).neg_().MoveToOuterDisposeScope());
    }
}

/// <summary>A linear layer whose weight is multiplied by a fixed 0/1 mask (MADE, Germain et al. 2015).</summary>
internal sealed class MaskedLinear : nn.Module<Tensor, Tensor>
{
    private readonly Linear linear;
    private readonly Tensor mask;

    public MaskedLinear(int input, int output, float[,] mask) : base(nameof(MaskedLinear))
    {
        linear = nn.Linear(input, output);
        this.mask = tensor(mask);
        register_module(nameof(linear), linear);
        register_buffer(nameof(mask), this.mask);
    }

    internal Linear Linear => linear;

    public override Tensor forward(Tensor x)
    {
        using var weight = linear.weight! * mask;
        return nn.functional.linear(x, weight, linear.bias);
    }
}

/// <summary>
/// Masked autoregressive flow layer (Papamakarios, Pavlakou and Murray 2017, "Masked Autoregressive Flow for
/// Density Estimation", §3): a MADE network (Germain et al. 2015) gives μ_i and α_i from the features before i in
/// the layer's order; z_i = (x_i − μ_i)·exp(−α_i), log|det| = −Σ α_i (α soft-clamped to ±3). The density direction
/// is one pass; the inverse (sampling) is sequential: D passes, each fixing one more feature. Layers alternate the
/// natural and the reversed order (the permutation between layers).
/// </summary>
internal sealed class MaskedAutoregressive : FlowLayer
{
    private readonly Sequential made;
    private readonly Sequential? conditionPath;
    private readonly int _dimension;

    public MaskedAutoregressive(int dimension, IReadOnlyList<int> hidden, bool reversed, int conditionWidth = 0) : base(nameof(MaskedAutoregressive))
    {
        _dimension = dimension;
        // Degrees: input d has degree = its position in the order (1..D); hidden units cycle through 1..D−1 so every
        // unit can see something; an output of feature d may only see units of degree < deg(d). The condition's
        // inputs (after the features) have degree 0: every unit and every output may see them (conditional MADE).
        var inputDegree = Enumerable.Range(0, dimension).Select(d => reversed ? dimension - d : d + 1).ToArray();
        var layers = new List<(string, nn.Module<Tensor, Tensor>)>();
        int[] previous = inputDegree.Concat(Enumerable.Repeat(0, conditionWidth)).ToArray();
        for (int i = 0; i < hidden.Count; i++)
        {
            var degree = Enumerable.Range(0, hidden[i]).Select(k => k % Math.Max(1, dimension - 1) + 1).ToArray();
            var mask = new float[hidden[i], previous.Length];
            for (int k = 0; k < hidden[i]; k++)
                for (int j = 0; j < previous.Length; j++)
                    mask[k, j] = degree[k] >= previous[j] ? 1f : 0f;
            layers.Add(($"linear{i}", new MaskedLinear(previous.Length, hidden[i], mask)));
            layers.Add(($"activation{i}", nn.ReLU()));
            previous = degree;
        }
        // Outputs: μ for every feature, then α for every feature.
        var outputMask = new float[2 * dimension, previous.Length];
        for (int o = 0; o < 2 * dimension; o++)
            for (int j = 0; j < previous.Length; j++)
                outputMask[o, j] = inputDegree[o % dimension] > previous[j] ? 1f : 0f;
        var output = new MaskedLinear(previous.Length, 2 * dimension, outputMask);
        ZeroInitialize(output.Linear);
        layers.Add(("output", output));
        made = nn.Sequential(layers);
        if (conditionWidth > 0)
        {
            // The first feature in the order has no earlier feature: its outputs see no hidden unit (degree < 1),
            // so MADE alone would leave its μ and α independent of c (with one feature, the whole layer). A small
            // MLP of c alone adds to every output (zero-initialized, so the layer still starts as the identity).
            var last = nn.Linear(hidden[0], 2 * dimension);
            ZeroInitialize(last);
            conditionPath = nn.Sequential(("linear", nn.Linear(conditionWidth, hidden[0])), ("activation", nn.ReLU()), ("output", last));
        }
        RegisterComponents();
    }

    private (Tensor Mu, Tensor Alpha) Parameters(Tensor x, Tensor? c)
    {
        var h = made.forward(WithCondition(x, c));                                       // [B, 2D]
        if (conditionPath is not null && c is not null)
            h = h + conditionPath.forward(c);
        return (h.narrow(1, 0, _dimension), SoftClamp(h.narrow(1, _dimension, _dimension), LogScaleBound));
    }

    public override (Tensor Y, Tensor LogDet) Forward(Tensor x, Tensor? c)
    {
        using var scope = NewDisposeScope();
        var (mu, alpha) = Parameters(x, c);
        var z = (x - mu) * alpha.neg().exp();
        return (z.MoveToOuterDisposeScope(), alpha.sum(1).neg_().MoveToOuterDisposeScope());
    }

    public override (Tensor X, Tensor LogDet) Inverse(Tensor y, Tensor? c)
    {
        using var scope = NewDisposeScope();
        // After pass k the first k features in the layer's order are exact (each depends only on earlier ones).
        var x = zeros_like(y);
        Tensor alpha = zeros_like(y);
        for (int k = 0; k < _dimension; k++)
        {
            var (mu, a) = Parameters(x, c);
            x = y * a.exp() + mu;
            alpha = a;
        }
        return (x.MoveToOuterDisposeScope(), alpha.sum(1).MoveToOuterDisposeScope());
    }
}

/// <summary>
/// Monotonic rational-quadratic splines (Durkan, Bekasov, Murray and Papamakarios 2019, "Neural Spline Flows",
/// §3.1, eqs. 4–8 and appendix A): K bins on [−B, B] whose widths, heights and interior knot derivatives come from
/// unconstrained parameters (softmax for widths and heights with a floor, softplus for derivatives with a floor),
/// and the identity outside [−B, B] (the boundary derivatives are 1, so the map is C¹ at ±B).
/// </summary>
/// <remarks>
/// Inputs are clamped into [−B, B] before the spline branch is evaluated and the tail is chosen afterwards with
/// <c>where</c>: a point far outside the bound then gets a finite value and a finite gradient (evaluating the
/// spline on out-of-domain points first gives NaN gradients even when they are masked; nflows #23, sbi #373).
/// </remarks>
internal static class RationalQuadraticSpline
{
    public const double MinimumBinWidth = 1e-3;
    public const double MinimumBinHeight = 1e-3;
    public const double MinimumDerivative = 1e-3;

    /// <summary>softplus(u + c) + min_d = 1 at u = 0: zero parameters give uniform bins and unit slopes, i.e. the identity.</summary>
    private static readonly double DerivativeShift = Math.Log(Math.Exp(1 - MinimumDerivative) - 1);

    /// <summary>Parameters per transformed feature: K widths, K heights, K − 1 interior derivatives.</summary>
    public static int ParameterCount(int bins) => 3 * bins - 1;

    /// <summary>
    /// The spline of every element of <paramref name="input"/> [B, D], parameters [B, D, 3K − 1] (or broadcastable);
    /// returns the output [B, D] and log|det| per element [B, D] of the direction asked for.
    /// </summary>
    public static (Tensor Output, Tensor LogDet) Apply(Tensor input, Tensor parameters, int bins, double bound, bool inverse)
    {
        using var scope = NewDisposeScope();
        int k = bins;
        var inside = input.ge(-bound).logical_and_(input.le(bound));
        var clamped = input.clamp(-bound, bound);                                        // spline branch sees its domain only

        var widths = Bins(parameters.narrow(-1, 0, k), k, bound, MinimumBinWidth, out var knotsX);      // [.., K], [.., K+1]
        var heights = Bins(parameters.narrow(-1, k, k), k, bound, MinimumBinHeight, out var knotsY);
        var interior = nn.functional.softplus(parameters.narrow(-1, 2 * k, k - 1) + DerivativeShift) + MinimumDerivative;
        var ones = ones_like(interior.narrow(-1, 0, 1));
        var derivatives = cat(new[] { ones, interior, ones }, -1);                       // [.., K+1], 1 at ±B

        // Bin of each element: the number of left knots at or below it, minus one.
        var searchKnots = inverse ? knotsY : knotsX;
        var bin = clamped.unsqueeze(-1).ge(searchKnots.narrow(-1, 0, k)).sum(-1, keepdim: true).sub_(1).clamp_(0, k - 1); // [B, D, 1]
        Tensor Pick(Tensor t) => t.expand(bin.shape[0], bin.shape[1], t.shape[^1]).gather(-1, bin).squeeze(-1);
        var xk = Pick(knotsX);
        var wk = Pick(widths);
        var yk = Pick(knotsY);
        var hk = Pick(heights);
        var dk = Pick(derivatives);
        var dk1 = derivatives.expand(bin.shape[0], bin.shape[1], k + 1).gather(-1, bin + 1).squeeze(-1);
        var delta = hk / wk;                                                             // bin slope s_k
        var curvature = dk1 + dk - 2 * delta;

        Tensor theta, output;
        if (!inverse)
        {
            theta = (clamped - xk) / wk;                                                 // ξ in [0, 1]
            var t1 = theta * (1 - theta);
            output = yk + hk * (delta * theta.square() + dk * t1) / (delta + curvature * t1); // eq. 4
        }
        else
        {
            // Solve the quadratic a ξ² + b ξ + c = 0 for ξ (appendix A, eq. 6–8), in the stable form 2c / (−b − √disc).
            var dy = clamped - yk;
            var a = hk * (delta - dk) + dy * curvature;
            var b = hk * dk - dy * curvature;
            var c = -delta * dy;
            var root = (b.square() - 4 * a * c).clamp_min(0).sqrt();
            // The root in [0, 1] without cancellation: 2c / (−b − √disc) when b ≥ 0 (nflows' form), and the same root
            // rewritten as (−b + √disc) / (2a) when b < 0, where −b − √disc would subtract nearly equal numbers.
            var positive = b.ge(0);
            var safeA = where(a.eq(0), ones_like(a), a);
            theta = where(positive, 2 * c / (-b - root), (root - b) / (2 * safeA)).clamp(0, 1);
            output = xk + theta * wk;
        }
        var u = theta * (1 - theta);
        var denominator = delta + curvature * u;
        var slope = delta.square() * (dk1 * theta.square() + 2 * delta * u + dk * (1 - theta).square()); // eq. 5 numerator
        var logDet = slope.log() - 2 * denominator.log();
        if (inverse)
            logDet = logDet.neg();

        var result = where(inside, output, input);
        var resultLogDet = where(inside, logDet, zeros_like(logDet));
        return (result.MoveToOuterDisposeScope(), resultLogDet.MoveToOuterDisposeScope());
    }

    /// <summary>Bin sizes on [−B, B] from unnormalized parameters: floor m, sum 2B; knots (K + 1 values) from −B to B exactly.</summary>
    private static Tensor Bins(Tensor unnormalized, int k, double bound, double minimum, out Tensor knots)
    {
        var fraction = softmax(unnormalized, -1).mul(1 - minimum * k).add_(minimum);      // [.., K], sums to 1
        var cumulative = fraction.cumsum(-1).narrow(-1, 0, k - 1).mul(2 * bound).sub_(bound);
        var left = full_like(fraction.narrow(-1, 0, 1), -bound);
        var right = full_like(left, bound);
        knots = cat(new[] { left, cumulative, right }, -1);                              // [.., K+1]
        return knots.narrow(-1, 1, k) - knots.narrow(-1, 0, k);
    }
}

/// <summary>
/// Rational-quadratic spline coupling (Durkan et al. 2019, §3.2): the conditioner sees the masked input and outputs
/// 3K − 1 spline parameters per feature; the features outside the mask go through their spline, the others are
/// kept. Zero-initialized last layer: the layer starts as the identity.
/// </summary>
internal sealed class SplineCoupling : FlowLayer
{
    private readonly Sequential net;
    private readonly float[] _mask;
    private readonly int _dimension;
    private readonly int _bins;
    private readonly double _bound;

    public SplineCoupling(int dimension, float[] mask, IReadOnlyList<int> hidden, int bins, double bound, int conditionWidth = 0)
        : base(nameof(SplineCoupling))
    {
        _dimension = dimension;
        _mask = mask;
        _bins = bins;
        _bound = bound;
        net = Conditioner(dimension + conditionWidth, hidden, dimension * RationalQuadraticSpline.ParameterCount(bins));
        RegisterComponents();
    }

    private (Tensor Output, Tensor LogDet) Run(Tensor input, Tensor? c, bool inverse)
    {
        using var scope = NewDisposeScope();
        var (mask, free) = Masks(_mask, input);
        var parameters = net.forward(WithCondition(input * mask, c)).view(-1, _dimension, RationalQuadraticSpline.ParameterCount(_bins)); // [B, D, 3K−1]
        var (spline, logDet) = RationalQuadraticSpline.Apply(input, parameters, _bins, _bound, inverse);
        var output = input * mask + spline * free;                                       // kept dims: exactly the input
        return (output.MoveToOuterDisposeScope(), (logDet * free).sum(1).MoveToOuterDisposeScope());
    }

    public override (Tensor Y, Tensor LogDet) Forward(Tensor x, Tensor? c) => Run(x, c, inverse: false);

    public override (Tensor X, Tensor LogDet) Inverse(Tensor y, Tensor? c) => Run(y, c, inverse: true);
}

/// <summary>
/// An elementwise rational-quadratic spline with learned, unconditional parameters (one spline per feature): the
/// neural spline flow's layer for one-feature data, where there is nothing to couple. A conditional layer adds to
/// the parameters the output of a conditioner of the condition alone (zero-initialized: the identity at start).
/// </summary>
internal sealed class ElementwiseSpline : FlowLayer
{
    private readonly Parameter splineParameters;
    private readonly Sequential? net;
    private readonly int _bins;
    private readonly double _bound;
    private readonly int _dimension;

    public ElementwiseSpline(int dimension, int bins, double bound, IReadOnlyList<int>? hidden = null, int conditionWidth = 0)
        : base(nameof(ElementwiseSpline))
    {
        _bins = bins;
        _bound = bound;
        _dimension = dimension;
        splineParameters = nn.Parameter(zeros(dimension, RationalQuadraticSpline.ParameterCount(bins)));   // identity at start
        if (conditionWidth > 0)
            net = Conditioner(conditionWidth, hidden ?? Array.Empty<int>(), dimension * RationalQuadraticSpline.ParameterCount(bins));
        RegisterComponents();
    }

    private (Tensor Output, Tensor LogDet) Run(Tensor input, Tensor? c, bool inverse)
    {
        using var scope = NewDisposeScope();
        var p = splineParameters.unsqueeze(0);                                                // [1, D, 3K−1]
        if (net is not null && c is not null)
            p = p + net.forward(c).view(-1, _dimension, RationalQuadraticSpline.ParameterCount(_bins));   // [B, D, 3K−1]
        var (output, logDet) = RationalQuadraticSpline.Apply(input, p, _bins, _bound, inverse);
        return (output.MoveToOuterDisposeScope(), logDet.sum(1).MoveToOuterDisposeScope());
    }

    public override (Tensor Y, Tensor LogDet) Forward(Tensor x, Tensor? c) => Run(x, c, inverse: false);

    public override (Tensor X, Tensor LogDet) Inverse(Tensor y, Tensor? c) => Run(y, c, inverse: true);
}
