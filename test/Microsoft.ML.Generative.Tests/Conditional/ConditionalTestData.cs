using System;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Examples;
using Microsoft.ML.Transforms;

namespace Microsoft.ML.Generative.Tests.Conditional;

/// <summary>A 14×14 digit (the bundled 28×28 digits averaged over 2×2 blocks) and its class.</summary>
public sealed class Digit14
{
    public const int Side = 14;
    public const int Pixels = Side * Side;

    [VectorType(Pixels)]
    public float[] Features { get; set; } = Array.Empty<float>();

    public float Label { get; set; }
}

/// <summary>
/// An 8×8 digit with 17 levels, like scikit-learn's (the flow benchmark's): the 28×28 digit padded to 32×32, binarized
/// at 0.5, and the on pixels of each 4×4 block counted (0 … 16); and its class.
/// </summary>
public sealed class Digit8
{
    [VectorType(64)]
    public float[] Features { get; set; } = Array.Empty<float>();

    public float Label { get; set; }
}

/// <summary>A small row with a class as a key (3 classes, no key values) and a 2-float vector condition.</summary>
public sealed class ClassRow
{
    [VectorType(4)]
    public float[] Features { get; set; } = Array.Empty<float>();

    /// <summary>The class as LoadFromEnumerable reads a key field: 0-based (0 … 2 become ML.NET's raw keys 1 … 3; 3 or more is a missing key).</summary>
    [KeyType(3)]
    public uint Class { get; set; }

    [VectorType(2)]
    public float[] Context { get; set; } = Array.Empty<float>();

    public string Species { get; set; } = "";
}

internal static class ConditionalTestData
{
    private static readonly Lazy<(Digit14[] Train, Digit14[] Test)> Digits14 = new(Load);

    /// <summary>The fixed split of the bundled digits (8,000 / 2,000), downsampled to 14×14.</summary>
    public static (Digit14[] Train, Digit14[] Test) Digits => Digits14.Value;

    private static readonly Lazy<(Digit8[] Train, Digit8[] Test)> EightByEight = new(() =>
    {
        var (train, test) = Examples.Digits.Split(Examples.Digits.Load(Path.Combine(AppContext.BaseDirectory, "data", "mnist-digits.bin.gz")));
        return (train.Select(Downsample8).ToArray(), test.Select(Downsample8).ToArray());
    });

    /// <summary>The fixed split of the bundled digits as 8×8 counts 0 … 16.</summary>
    public static (Digit8[] Train, Digit8[] Test) Digits8 => EightByEight.Value;

    private static Digit8 Downsample8(Digit d)
    {
        var f = new float[64];
        for (int y = 0; y < 28; y++)
            for (int x = 0; x < 28; x++)
                if (d.Features[y * 28 + x] > 0.5f)
                    f[(y + 2) / 4 * 8 + (x + 2) / 4] += 1;
        return new Digit8 { Features = f, Label = d.Label };
    }

    private static (Digit14[] Train, Digit14[] Test) Load()
    {
        var (train, test) = Examples.Digits.Split(Examples.Digits.Load(Path.Combine(AppContext.BaseDirectory, "data", "mnist-digits.bin.gz")));
        return (train.Select(Downsample).ToArray(), test.Select(Downsample).ToArray());
    }

    private static Digit14 Downsample(Digit d)
    {
        var pixels = new float[Digit14.Pixels];
        for (int r = 0; r < Digit14.Side; r++)
            for (int c = 0; c < Digit14.Side; c++)
            {
                int i = 2 * r * Digit.Side + 2 * c;
                pixels[r * Digit14.Side + c] = (d.Features[i] + d.Features[i + 1] + d.Features[i + Digit.Side] + d.Features[i + Digit.Side + 1]) / 4;
            }
        return new Digit14 { Features = pixels, Label = d.Label };
    }

    /// <summary>The digits' "Label" as a key of the classes 0 … 9 in value order (raw key k + 1 is digit k).</summary>
    public static IEstimator<ITransformer> LabelToKey(MLContext ml)
        => ml.Transforms.Conversion.MapValueToKey("Label", keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue);

    /// <summary>
    /// A multinomial logistic regression (L-BFGS) on the real training digits: the judge of conditional samples.
    /// Its PredictedLabel is the raw key of the digit (k + 1).
    /// </summary>
    public static ITransformer Classifier<TDigit>(MLContext ml, TDigit[] train) where TDigit : class
    {
        var keyed = LabelToKey(ml).Fit(ml.Data.LoadFromEnumerable(train)).Transform(ml.Data.LoadFromEnumerable(train));
        return ml.MulticlassClassification.Trainers.LbfgsMaximumEntropy("Label", "Features").Fit(keyed);
    }

    /// <summary>The fraction of <paramref name="samples"/> that <paramref name="classifier"/> assigns to raw key <paramref name="key"/>.</summary>
    public static double FractionClassifiedAs(ITransformer classifier, IDataView samples, uint key)
    {
        var predicted = classifier.Transform(samples).GetColumn<uint>("PredictedLabel").ToArray();
        return predicted.Count(p => p == key) / (double)predicted.Length;
    }

    /// <summary>
    /// Rows whose 4 features depend on the class: class k (raw key 1 … 3) puts mean 3 on feature k − 1 and N(0, 0.3²) noise
    /// elsewhere; Context is (k − 2, (k − 2)² − ⅔), centred; Species names the class ("Adelie", "Chinstrap", "Gentoo").
    /// </summary>
    public static ClassRow[] Classes(int rows, int seed = 0)
    {
        var random = new Random(seed);
        double Gauss() => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
        string[] names = { "Adelie", "Chinstrap", "Gentoo" };
        return Enumerable.Range(0, rows).Select(i =>
        {
            uint k = (uint)(i % 3) + 1;
            var f = Enumerable.Range(0, 4).Select(j => (float)(0.3 * Gauss() + (j == k - 1 ? 3 : 0))).ToArray();
            return new ClassRow { Features = f, Class = k - 1, Context = new[] { k - 2f, (k - 2f) * (k - 2f) - 2f / 3 }, Species = names[k - 1] };
        }).ToArray();
    }
}
