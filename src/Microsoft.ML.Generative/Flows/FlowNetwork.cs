using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Flows;

/// <summary>The architecture a <see cref="FlowNetwork"/> is built from; saved with the model.</summary>
/// <remarks><c>ConditionWidth</c> is C, the encoded condition's floats that every conditioner also sees (0: unconditional).</remarks>
internal sealed record FlowShape(int InputDimension, FlowArchitecture Architecture, int NumberOfLayers, int[] HiddenLayerSizes,
    int NumberOfBins, double TailBound, int ConditionWidth = 0)
{
    /// <summary>Number of trainable weights (a lower bound on the saved payload; MADE masks are saved too).</summary>
    public long ParameterCount
    {
        get
        {
            long Mlp(long input, long output)
            {
                long count = 0, width = input;
                foreach (int h in HiddenLayerSizes)
                {
                    count += width * h + h;
                    width = h;
                }
                return count + width * output + output;
            }
            int d = InputDimension, p = RationalQuadraticSpline.ParameterCount(NumberOfBins), c = ConditionWidth;
            long perLayer = Architecture switch
            {
                FlowArchitecture.RealNvp => Mlp(d + c, 2 * d),
                FlowArchitecture.MaskedAutoregressive => Mlp(d + c, 2 * d),
                _ => d == 1 ? p + (c > 0 ? Mlp(c, p) : 0) : Mlp(d + c, (long)d * p),
            };
            return perLayer * NumberOfLayers;
        }
    }

    public string Describe()
    {
        string name = Architecture switch
        {
            FlowArchitecture.RealNvp => "RealNVP (affine coupling)",
            FlowArchitecture.MaskedAutoregressive => "masked autoregressive flow",
            _ => InputDimension == 1 ? "neural spline flow (elementwise splines)" : "neural spline flow (spline coupling)",
        };
        string conditioner = Architecture == FlowArchitecture.NeuralSpline && InputDimension == 1 ? ""
            : $", conditioner {string.Join("-", new[] { InputDimension }.Concat(HiddenLayerSizes))}";
        string spline = Architecture == FlowArchitecture.NeuralSpline ? $", {NumberOfBins} bins on [-{TailBound}, {TailBound}]" : "";
        string condition = ConditionWidth > 0 ? $", conditioned on {ConditionWidth} condition values" : "";
        return $"a {NumberOfLayers}-layer {name} on {InputDimension} features{conditioner}{spline}{condition}";
    }
}

/// <summary>
/// The flow itself, from (preprocessed) data to the base space: the fixed per-feature standardization
/// u = (y − m) / s (log|det| = −Σ log s), then the layers. Field names are the saved weights' names.
/// </summary>
internal sealed class FlowNetwork : nn.Module<Tensor, (Tensor Z, Tensor LogDet)>
{
    private readonly ModuleList<FlowLayer> layers;
    private readonly double[] _shift;
    private readonly double[] _scale;
    private readonly double _standardizationLogDet;

    /// <param name="shape">Architecture.</param>
    /// <param name="preprocessing">The fixed maps before the standardization (kept here so that the model is one object).</param>
    /// <param name="shift">Per-feature mean m of the standardization (zeros: none).</param>
    /// <param name="scale">Per-feature standard deviation s of the standardization (ones: none); positive.</param>
    public FlowNetwork(FlowShape shape, FlowPreprocessing preprocessing, double[] shift, double[] scale) : base(nameof(FlowNetwork))
    {
        Shape = shape;
        Preprocessing = preprocessing;
        _shift = shift;
        _scale = scale;
        _standardizationLogDet = -scale.Sum(Math.Log);
        int d = shape.InputDimension, c = shape.ConditionWidth;
        var list = new List<FlowLayer>();
        for (int i = 0; i < shape.NumberOfLayers; i++)
        {
            // Alternating masks: layer i keeps the features of parity i mod 2 and transforms the others.
            var mask = Enumerable.Range(0, d).Select(j => (j + i) % 2 == 0 ? 1f : 0f).ToArray();
            list.Add(shape.Architecture switch
            {
                FlowArchitecture.RealNvp => new AffineCoupling(d, mask, shape.HiddenLayerSizes, c),
                FlowArchitecture.MaskedAutoregressive => new MaskedAutoregressive(d, shape.HiddenLayerSizes, reversed: i % 2 == 1, c),
                _ when d == 1 => new ElementwiseSpline(d, shape.NumberOfBins, shape.TailBound, shape.HiddenLayerSizes, c),
                _ => new SplineCoupling(d, mask, shape.HiddenLayerSizes, shape.NumberOfBins, shape.TailBound, c),
            });
        }
        layers = nn.ModuleList(list.ToArray());
        RegisterComponents();
    }

    public FlowShape Shape { get; }

    public FlowPreprocessing Preprocessing { get; }

    public IReadOnlyList<double> Shift => _shift;

    public IReadOnlyList<double> Scale => _scale;

    internal IReadOnlyList<FlowLayer> Layers => layers.ToList();

    /// <summary>z = f(y) [B, D] and log|det ∂z/∂y| [B] (standardization included).</summary>
    public override (Tensor Z, Tensor LogDet) forward(Tensor y) => Forward(y, null);

    /// <summary>Floats of the encoded condition (0: unconditional).</summary>
    public int ConditionWidth => Shape.ConditionWidth;

    /// <summary>The features [B, D] and the condition [B, C] (null when unconditional) of rows [B, D + C]: views, no copy.</summary>
    public (Tensor X, Tensor? C) Split(Tensor rows)
    {
        if (ConditionWidth == 0)
            return (rows, null);
        int d = Shape.InputDimension;
        return (rows.narrow(1, 0, d), rows.narrow(1, d, ConditionWidth));
    }

    /// <summary>z = f(y | c) [B, D] and log|det ∂z/∂y| [B]; c [B, C] is the encoded condition (null: unconditional).</summary>
    public (Tensor Z, Tensor LogDet) Forward(Tensor y, Tensor? c)
    {
        using var scope = NewDisposeScope();
        var shift = tensor(_shift, dtype: y.dtype, device: y.device);
        var scale = tensor(_scale, dtype: y.dtype, device: y.device);
        var u = (y - shift) / scale;
        var logDet = full(y.shape[0], _standardizationLogDet, dtype: y.dtype, device: y.device);
        foreach (var layer in layers)
        {
            var (next, l) = layer.Forward(u, c);
            u = next;
            logDet = logDet + l;
        }
        return (u.MoveToOuterDisposeScope(), logDet.MoveToOuterDisposeScope());
    }

    /// <summary>y = f⁻¹(z) [B, D] and log|det ∂y/∂z| [B].</summary>
    public (Tensor Y, Tensor LogDet) Inverse(Tensor z) => Inverse(z, null);

    /// <summary>y = f⁻¹(z | c) [B, D] and log|det ∂y/∂z| [B]; c [B, C] is the encoded condition (null: unconditional).</summary>
    public (Tensor Y, Tensor LogDet) Inverse(Tensor z, Tensor? c)
    {
        using var scope = NewDisposeScope();
        var logDet = full(z.shape[0], -_standardizationLogDet, dtype: z.dtype, device: z.device);
        var u = z;
        for (int i = layers.Count - 1; i >= 0; i--)
        {
            var (previous, l) = layers[i].Inverse(u, c);
            u = previous;
            logDet = logDet + l;
        }
        var shift = tensor(_shift, dtype: z.dtype, device: z.device);
        var scale = tensor(_scale, dtype: z.dtype, device: z.device);
        var y = u * scale + shift;
        return (y.MoveToOuterDisposeScope(), logDet.MoveToOuterDisposeScope());
    }
}
