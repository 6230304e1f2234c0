using System;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Evaluation;

/// <summary>
/// k-nearest-neighbour work on float64 tensors, in row blocks so that memory stays at Block × N distances:
/// precision / recall / density / coverage and distances to the closest record.
/// </summary>
internal static class Distances
{
    // 1,024 × 10,000 float64 distances = 80 MB per block.
    private const int Block = 1024;

    internal sealed record Manifold(double Precision, double Recall, double Density, double Coverage);

    /// <summary>Squared Euclidean distances [a, b] between the rows of <paramref name="x"/> [a, d] and <paramref name="y"/> [b, d].</summary>
    /// <remarks>‖x‖² + ‖y‖² − 2 x·y in float64 (one GEMM), clamped at 0: exact-copy distances come out at
    /// ~1e-15 · ‖x‖², far below any threshold used here.</remarks>
    public static Tensor SquaredDistances(Tensor x, Tensor y, Tensor? xNorms = null, Tensor? yNorms = null)
    {
        using var scope = NewDisposeScope();
        var xn = xNorms ?? x.square().sum(1);
        var yn = yNorms ?? y.square().sum(1);
        var d = x.mm(y.t()).mul_(-2.0).add_(xn.unsqueeze(1)).add_(yn.unsqueeze(0)).clamp_min_(0.0);
        return d.MoveToOuterDisposeScope();
    }

    /// <summary>Squared distance of every row to its k-th nearest neighbour in the same set (itself excluded) [n].</summary>
    public static Tensor KthNeighborSquaredRadii(Tensor x, int k)
    {
        using var scope = NewDisposeScope();
        long n = x.shape[0];
        var norms = x.square().sum(1);
        var radii = empty(n, dtype: ScalarType.Float64);
        for (long start = 0; start < n; start += Block)
        {
            using var step = NewDisposeScope();
            long end = Math.Min(n, start + Block);
            var d = SquaredDistances(x.narrow(0, start, end - start), x, norms.narrow(0, start, end - start), norms);
            // The row itself (distance ~0) is the smallest; the (k+1)-th smallest is the k-th neighbour.
            var (values, _) = d.kthvalue(k + 1, 1);
            radii.narrow(0, start, end - start).copy_(values);
        }
        return radii.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Precision, recall, density and coverage of <paramref name="generated"/> against <paramref name="real"/>
    /// with k-NN balls (Kynkäänniemi et al. 2019; Naeem et al. 2020).
    /// </summary>
    public static Manifold PrecisionRecallDensityCoverage(Tensor real, Tensor generated, int k)
    {
        using var scope = NewDisposeScope();
        long n = real.shape[0], m = generated.shape[0];
        var realRadii = KthNeighborSquaredRadii(real, k);          // [n]
        var generatedRadii = KthNeighborSquaredRadii(generated, k); // [m]
        var realNorms = real.square().sum(1);
        var generatedNorms = generated.square().sum(1);

        long precisionCount = 0;
        double densitySum = 0;
        var nearestGenerated = full(n, double.PositiveInfinity, dtype: ScalarType.Float64); // min_j ‖x_i − y_j‖²
        var recalled = zeros(n, dtype: ScalarType.Bool);                                   // x_i in some fake ball
        for (long start = 0; start < m; start += Block)
        {
            using var step = NewDisposeScope();
            long end = Math.Min(m, start + Block);
            var d = SquaredDistances(generated.narrow(0, start, end - start), real, generatedNorms.narrow(0, start, end - start), realNorms); // [b, n]
            var inRealBalls = d <= realRadii.unsqueeze(0);
            precisionCount += inRealBalls.any(1).sum().ToInt64();
            densitySum += inRealBalls.sum().ToDouble();
            nearestGenerated.copy_(minimum(nearestGenerated, d.amin(new long[] { 0 })));
            recalled.logical_or_((d <= generatedRadii.narrow(0, start, end - start).unsqueeze(1)).any(0));
        }
        double coverage = (nearestGenerated <= realRadii).sum().ToDouble() / n;
        return new Manifold(
            Precision: precisionCount / (double)m,
            Recall: recalled.sum().ToDouble() / n,
            Density: densitySum / (k * (double)m),
            Coverage: coverage);
    }

    /// <summary>Distance (not squared) of every row of <paramref name="x"/> to its closest row of <paramref name="reference"/> [rows of x].</summary>
    public static double[] ClosestDistances(Tensor x, Tensor reference)
    {
        using var scope = NewDisposeScope();
        long n = x.shape[0];
        var referenceNorms = reference.square().sum(1);
        var xNorms = x.square().sum(1);
        var result = new double[n];
        for (long start = 0; start < n; start += Block)
        {
            using var step = NewDisposeScope();
            long end = Math.Min(n, start + Block);
            var d = SquaredDistances(x.narrow(0, start, end - start), reference, xNorms.narrow(0, start, end - start), referenceNorms).amin(new long[] { 1 }).sqrt();
            d.data<double>().ToArray().CopyTo(result, start);
        }
        return result;
    }

    /// <summary>The q-quantile (0 ≤ q ≤ 1) of <paramref name="values"/>, linear interpolation between order statistics.</summary>
    public static double Quantile(double[] values, double q)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        double position = q * (sorted.Length - 1);
        int low = (int)Math.Floor(position);
        int high = Math.Min(low + 1, sorted.Length - 1);
        return sorted[low] + (position - low) * (sorted[high] - sorted[low]);
    }
}
