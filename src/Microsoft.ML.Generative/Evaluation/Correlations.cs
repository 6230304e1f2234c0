using System;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Evaluation;

/// <summary>Pearson correlation matrices and their mean absolute difference.</summary>
internal static class Correlations
{
    internal sealed record Result(double Distance, int WorstA, int WorstB, double[,] Real, double[,] Generated);

    /// <summary>
    /// Pearson correlation matrix [d, d] in float64. A feature that is constant in the sample (every value equal)
    /// has correlation 0 with every other feature and 1 with itself.
    /// </summary>
    public static double[,] Pearson(RowMatrix rows, bool[] constant)
    {
        using var scope = NewDisposeScope();
        var x = rows.ToFloat64();
        var centered = x - x.mean(new long[] { 0 });
        var norm = centered.square().sum(new long[] { 0 }).sqrt();
        var isConstant = tensor(constant);
        // Constant columns are zeroed (their centred values are round-off, not signal) and divided by 1.
        var scaled = centered.where(isConstant.logical_not().unsqueeze(0), 0.0) / norm.where(isConstant.logical_not(), 1.0);
        var r = scaled.t().mm(scaled).clamp(-1.0, 1.0);
        r.diagonal().fill_(1.0);
        int d = rows.Width;
        var flat = r.contiguous().data<double>().ToArray();
        var result = new double[d, d];
        Buffer.BlockCopy(flat, 0, result, 0, flat.Length * sizeof(double));
        return result;
    }

    /// <summary>Mean over pairs i &lt; j of |ρ_real(i, j) − ρ_generated(i, j)|, in [0, 2]; NaN for a single feature.</summary>
    public static Result Compute(RowMatrix real, RowMatrix generated, bool[] constantReal, bool[] constantGenerated)
    {
        var a = Pearson(real, constantReal);
        var b = Pearson(generated, constantGenerated);
        int d = real.Width;
        double sum = 0, worst = -1;
        int wa = -1, wb = -1;
        long pairs = 0;
        for (int i = 0; i < d; i++)
            for (int j = i + 1; j < d; j++)
            {
                double diff = Math.Abs(a[i, j] - b[i, j]);
                sum += diff;
                pairs++;
                if (diff > worst)
                {
                    worst = diff;
                    wa = i;
                    wb = j;
                }
            }
        return new Result(pairs == 0 ? double.NaN : sum / pairs, wa, wb, a, b);
    }
}
