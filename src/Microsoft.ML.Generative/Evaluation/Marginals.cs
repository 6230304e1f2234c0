using System;
using System.Collections.Generic;

namespace Microsoft.ML.Generative.Evaluation;

/// <summary>Per-feature (marginal) distances: Kolmogorov–Smirnov for continuous slots, total variation for discrete ones.</summary>
internal static class Marginals
{
    internal sealed record Result(double[] Distances, bool[] Discrete, bool[] ConstantReal, bool[] ConstantGenerated);

    public static Result Compute(RowMatrix real, RowMatrix generated, int discreteMaxLevels)
    {
        int d = real.Width;
        var distances = new double[d];
        var discrete = new bool[d];
        var constantReal = new bool[d];
        var constantGenerated = new bool[d];
        var a = new double[real.Rows];
        var b = new double[generated.Rows];
        for (int j = 0; j < d; j++)
        {
            real.CopyColumn(j, a);
            generated.CopyColumn(j, b);
            Array.Sort(a);
            Array.Sort(b);
            constantReal[j] = a[0] == a[^1];
            constantGenerated[j] = b[0] == b[^1];
            discrete[j] = IsDiscrete(a, discreteMaxLevels);
            distances[j] = discrete[j] ? TotalVariation(a, b) : KolmogorovSmirnov(a, b);
        }
        return new Result(distances, discrete, constantReal, constantGenerated);
    }

    /// <summary>Whole numbers taking at most <paramref name="maxLevels"/> distinct values (<paramref name="sorted"/> ascending).</summary>
    internal static bool IsDiscrete(double[] sorted, int maxLevels)
    {
        if (maxLevels <= 0)
            return false;
        int levels = 0;
        for (int i = 0; i < sorted.Length; i++)
        {
            if (sorted[i] != Math.Floor(sorted[i]))
                return false;
            if (i == 0 || sorted[i] != sorted[i - 1])
            {
                if (++levels > maxLevels)
                    return false;
            }
        }
        return true;
    }

    /// <summary>
    /// Two-sample Kolmogorov–Smirnov statistic sup_x |F_a(x) − F_b(x)| of two ascending samples (empirical CDFs,
    /// right-continuous; ties within and across the samples handled by stepping over every copy of a value at once).
    /// </summary>
    internal static double KolmogorovSmirnov(double[] a, double[] b)
    {
        int i = 0, j = 0;
        double n = a.Length, m = b.Length, d = 0;
        while (i < a.Length && j < b.Length)
        {
            double x = Math.Min(a[i], b[j]);
            while (i < a.Length && a[i] <= x) i++;
            while (j < b.Length && b[j] <= x) j++;
            d = Math.Max(d, Math.Abs(i / n - j / m));
        }
        // Past the end of one sample its CDF is 1; the other's only rises towards 1, so the gap only shrinks.
        return d;
    }

    /// <summary>Total-variation distance ½ Σ_v |p(v) − q(v)| between the value frequencies of two samples.</summary>
    internal static double TotalVariation(double[] a, double[] b)
    {
        // Integer counts per value, so that equal frequencies cancel exactly.
        var counts = new Dictionary<double, (long A, long B)>();
        foreach (var v in a)
            counts[v] = (counts.GetValueOrDefault(v).A + 1, counts.GetValueOrDefault(v).B);
        foreach (var v in b)
            counts[v] = (counts.GetValueOrDefault(v).A, counts.GetValueOrDefault(v).B + 1);
        double sum = 0;
        foreach (var (ca, cb) in counts.Values)
            sum += Math.Abs(ca * (double)b.Length - cb * (double)a.Length);
        return Math.Min(1.0, 0.5 * sum / ((double)a.Length * b.Length));
    }
}
