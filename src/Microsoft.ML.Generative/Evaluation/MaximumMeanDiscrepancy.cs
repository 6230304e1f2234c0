using System;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Evaluation;

/// <summary>Unbiased MMD² with a Gaussian (RBF) kernel, median-heuristic bandwidth and a permutation test.</summary>
internal static class MaximumMeanDiscrepancy
{
    internal sealed record Result(double Mmd2, double Bandwidth, double PValue);

    /// <summary>
    /// MMD²_u = 1/(m(m−1)) Σ_{i≠j} k(x_i, x_j) + 1/(n(n−1)) Σ_{i≠j} k(y_i, y_j) − 2/(mn) Σ_{i,j} k(x_i, y_j), with
    /// k(x, y) = exp(−‖x − y‖² / (2σ²)) and σ the median distance between distinct rows of the pooled sample
    /// (Gretton et al. 2012, "A kernel two-sample test", JMLR 13, eq. 3 and §8). The p-value is
    /// (1 + #{permuted MMD² ≥ observed}) / (1 + permutations), relabelling the pooled rows at random.
    /// </summary>
    /// <param name="x">Real rows [m, d], float64, m ≥ 2.</param>
    /// <param name="y">Generated rows [n, d], float64, n ≥ 2.</param>
    /// <param name="permutations">0 for no test (p-value NaN).</param>
    /// <param name="random">Seeded source of the permutations.</param>
    public static Result Compute(Tensor x, Tensor y, int permutations, Random random)
    {
        using var scope = NewDisposeScope();
        int m = (int)x.shape[0], n = (int)y.shape[0], total = m + n;
        var pooled = cat(new[] { x, y }, 0);
        var squared = Distances.SquaredDistances(pooled, pooled);                    // [N, N]
        // Median over the upper triangle (i < j) of the distances; identical rows (distance 0) count too.
        var upper = ones(total, total, dtype: ScalarType.Bool).triu(1);
        double medianSquared = squared.masked_select(upper).median().ToDouble();
        if (!(medianSquared > 0))
        {
            // More than half of the pairs coincide: use the mean positive distance, or give 0 when all rows coincide.
            var positive = squared.masked_select(squared > 0);
            if (positive.numel() == 0)
                return new Result(0.0, 0.0, permutations > 0 ? 1.0 : double.NaN);
            medianSquared = positive.mean().ToDouble();
        }
        var kernel = squared.div_(-2.0 * medianSquared).exp_();
        kernel.diagonal().zero_();                                                     // K₀: i ≠ j only

        // Column 0: the observed labelling; columns 1..P: random relabellings. A[:, c] = 1 for rows labelled "real".
        int columns = 1 + Math.Max(0, permutations);
        var labels = new double[(long)total * columns];
        var order = new int[total];
        for (int c = 0; c < columns; c++)
        {
            for (int i = 0; i < total; i++) order[i] = i;
            if (c > 0)
                for (int i = total - 1; i > 0; i--)
                {
                    int j = random.Next(i + 1);
                    (order[i], order[j]) = (order[j], order[i]);
                }
            for (int i = 0; i < m; i++)
                labels[(long)order[i] * columns + c] = 1.0;
        }
        var a = tensor(labels, new long[] { total, columns }, ScalarType.Float64);
        var rowSums = kernel.sum(1);                                                   // K₀·1
        double all = rowSums.sum().ToDouble();                                          // 1ᵀK₀1
        var aKa = (a * kernel.mm(a)).sum(new long[] { 0 });                                         // aᵀK₀a per column
        var aK1 = a.t().mv(rowSums);                                                   // aᵀK₀1
        var bKb = aKa - aK1 * 2.0 + all;                                               // (1−a)ᵀK₀(1−a)
        var aKb = aK1 - aKa;                                                           // aᵀK₀(1−a)
        var statistic = aKa / (m * (m - 1.0)) + bKb / (n * (n - 1.0)) - aKb * (2.0 / (m * (double)n));
        var values = statistic.data<double>().ToArray();
        double observed = values[0];
        double pValue = double.NaN;
        if (permutations > 0)
        {
            int atLeast = 0;
            for (int c = 1; c < columns; c++)
                if (values[c] >= observed) atLeast++;
            pValue = (1.0 + atLeast) / columns;
        }
        return new Result(observed, Math.Sqrt(medianSquared), pValue);
    }
}
