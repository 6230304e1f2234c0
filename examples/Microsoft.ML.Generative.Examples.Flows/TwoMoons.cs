using System;
using System.Linq;

namespace Microsoft.ML.Generative.Examples;

/// <summary>A point of the two-moons data set, as two ordinary columns.</summary>
public sealed class MoonPoint
{
    public float X { get; set; }
    public float Y { get; set; }
}

/// <summary>
/// Two interleaved half circles, the shape of scikit-learn's <c>make_moons</c>: the outer arc (cos t, sin t) and the
/// inner arc (1 − cos t, ½ − sin t) with t ~ U[0, π], each point on either arc with probability ½, plus N(0, σ²)
/// noise on both coordinates. Made in code from a seed; nothing is downloaded.
/// </summary>
public static class TwoMoons
{
    public static MoonPoint[] Generate(int count, double noise = 0.05, int seed = 0)
    {
        var random = new Random(seed);
        double Gauss() => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
        return Enumerable.Range(0, count).Select(_ =>
        {
            double t = Math.PI * random.NextDouble();
            bool outer = random.Next(2) == 0;
            double x = outer ? Math.Cos(t) : 1 - Math.Cos(t);
            double y = outer ? Math.Sin(t) : 0.5 - Math.Sin(t);
            return new MoonPoint { X = (float)(x + noise * Gauss()), Y = (float)(y + noise * Gauss()) };
        }).ToArray();
    }
}
