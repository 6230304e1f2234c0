using System;
using System.Linq;
using Microsoft.ML.Data;

namespace Microsoft.ML.Generative.Tests.Flows;

/// <summary>A row of two coordinates, as a user would have them before Concatenate.</summary>
public sealed class PointRow
{
    public float X { get; set; }
    public float Y { get; set; }
}

/// <summary>A D-feature row for flow tests.</summary>
public sealed class VectorRow
{
    public float[] Features { get; set; } = Array.Empty<float>();
}

public sealed class OneFeatureRow
{
    [VectorType(1)]
    public float[] Features { get; set; } = Array.Empty<float>();
}

public sealed class TwoFeatureRow
{
    [VectorType(2)]
    public float[] Features { get; set; } = Array.Empty<float>();
}

public sealed class ThreeFeatureRow
{
    [VectorType(3)]
    public float[] Features { get; set; } = Array.Empty<float>();
}

public static class FlowTestData
{
    private static double Gauss(Random r) => Math.Sqrt(-2 * Math.Log(1 - r.NextDouble())) * Math.Cos(2 * Math.PI * r.NextDouble());

    /// <summary>
    /// Two interleaved half circles (scikit-learn's make_moons shape): the outer arc (cos t, sin t) and the inner arc
    /// (1 − cos t, ½ − sin t), t ~ U[0, π], plus N(0, σ²) noise on both coordinates.
    /// </summary>
    public static PointRow[] TwoMoons(int rows, double noise = 0.05, int seed = 0)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, rows).Select(i =>
        {
            double t = Math.PI * r.NextDouble();
            bool outer = r.Next(2) == 0;
            double x = outer ? Math.Cos(t) : 1 - Math.Cos(t);
            double y = outer ? Math.Sin(t) : 0.5 - Math.Sin(t);
            return new PointRow { X = (float)(x + noise * Gauss(r)), Y = (float)(y + noise * Gauss(r)) };
        }).ToArray();
    }

    public static TwoFeatureRow[] Moons2(int rows, int seed = 0, float scale = 1f)
        => TwoMoons(rows, seed: seed).Select(p => new TwoFeatureRow { Features = new[] { p.X * scale, p.Y * scale } }).ToArray();

    /// <summary>N(mean, σ²) in one feature.</summary>
    public static OneFeatureRow[] Gaussian1(int rows, double mean, double sigma, int seed = 0)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, rows).Select(_ => new OneFeatureRow { Features = new[] { (float)(mean + sigma * Gauss(r)) } }).ToArray();
    }

    /// <summary>Correlated integer counts in three features (0 … ~12).</summary>
    public static ThreeFeatureRow[] Counts(int rows, int seed = 0)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, rows).Select(_ =>
        {
            int a = r.Next(0, 6);
            int b = a + r.Next(0, 4);
            int c = Math.Max(0, 2 * a - b + r.Next(0, 3));
            return new ThreeFeatureRow { Features = new float[] { a, b, c } };
        }).ToArray();
    }
}
