using System;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Evaluation;

/// <summary>
/// Fréchet distance between the Gaussian fits of two sets of rows (the quantity behind FID when the rows are
/// Inception features; here any feature or embedding space).
/// </summary>
/// <remarks>
/// <para>FD = ‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2 (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2}), the squared 2-Wasserstein distance between
/// N(μ₁, Σ₁) and N(μ₂, Σ₂) (Dowson &amp; Landau 1982, "The Fréchet distance between multivariate normal
/// distributions"; used as FID by Heusel et al. 2017, "GANs trained by a two time-scale update rule converge to a
/// local Nash equilibrium"). Range [0, ∞), in squared feature units; lower is better; 0 only for equal means and
/// covariances.</para>
/// <para>Numerics: everything is float64. The matrix square roots come from symmetric eigen-decompositions
/// (LAPACK <c>syevd</c> through <c>torch.linalg.eigh</c>): Σ₁^{1/2} = V diag(√λ) Vᵀ, then the eigenvalues μ of the
/// symmetric positive semi-definite M = Σ₁^{1/2} Σ₂ Σ₁^{1/2} (symmetrized as (M + Mᵀ)/2 against round-off) give
/// tr(M^{1/2}) = Σ √μ. Unlike the general <c>sqrtm</c> of Σ₁Σ₂ used by pytorch-fid (which can return complex
/// values and needs an ε on the diagonal for singular covariances), this never leaves the reals and handles
/// singular covariances (fewer rows than features, constant features) as they are. Eigenvalues that are
/// negative only by round-off (above −1e-10 · the largest) are clamped to 0 before the square root, and so are
/// those below the rank threshold d · ε · λ_max (numpy's <c>matrix_rank</c> rule; a true zero comes out of the
/// eigen-solver as about ±ε · λ_max, whose square root would add noise); a larger negative eigenvalue means the
/// matrix is not a covariance and is rejected. A final result that is negative by
/// round-off (two identical fits) is returned as 0.</para>
/// </remarks>
public static class FrechetDistance
{
    // Relative size below which a negative eigenvalue is round-off (a PSD matrix computed in float64 can show
    // eigenvalues of about −n·ε·λ_max; 1e-10 leaves room for n up to ~10⁵).
    private const double NegativeEigenvalueTolerance = 1e-10;

    // float64 unit round-off ×2 (numpy's finfo(float64).eps); .NET's double.Epsilon is the smallest subnormal instead.
    private const double MachineEpsilon = 2.220446049250313e-16;

    /// <summary>
    /// Fréchet distance between the Gaussian fits of <paramref name="real"/> and <paramref name="generated"/>.
    /// </summary>
    /// <param name="real">Rows × features (every row the same width, at least 2 rows).</param>
    /// <param name="generated">Rows × features, the same width as <paramref name="real"/>, at least 2 rows.</param>
    /// <returns>The distance, ≥ 0, in squared feature units.</returns>
    /// <remarks>Each fit uses the sample mean and the unbiased sample covariance (divisor n − 1, as
    /// <c>numpy.cov</c> in pytorch-fid), computed in float64. See <see cref="FrechetDistance"/> for the formula.</remarks>
    /// <exception cref="ArgumentNullException">An argument or a row is null.</exception>
    /// <exception cref="ArgumentException">Fewer than 2 rows, rows of different widths, no features, or a NaN/∞
    /// value (the message names the set, row and slot).</exception>
    public static double Compute(float[][] real, float[][] generated)
    {
        var (x, d) = ToMatrix(real, nameof(real), expectedWidth: -1);
        var (y, _) = ToMatrix(generated, nameof(generated), expectedWidth: d);

        using var scope = NewDisposeScope();
        var (mean1, cov1) = Fit(tensor(x, new long[] { real.Length, d }));
        var (mean2, cov2) = Fit(tensor(y, new long[] { generated.Length, d }));
        return FromTensors(mean1, cov1, mean2, cov2);
    }

    /// <summary>
    /// Fréchet distance between N(<paramref name="mean1"/>, <paramref name="covariance1"/>) and
    /// N(<paramref name="mean2"/>, <paramref name="covariance2"/>).
    /// </summary>
    /// <param name="mean1">μ₁, length d.</param>
    /// <param name="covariance1">Σ₁, d × d, symmetric positive semi-definite.</param>
    /// <param name="mean2">μ₂, length d.</param>
    /// <param name="covariance2">Σ₂, d × d, symmetric positive semi-definite.</param>
    /// <returns>‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2 (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2}), ≥ 0.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">Sizes disagree, a value is NaN/∞, a covariance is not symmetric
    /// (relative asymmetry above 1e-8) or has a clearly negative eigenvalue.</exception>
    public static double Compute(double[] mean1, double[,] covariance1, double[] mean2, double[,] covariance2)
    {
        ArgumentNullException.ThrowIfNull(mean1);
        ArgumentNullException.ThrowIfNull(covariance1);
        ArgumentNullException.ThrowIfNull(mean2);
        ArgumentNullException.ThrowIfNull(covariance2);
        int d = mean1.Length;
        if (d == 0)
            throw new ArgumentException("The mean is empty: the distributions need at least one dimension.", nameof(mean1));
        if (mean2.Length != d)
            throw new ArgumentException($"mean2 has {mean2.Length} dimensions but mean1 has {d}.", nameof(mean2));
        CheckCovariance(covariance1, d, nameof(covariance1));
        CheckCovariance(covariance2, d, nameof(covariance2));
        CheckFinite(mean1, nameof(mean1));
        CheckFinite(mean2, nameof(mean2));

        using var scope = NewDisposeScope();
        var sigma2 = ToTensor(covariance2);
        // Σ₂ is checked on its own too: through M = Σ₁^{1/2} Σ₂ Σ₁^{1/2} only its part in Σ₁'s range is seen.
        ClampedEigenvalues(sigma2, nameof(covariance2));
        return FromTensors(tensor(mean1, ScalarType.Float64), ToTensor(covariance1),
            tensor(mean2, ScalarType.Float64), sigma2, nameof(covariance1), nameof(covariance2));
    }

    /// <summary>Mean [d] and unbiased covariance [d, d] of float64 rows [n, d] (n ≥ 2).</summary>
    internal static (Tensor Mean, Tensor Covariance) Fit(Tensor rows)
    {
        using var scope = NewDisposeScope();
        var x = rows.to_type(ScalarType.Float64);
        var mean = x.mean(new long[] { 0 });
        var centered = x - mean;
        var covariance = centered.t().mm(centered).div_(x.shape[0] - 1);
        return (mean.MoveToOuterDisposeScope(), covariance.MoveToOuterDisposeScope());
    }

    /// <summary>The distance from float64 tensors: means [d], covariances [d, d] (symmetric PSD).</summary>
    internal static double FromTensors(Tensor mean1, Tensor covariance1, Tensor mean2, Tensor covariance2,
        string name1 = "the real rows' covariance", string name2 = "the generated rows' covariance")
    {
        using var scope = NewDisposeScope();
        double meanTerm = (mean1 - mean2).square().sum().ToDouble();

        // Σ₁^{1/2} = V diag(√λ) Vᵀ
        var sqrt1 = SymmetricSqrt(covariance1, name1);
        var m = sqrt1.mm(covariance2).mm(sqrt1);
        m = (m + m.t()).mul_(0.5);
        // M's eigenvalues are those of Σ₁Σ₂; it is PSD exactly when Σ₂ is (Σ₁ being PSD).
        var mu = ClampedEigenvalues(m, name2);
        double traceSqrt = mu.sqrt().sum().ToDouble();
        double trace = covariance1.trace().ToDouble() + covariance2.trace().ToDouble();
        return Math.Max(0.0, meanTerm + trace - 2 * traceSqrt);
    }

    private static Tensor SymmetricSqrt(Tensor symmetric, string name)
    {
        using var scope = NewDisposeScope();
        var (values, vectors) = linalg.eigh(symmetric);
        var clamped = Clamp(values, name);
        var result = (vectors * clamped.sqrt().unsqueeze(0)).mm(vectors.t());
        return result.MoveToOuterDisposeScope();
    }

    private static Tensor ClampedEigenvalues(Tensor symmetric, string name)
    {
        using var scope = NewDisposeScope();
        var values = linalg.eigvalsh(symmetric);
        return Clamp(values, name).MoveToOuterDisposeScope();
    }

    private static Tensor Clamp(Tensor eigenvalues, string name)
    {
        double largest = eigenvalues.abs().max().ToDouble();
        double smallest = eigenvalues.min().ToDouble();
        if (smallest < -NegativeEigenvalueTolerance * Math.Max(largest, double.Epsilon) && smallest < -1e-300)
            throw new ArgumentException(
                $"{name} is not positive semi-definite: it has the eigenvalue {smallest:G6} (largest magnitude " +
                $"{largest:G6}). Pass a covariance matrix (for example the sample covariance of rows).", name);
        // Eigenvalues within the rank threshold d·ε·λ_max of 0 (numpy's matrix_rank rule) are 0: a true zero comes out
        // of eigh as ±1e-16·λ_max, and its square root (1e-8·√λ_max) would otherwise add noise to tr(M^{1/2}).
        double threshold = eigenvalues.shape[0] * MachineEpsilon * largest;
        return eigenvalues.where(eigenvalues > threshold, 0.0);
    }

    private static Tensor ToTensor(double[,] matrix)
    {
        int d = matrix.GetLength(0);
        var flat = new double[d * d];
        Buffer.BlockCopy(matrix, 0, flat, 0, flat.Length * sizeof(double));
        return tensor(flat, new long[] { d, d }, ScalarType.Float64);
    }

    private static void CheckCovariance(double[,] covariance, int d, string name)
    {
        if (covariance.GetLength(0) != d || covariance.GetLength(1) != d)
            throw new ArgumentException(
                $"{name} is {covariance.GetLength(0)} × {covariance.GetLength(1)} but the means have {d} dimensions; it must be {d} × {d}.", name);
        double scale = 0;
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++)
            {
                double v = covariance[i, j];
                if (!double.IsFinite(v))
                    throw new ArgumentException($"{name}[{i}, {j}] is {v}; a covariance must be finite.", name);
                scale = Math.Max(scale, Math.Abs(v));
            }
        for (int i = 0; i < d; i++)
            for (int j = i + 1; j < d; j++)
                if (Math.Abs(covariance[i, j] - covariance[j, i]) > 1e-8 * scale)
                    throw new ArgumentException(
                        $"{name} is not symmetric: [{i}, {j}] = {covariance[i, j]:G6} but [{j}, {i}] = {covariance[j, i]:G6}.", name);
    }

    private static void CheckFinite(double[] values, string name)
    {
        for (int i = 0; i < values.Length; i++)
            if (!double.IsFinite(values[i]))
                throw new ArgumentException($"{name}[{i}] is {values[i]}; the mean must be finite.", name);
    }

    /// <summary>Copies rows into one row-major float32 array, checking width and finiteness.</summary>
    private static (float[] Values, int Width) ToMatrix(float[][] rows, string name, int expectedWidth)
    {
        ArgumentNullException.ThrowIfNull(rows, name);
        if (rows.Length < 2)
            throw new ArgumentException(
                $"{name} has {rows.Length} row(s); a Gaussian fit (mean and covariance) needs at least 2.", name);
        if (rows[0] is null)
            throw new ArgumentNullException(name, $"{name}[0] is null.");
        int d = rows[0].Length;
        if (expectedWidth >= 0 && d != expectedWidth)
            throw new ArgumentException(
                $"{name} rows have {d} features but the real rows have {expectedWidth}; both sets must have the same width.", name);
        if (d == 0)
            throw new ArgumentException($"{name} rows have no features.", name);
        var values = new float[(long)rows.Length * d];
        for (int r = 0; r < rows.Length; r++)
        {
            var row = rows[r] ?? throw new ArgumentNullException(name, $"{name}[{r}] is null.");
            if (row.Length != d)
                throw new ArgumentException($"{name}[{r}] has {row.Length} features but {name}[0] has {d}; every row must have the same width.", name);
            for (int s = 0; s < d; s++)
            {
                float v = row[s];
                if (!float.IsFinite(v))
                    throw new ArgumentException($"{name} row {r}, slot {s} is {v}; every value must be finite (remove or impute such rows).", name);
            }
            Array.Copy(row, 0, values, (long)r * d, d);
        }
        return (values, d);
    }
}
