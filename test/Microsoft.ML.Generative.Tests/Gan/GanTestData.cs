using System;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Gan;

namespace Microsoft.ML.Generative.Tests.Gan;

/// <summary>A 2-feature row.</summary>
public sealed class Row2
{
    [VectorType(2)]
    public float[] Features { get; set; } = Array.Empty<float>();
}

/// <summary>A row with the discriminator's score.</summary>
public sealed class GanOutput
{
    [VectorType(2)]
    public float[] Features { get; set; } = Array.Empty<float>();

    public float DiscriminatorScore { get; set; }
}

internal static class GanTestData
{
    /// <summary>
    /// A 2-D mixture of four Gaussians (σ = 0.4) at (±1.5, ±1) around (10, −5) in units where the second feature is
    /// stretched ×20: raw units that the output map has to handle (feature ranges about 4 and 70 wide).
    /// Per feature: mean (10, −5); the mixture's standard deviations are about √(1.5² + 0.4²) = 1.55 and
    /// 20·√(1 + 0.4²) = 21.5, and the features are uncorrelated.
    /// </summary>
    public static Row2[] Mixture(int rows, int seed = 0)
    {
        var random = new Random(seed);
        double Gauss() => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
        return Enumerable.Range(0, rows).Select(_ =>
        {
            int k = random.Next(4);
            double x = (k % 2 == 0 ? -1.5 : 1.5) + 0.4 * Gauss();
            double y = (k / 2 == 0 ? -1 : 1) + 0.4 * Gauss();
            return new Row2 { Features = new[] { (float)(10 + x), (float)(-5 + 20 * y) } };
        }).ToArray();
    }

    public static GenerativeAdversarialNetworkOptions Small(int epochs = 30) => new()
    {
        LatentDimension = 4,
        GeneratorHiddenLayerSizes = new[] { 32, 32 },
        DiscriminatorHiddenLayerSizes = new[] { 32, 32 },
        NumberOfEpochs = epochs,
        BatchSize = 64,
        LearningRate = 2e-3,
    };

    /// <summary>Mean and covariance (divisor n − 1) of 2-D rows, in float64.</summary>
    public static (double[] Mean, double[,] Covariance) Moments(float[][] rows)
    {
        int n = rows.Length;
        var mean = new double[2];
        foreach (var r in rows)
            for (int j = 0; j < 2; j++)
                mean[j] += r[j] / (double)n;
        var cov = new double[2, 2];
        foreach (var r in rows)
            for (int a = 0; a < 2; a++)
                for (int b = 0; b < 2; b++)
                    cov[a, b] += (r[a] - mean[a]) * (r[b] - mean[b]) / (n - 1);
        return (mean, cov);
    }

    public static float[][] Features(IDataView data) => data.GetColumn<float[]>("Features").ToArray();
}
