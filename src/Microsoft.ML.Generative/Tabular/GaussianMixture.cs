using System;
using System.Collections.Generic;
using System.Linq;

namespace Microsoft.ML.Generative.Tabular;

/// <summary>
/// A one-dimensional Gaussian mixture fitted by expectation–maximization, the per-column model behind
/// mode-specific normalization (Xu et al. 2019, "Modeling Tabular Data using Conditional GAN", §4.2).
/// </summary>
/// <remarks>
/// <para>CTGAN fits a variational (Dirichlet-process) mixture with 10 components and keeps the modes whose weight
/// exceeds 0.005. This is the maximum-likelihood counterpart, written out so that its choice is easy to follow:
/// for every K = 1 … <c>maxModes</c> (and at most the number of distinct values) a plain EM run (quantile
/// initialization, so it is deterministic without a seed, at most 200 iterations, stop when the mean
/// log-likelihood gains less than 1e-7 nats) is scored by the Bayesian information criterion
/// BIC = −2·log L + (3K − 1)·log n, the K with the smallest BIC is kept, then modes lighter than
/// <c>weightThreshold</c> are pruned and the rest refitted. Each variance is floored at (10⁻³·spread)², where spread
/// is the larger of the values' standard deviation and (max − min)/1000, so a mode on a repeated value stays a
/// proper density; a column with a single distinct value gets one mode of that floor width. Responsibilities are
/// computed with log-sum-exp in float64.</para>
/// </remarks>
internal sealed class GaussianMixture
{
    public GaussianMixture(double[] weights, double[] means, double[] standardDeviations)
    {
        Weights = weights;
        Means = means;
        StandardDeviations = standardDeviations;
        _variances = standardDeviations.Select(s => s * s).ToArray();
    }

    private readonly double[] _variances;

    /// <summary>Mixture weights, summing to 1.</summary>
    public double[] Weights { get; }

    public double[] Means { get; }

    public double[] StandardDeviations { get; }

    public int Count => Weights.Length;

    /// <summary>Fits the mixture to <paramref name="values"/> (finite, at least one).</summary>
    public static GaussianMixture Fit(double[] values, int maxModes, double weightThreshold)
    {
        if (values.Length == 0)
            throw new ArgumentException("No values to fit.", nameof(values));
        var sorted = (double[])values.Clone();
        Array.Sort(sorted);
        int distinct = 1;
        for (int i = 1; i < sorted.Length; i++)
            if (sorted[i] != sorted[i - 1]) distinct++;
        double mean = values.Average();
        double sd = Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / values.Length);
        double spread = Math.Max(sd, (sorted[^1] - sorted[0]) / 1000);
        double floor = spread > 0 ? 1e-3 * spread : Math.Max(1e-6, 1e-6 * Math.Abs(mean));
        double varianceFloor = floor * floor;
        if (distinct == 1)
            return new GaussianMixture(new[] { 1.0 }, new[] { sorted[0] }, new[] { floor });

        GaussianMixture? best = null;
        double bestBic = double.PositiveInfinity;
        int maxK = Math.Min(maxModes, Math.Min(distinct, Math.Max(1, values.Length / 2)));
        for (int k = 1; k <= maxK; k++)
        {
            var (mixture, logLikelihood) = RunEm(values, sorted, InitialMeans(sorted, k), null, varianceFloor);
            double bic = -2 * logLikelihood + (3.0 * mixture.Count - 1) * Math.Log(values.Length);
            if (bic < bestBic)
            {
                bestBic = bic;
                best = mixture;
            }
        }

        if (best is null)
            throw new InvalidOperationException($"No Gaussian mixture with 1 … {maxK} modes has a finite likelihood for these values (range [{sorted[0]:G4}, {sorted[^1]:G4}]).");
        // Prune light modes, then let the survivors take their mass.
        var chosen = best;
        var keep = Enumerable.Range(0, chosen.Count).Where(i => chosen.Weights[i] >= weightThreshold).ToArray();
        if (keep.Length < chosen.Count)
        {
            if (keep.Length == 0)
                keep = new[] { Array.IndexOf(chosen.Weights, chosen.Weights.Max()) };
            chosen = RunEm(values, sorted, keep.Select(i => chosen.Means[i]).ToArray(),
                keep.Select(i => chosen.StandardDeviations[i]).ToArray(), varianceFloor).Mixture;
        }
        // Modes in increasing order of their means, so the model does not depend on the initialization's order.
        var order = Enumerable.Range(0, chosen.Count).OrderBy(i => chosen.Means[i]).ToArray();
        return new GaussianMixture(order.Select(i => chosen.Weights[i]).ToArray(), order.Select(i => chosen.Means[i]).ToArray(),
            order.Select(i => chosen.StandardDeviations[i]).ToArray());
    }

    /// <summary>Means at the (j + ½)/k quantiles.</summary>
    private static double[] InitialMeans(double[] sorted, int k)
        => Enumerable.Range(0, k).Select(j => sorted[Math.Min(sorted.Length - 1, (int)((j + 0.5) / k * sorted.Length))]).ToArray();

    private static (GaussianMixture Mixture, double LogLikelihood) RunEm(double[] x, double[] sorted, double[] initialMeans,
        double[]? initialSds, double varianceFloor)
    {
        int k = initialMeans.Length, n = x.Length;
        var w = Enumerable.Repeat(1.0 / k, k).ToArray();
        var mu = (double[])initialMeans.Clone();
        double globalSd = Math.Max(Math.Sqrt(varianceFloor), (sorted[^1] - sorted[0]) / (2.0 * k));
        var variance = initialSds?.Select(s => s * s).ToArray() ?? Enumerable.Repeat(globalSd * globalSd, k).ToArray();
        var r = new double[k];
        var logPdf = new double[k];
        double previous = double.NegativeInfinity, logLikelihood = double.NegativeInfinity;
        var sumR = new double[k];
        var sumRx = new double[k];
        var sumRxx = new double[k];
        for (int iteration = 0; iteration < 200; iteration++)
        {
            Array.Clear(sumR);
            Array.Clear(sumRx);
            Array.Clear(sumRxx);
            logLikelihood = 0;
            for (int i = 0; i < n; i++)
            {
                double lse = LogJoint(x[i], w, mu, variance, logPdf);
                logLikelihood += lse;
                for (int j = 0; j < k; j++)
                {
                    r[j] = Math.Exp(logPdf[j] - lse);
                    sumR[j] += r[j];
                    sumRx[j] += r[j] * x[i];
                }
            }
            for (int i = 0; i < n; i++)
            {
                double lse = LogJoint(x[i], w, mu, variance, logPdf);
                for (int j = 0; j < k; j++)
                {
                    double m = sumR[j] > 0 ? sumRx[j] / sumR[j] : mu[j];
                    double d = x[i] - m;
                    sumRxx[j] += Math.Exp(logPdf[j] - lse) * d * d;
                }
            }
            for (int j = 0; j < k; j++)
            {
                w[j] = sumR[j] / n;
                if (sumR[j] > 1e-12)
                {
                    mu[j] = sumRx[j] / sumR[j];
                    variance[j] = Math.Max(varianceFloor, sumRxx[j] / sumR[j]);
                }
                else
                {
                    variance[j] = varianceFloor;
                }
            }
            logLikelihood /= n;
            if (logLikelihood - previous < 1e-7)
                break;
            previous = logLikelihood;
        }
        // The final log-likelihood of the returned parameters.
        double total = 0;
        for (int i = 0; i < n; i++)
            total += LogJoint(x[i], w, mu, variance, logPdf);
        return (new GaussianMixture(w, mu, variance.Select(Math.Sqrt).ToArray()), total);
    }

    /// <summary>log Σ_j w_j N(x; μ_j, σ_j²), with the per-mode terms left in <paramref name="logPdf"/>.</summary>
    private static double LogJoint(double x, double[] w, double[] mu, double[] variance, double[] logPdf)
    {
        double max = double.NegativeInfinity;
        for (int j = 0; j < w.Length; j++)
        {
            double d = x - mu[j];
            logPdf[j] = w[j] > 0 ? Math.Log(w[j]) - 0.5 * (Math.Log(2 * Math.PI * variance[j]) + d * d / variance[j]) : double.NegativeInfinity;
            if (logPdf[j] > max) max = logPdf[j];
        }
        double s = 0;
        for (int j = 0; j < w.Length; j++)
            s += Math.Exp(logPdf[j] - max);
        return max + Math.Log(s);
    }

    /// <summary>Posterior probabilities of the modes for <paramref name="x"/>, into <paramref name="posterior"/>.</summary>
    public void Posterior(double x, double[] posterior)
    {
        double lse = LogJoint(x, Weights, Means, _variances, posterior);
        for (int j = 0; j < Count; j++)
            posterior[j] = Math.Exp(posterior[j] - lse);
    }
}
