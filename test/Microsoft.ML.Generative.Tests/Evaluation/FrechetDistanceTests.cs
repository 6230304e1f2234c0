using System;
using System.Linq;
using Microsoft.ML.Generative.Evaluation;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;

namespace Microsoft.ML.Generative.Tests.Evaluation;

[TestClass]
public sealed class FrechetDistanceTests
{
    // Diagonal covariances commute: FD = ‖μ₁ − μ₂‖² + Σᵢ (√aᵢ − √bᵢ)².
    [TestMethod]
    public void DiagonalCovariances_MatchClosedForm()
    {
        double[] m1 = { 1, -2, 0.5 }, m2 = { 0, 1, 0.5 };
        double[] a = { 4, 1, 0.25 }, b = { 1, 9, 0.25 };
        double expected = 1 + 9 + 0 + (2 - 1) * (2 - 1) + (1 - 3) * (1 - 3) + 0;
        Assert.AreEqual(expected, FrechetDistance.Compute(m1, Diag(a), m2, Diag(b)), 1e-10);
    }

    // For 2 × 2 symmetric PSD A: tr √A = √(tr A + 2 √det A). With A = Σ₁^{1/2} Σ₂ Σ₁^{1/2}:
    // tr A = tr(Σ₁Σ₂), det A = det Σ₁ · det Σ₂. These Σ₁, Σ₂ do not commute.
    [TestMethod]
    public void NonCommutingFullCovariances2x2_MatchClosedForm()
    {
        double[,] s1 = { { 2.0, 0.8 }, { 0.8, 1.0 } };
        double[,] s2 = { { 1.0, -0.3 }, { -0.3, 3.0 } };
        Assert.AreNotEqual(Mul(s1, s2)[0, 1], Mul(s2, s1)[0, 1], "the test needs non-commuting matrices");
        double[] m1 = { 0.5, 1.5 }, m2 = { -1.0, 2.0 };
        double trProduct = Mul(s1, s2)[0, 0] + Mul(s1, s2)[1, 1];
        double traceSqrt = Math.Sqrt(trProduct + 2 * Math.Sqrt(Det2(s1) * Det2(s2)));
        double expected = 1.5 * 1.5 + 0.5 * 0.5 + (3.0 + 4.0) - 2 * traceSqrt;
        Assert.AreEqual(expected, FrechetDistance.Compute(m1, s1, m2, s2), 1e-10);
        // Symmetric in its two arguments.
        Assert.AreEqual(expected, FrechetDistance.Compute(m2, s2, m1, s1), 1e-10);
    }

    // 6 × 6 random, non-commuting covariances, one of them singular (rank 3): tr((Σ₁Σ₂)^{1/2}) from a Denman–Beavers
    // iteration on the non-symmetric product, in managed float64 (no eigen-decomposition, no torch).
    [TestMethod]
    public void NonCommutingFullCovariances6x6_MatchDenmanBeaversSquareRoot()
    {
        var random = new Random(3);
        var s1 = RandomCovariance(random, 6, rank: 6);
        var s2 = RandomCovariance(random, 6, rank: 6);
        var m1 = Enumerable.Range(0, 6).Select(_ => random.NextDouble()).ToArray();
        var m2 = Enumerable.Range(0, 6).Select(_ => random.NextDouble()).ToArray();
        double expected = m1.Zip(m2, (x, y) => (x - y) * (x - y)).Sum() + Trace(s1) + Trace(s2)
                          - 2 * Trace(DenmanBeaversSqrt(Mul(s1, s2)));
        Assert.AreEqual(expected, FrechetDistance.Compute(m1, s1, m2, s2), 1e-9 * Math.Max(1, expected));

        // A singular Σ₁ (rank 3): Σ₁Σ₂ is singular, so Denman–Beavers (which inverts) cannot be used; Σ₂ = c·Σ₁
        // commutes and FD = (1 − √c)² tr Σ₁.
        var singular = RandomCovariance(random, 6, rank: 3);
        var scaled = Scale(singular, 2.25);
        Assert.AreEqual(0.25 * Trace(singular), FrechetDistance.Compute(m1, singular, m1, scaled), 1e-9);
        Assert.AreEqual(0.0, FrechetDistance.Compute(m1, singular, m1, singular), 1e-9);
    }

    // Rows → Gaussian fits: agrees with the closed form applied to a mean and an unbiased covariance computed here.
    [TestMethod]
    public void Rows_UseSampleMeanAndUnbiasedCovariance()
    {
        var random = new Random(5);
        var real = Enumerable.Range(0, 50).Select(_ => new[] { (float)Normal(random), (float)(2 * Normal(random) + 1) }).ToArray();
        var generated = Enumerable.Range(0, 40).Select(_ =>
        {
            float z = (float)Normal(random);
            return new[] { z, (float)(0.5 * z + Normal(random)) };
        }).ToArray();
        var (ma, ca) = SampleFit(real);
        var (mb, cb) = SampleFit(generated);
        double trProduct = Mul(ca, cb)[0, 0] + Mul(ca, cb)[1, 1];
        double expected = ma.Zip(mb, (x, y) => (x - y) * (x - y)).Sum() + Trace(ca) + Trace(cb)
                          - 2 * Math.Sqrt(trProduct + 2 * Math.Sqrt(Det2(ca) * Det2(cb)));
        Assert.AreEqual(expected, FrechetDistance.Compute(real, generated), 1e-9);
        Assert.AreEqual(0.0, FrechetDistance.Compute(real, real), 1e-9);
    }

    [TestMethod]
    public void LargeSamples_ApproachPopulationDistance()
    {
        // N(0, I₃) vs N((1, 0, 0), diag(4, 1, 1)): FD = 1 + (1 − 2)² = 2.
        var random = new Random(7);
        var real = Enumerable.Range(0, 20_000).Select(_ => new[] { (float)Normal(random), (float)Normal(random), (float)Normal(random) }).ToArray();
        var generated = Enumerable.Range(0, 20_000).Select(_ => new[] { (float)(1 + 2 * Normal(random)), (float)Normal(random), (float)Normal(random) }).ToArray();
        Assert.AreEqual(2.0, FrechetDistance.Compute(real, generated), 0.08);
    }

    [TestMethod]
    public void FewerRowsThanFeatures_SingularCovariance_IsFinite()
    {
        // 3 rows in 10 dimensions: both covariances have rank ≤ 2.
        var random = new Random(11);
        var a = Enumerable.Range(0, 3).Select(_ => Enumerable.Range(0, 10).Select(_ => (float)Normal(random)).ToArray()).ToArray();
        var b = Enumerable.Range(0, 3).Select(_ => Enumerable.Range(0, 10).Select(_ => (float)Normal(random)).ToArray()).ToArray();
        double fd = FrechetDistance.Compute(a, b);
        Assert.IsTrue(double.IsFinite(fd) && fd > 0, $"FD = {fd}");
        Assert.AreEqual(0.0, FrechetDistance.Compute(a, a), 1e-9);
    }

    [TestMethod]
    public void LeavesNoLiveTensors()
    {
        var rows = new[] { new[] { 1f, 2f }, new[] { 3f, 1f }, new[] { 0f, 0f } };
        FrechetDistance.Compute(rows, rows); // warm up
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        FrechetDistance.Compute(rows, rows);
        FrechetDistance.Compute(new[] { 0.0, 1 }, Diag(new[] { 1.0, 2 }), new[] { 1.0, 1 }, Diag(new[] { 2.0, 2 }));
        Assert.AreEqual(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }

    [TestMethod]
    public void BadInput_ClearErrors()
    {
        var two = new[] { new[] { 1f, 2f }, new[] { 3f, 4f } };
        var three = new[] { new[] { 1f, 2f, 3f }, new[] { 3f, 4f, 5f } };
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => FrechetDistance.Compute(two, three)).Message, "same width");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => FrechetDistance.Compute(two, new[] { new[] { 1f, 2f } })).Message, "at least 2");
        var nan = new[] { new[] { 1f, 2f }, new[] { 3f, 4f }, new[] { 5f, float.NaN } };
        var message = Assert.ThrowsExactly<ArgumentException>(() => FrechetDistance.Compute(two, nan)).Message;
        StringAssert.Contains(message, "row 2, slot 1");
        StringAssert.Contains(message, "generated");
        var inf = new[] { new[] { float.PositiveInfinity, 2f }, new[] { 3f, 4f } };
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => FrechetDistance.Compute(inf, two)).Message, "row 0, slot 0");
        var ragged = new[] { new[] { 1f, 2f }, new[] { 3f } };
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => FrechetDistance.Compute(ragged, two)).Message, "real[1]");
        Assert.ThrowsExactly<ArgumentNullException>(() => FrechetDistance.Compute(null!, two));

        double[] m = { 0, 0 };
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() =>
            FrechetDistance.Compute(m, Diag(new[] { 1.0, 1 }), new[] { 0.0 }, Diag(new[] { 1.0 }))).Message, "dimensions");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() =>
            FrechetDistance.Compute(m, new double[,] { { 1, 0.5 }, { 0, 1 } }, m, Diag(new[] { 1.0, 1 }))).Message, "not symmetric");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() =>
            FrechetDistance.Compute(m, Diag(new[] { 1.0, 1 }), m, Diag(new[] { 1.0, -1 }))).Message, "not positive semi-definite");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() =>
            FrechetDistance.Compute(m, Diag(new[] { 1.0, -1 }), m, Diag(new[] { 1.0, 1 }))).Message, "covariance1");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() =>
            FrechetDistance.Compute(new[] { 0, double.NaN }, Diag(new[] { 1.0, 1 }), m, Diag(new[] { 1.0, 1 }))).Message, "mean1[1]");
    }

    internal static double Normal(Random random)
        => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    private static double[,] Diag(double[] values)
    {
        var m = new double[values.Length, values.Length];
        for (int i = 0; i < values.Length; i++) m[i, i] = values[i];
        return m;
    }

    private static double[,] Mul(double[,] a, double[,] b)
    {
        int n = a.GetLength(0), k = a.GetLength(1), p = b.GetLength(1);
        var c = new double[n, p];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < p; j++)
                for (int t = 0; t < k; t++)
                    c[i, j] += a[i, t] * b[t, j];
        return c;
    }

    private static double[,] Scale(double[,] a, double c)
    {
        var r = (double[,])a.Clone();
        for (int i = 0; i < r.GetLength(0); i++)
            for (int j = 0; j < r.GetLength(1); j++) r[i, j] *= c;
        return r;
    }

    private static double Det2(double[,] a) => a[0, 0] * a[1, 1] - a[0, 1] * a[1, 0];

    private static double Trace(double[,] a) => Enumerable.Range(0, a.GetLength(0)).Sum(i => a[i, i]);

    private static double[,] RandomCovariance(Random random, int d, int rank)
    {
        var f = new double[d, rank];
        for (int i = 0; i < d; i++)
            for (int j = 0; j < rank; j++) f[i, j] = Normal(random);
        var ft = new double[rank, d];
        for (int i = 0; i < d; i++)
            for (int j = 0; j < rank; j++) ft[j, i] = f[i, j];
        return Mul(f, ft);
    }

    // Denman–Beavers: Y₀ = A, Z₀ = I; Y ← (Y + Z⁻¹)/2, Z ← (Z + Y⁻¹)/2 → Y = A^{1/2} for A with no eigenvalues on
    // the closed negative real axis (Σ₁Σ₂ with both positive definite has positive real eigenvalues).
    private static double[,] DenmanBeaversSqrt(double[,] a)
    {
        int n = a.GetLength(0);
        var y = (double[,])a.Clone();
        var z = Diag(Enumerable.Repeat(1.0, n).ToArray());
        for (int iteration = 0; iteration < 60; iteration++)
        {
            var yInv = Inverse(y);
            var zInv = Inverse(z);
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                {
                    y[i, j] = 0.5 * (y[i, j] + zInv[i, j]);
                    z[i, j] = 0.5 * (z[i, j] + yInv[i, j]);
                }
        }
        return y;
    }

    private static double[,] Inverse(double[,] a)
    {
        int n = a.GetLength(0);
        var m = new double[n, 2 * n];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++) m[i, j] = a[i, j];
            m[i, n + i] = 1;
        }
        for (int c = 0; c < n; c++)
        {
            int pivot = c;
            for (int r = c + 1; r < n; r++) if (Math.Abs(m[r, c]) > Math.Abs(m[pivot, c])) pivot = r;
            for (int j = 0; j < 2 * n; j++) (m[c, j], m[pivot, j]) = (m[pivot, j], m[c, j]);
            double p = m[c, c];
            for (int j = 0; j < 2 * n; j++) m[c, j] /= p;
            for (int r = 0; r < n; r++)
            {
                if (r == c) continue;
                double f = m[r, c];
                for (int j = 0; j < 2 * n; j++) m[r, j] -= f * m[c, j];
            }
        }
        var inv = new double[n, n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) inv[i, j] = m[i, n + j];
        return inv;
    }

    private static (double[] Mean, double[,] Covariance) SampleFit(float[][] rows)
    {
        int n = rows.Length, d = rows[0].Length;
        var mean = new double[d];
        foreach (var row in rows)
            for (int j = 0; j < d; j++) mean[j] += row[j] / (double)n;
        var cov = new double[d, d];
        foreach (var row in rows)
            for (int i = 0; i < d; i++)
                for (int j = 0; j < d; j++) cov[i, j] += (row[i] - mean[i]) * (row[j] - mean[j]) / (n - 1);
        return (mean, cov);
    }
}
