using System;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Evaluation;

/// <summary>Rows × features in one row-major float32 array (what the evaluator reads from an IDataView).</summary>
internal sealed class RowMatrix
{
    public RowMatrix(float[] values, int rows, int width)
    {
        if ((long)rows * width != values.Length)
            throw new ArgumentException($"{values.Length} values are not {rows} × {width}.");
        Values = values;
        Rows = rows;
        Width = width;
    }

    public float[] Values { get; }

    public int Rows { get; }

    public int Width { get; }

    public ReadOnlySpan<float> Row(int i) => Values.AsSpan(i * Width, Width);

    public void CopyColumn(int j, double[] destination)
    {
        for (int i = 0; i < Rows; i++)
            destination[i] = Values[(long)i * Width + j];
    }

    /// <summary>A float64 tensor [Rows, Width] (a copy).</summary>
    public Tensor ToFloat64()
    {
        using var scope = NewDisposeScope();
        return tensor(Values, new long[] { Rows, Width }).to_type(ScalarType.Float64).MoveToOuterDisposeScope();
    }

    /// <summary>The rows at <paramref name="indices"/>, in that order.</summary>
    public RowMatrix Select(int[] indices)
    {
        var values = new float[(long)indices.Length * Width];
        for (int k = 0; k < indices.Length; k++)
            Array.Copy(Values, (long)indices[k] * Width, values, (long)k * Width, Width);
        return new RowMatrix(values, indices.Length, Width);
    }

    /// <summary>At most <paramref name="count"/> rows chosen uniformly without replacement (all rows, in order, when there are fewer).</summary>
    public RowMatrix Subsample(int count, Random random)
    {
        if (Rows <= count)
            return this;
        var order = new int[Rows];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        // Partial Fisher–Yates: the first `count` slots become a uniform sample.
        for (int i = 0; i < count; i++)
        {
            int j = random.Next(i, order.Length);
            (order[i], order[j]) = (order[j], order[i]);
        }
        var chosen = order.AsSpan(0, count).ToArray();
        Array.Sort(chosen);
        return Select(chosen);
    }

    /// <summary>(x − mean) / std per column, with the given per-column mean and std (std 0 already replaced by 1).</summary>
    public RowMatrix Standardized(double[] mean, double[] std)
    {
        var values = new float[Values.Length];
        for (int i = 0; i < Rows; i++)
            for (int j = 0; j < Width; j++)
            {
                long k = (long)i * Width + j;
                values[k] = (float)((Values[k] - mean[j]) / std[j]);
            }
        return new RowMatrix(values, Rows, Width);
    }

    /// <summary>Column means and standard deviations (population), std 0 replaced by 1.</summary>
    public (double[] Mean, double[] Std) ColumnMoments()
    {
        var mean = new double[Width];
        var m2 = new double[Width];
        for (int i = 0; i < Rows; i++)
            for (int j = 0; j < Width; j++)
                mean[j] += Values[(long)i * Width + j];
        for (int j = 0; j < Width; j++) mean[j] /= Rows;
        for (int i = 0; i < Rows; i++)
            for (int j = 0; j < Width; j++)
            {
                double c = Values[(long)i * Width + j] - mean[j];
                m2[j] += c * c;
            }
        var std = new double[Width];
        for (int j = 0; j < Width; j++)
        {
            std[j] = Math.Sqrt(m2[j] / Rows);
            if (!(std[j] > 0)) std[j] = 1;
        }
        return (mean, std);
    }
}
