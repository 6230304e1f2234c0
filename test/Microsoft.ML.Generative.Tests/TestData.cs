using System;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace Microsoft.ML.Generative.Tests;

/// <summary>A 16-feature row.</summary>
public sealed class Row16
{
    public const int Size = 16;

    [VectorType(Size)]
    public float[] Features { get; set; } = Array.Empty<float>();

    public float Label { get; set; }
}

/// <summary>Raw, unnormalized columns for pipeline tests.</summary>
public sealed class RawRow
{
    public float A { get; set; }
    public float B { get; set; }
    public float C { get; set; }
    public float D { get; set; }
}

/// <summary>Small deterministic data made in code; nothing is downloaded.</summary>
public static class TestData
{
    /// <summary>
    /// Binary rows: one of four 16-bit prototypes with each bit flipped with probability 5%. The best possible mean
    /// negative log-likelihood is about log 4 + 16·H(0.05) ≈ 4.6 nats per row; a model that learned nothing pays
    /// 16·log 2 ≈ 11.1 nats.
    /// </summary>
    public static Row16[] BinaryPrototypes(int rows, int seed = 0)
    {
        var random = new Random(seed);
        var prototypes = Enumerable.Range(0, 4)
            .Select(p => Enumerable.Range(0, Row16.Size).Select(_ => random.Next(2) == 1).ToArray()).ToArray();
        return Enumerable.Range(0, rows).Select(_ =>
        {
            int p = random.Next(4);
            return new Row16
            {
                Label = p,
                Features = prototypes[p].Select(bit => (random.NextDouble() < 0.05 ? !bit : bit) ? 1f : 0f).ToArray(),
            };
        }).ToArray();
    }

    /// <summary>Four correlated real-valued columns on different scales (a 1-D latent factor plus noise).</summary>
    public static RawRow[] Correlated(int rows, int seed = 0)
    {
        var random = new Random(seed);
        double Gauss() => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
        return Enumerable.Range(0, rows).Select(_ =>
        {
            double t = Gauss();
            return new RawRow
            {
                A = (float)(10 * t + 0.5 * Gauss()),
                B = (float)(-3 * t + 0.2 * Gauss() + 100),
                C = (float)(0.1 * t * t + 0.05 * Gauss()),
                D = (float)(t + 0.3 * Gauss()),
            };
        }).ToArray();
    }

    public static IDataView Load<T>(MLContext ml, T[] rows) where T : class => ml.Data.LoadFromEnumerable(rows);
}
