using System;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Evaluation;

/// <summary>What <see cref="GenerativeMetrics.SavePlots"/> draws, kept small: a few columns, two correlation matrices, 2-D points.</summary>
internal sealed class PlotData
{
    public int[] HistogramFeatures { get; private init; } = Array.Empty<int>();
    public double[][] RealColumns { get; private init; } = Array.Empty<double[]>();
    public double[][] GeneratedColumns { get; private init; } = Array.Empty<double[]>();
    public int[] HeatMapFeatures { get; private init; } = Array.Empty<int>();
    public double[,] RealCorrelation { get; private init; } = new double[0, 0];
    public double[,] GeneratedCorrelation { get; private init; } = new double[0, 0];
    public double[][] RealPoints { get; private init; } = Array.Empty<double[]>();      // [2][n]
    public double[][] GeneratedPoints { get; private init; } = Array.Empty<double[]>(); // [2][m]
    public double[] ExplainedVariance { get; private init; } = Array.Empty<double>();   // share of the real variance on PC1, PC2

    public static PlotData Create(RowMatrix real, RowMatrix generated, double[] marginalDistances, bool[] constantReal, Correlations.Result correlations, Random random)
    {
        int d = real.Width;
        // The features whose marginals differ most, shown in index order. Features constant in the real rows (e.g.
        // blank border pixels) come last: their histograms show one bar and say nothing the table does not.
        var histogram = Enumerable.Range(0, d).OrderBy(j => constantReal[j]).ThenByDescending(j => marginalDistances[j]).ThenBy(j => j)
            .Take(GenerativeEvaluator.PlottedFeatures).OrderBy(j => j).ToArray();
        var realColumns = histogram.Select(j => Column(real, j)).ToArray();
        var generatedColumns = histogram.Select(j => Column(generated, j)).ToArray();

        // Heat maps: every feature up to the cap, else the most variable real ones.
        var spread = new double[d];
        for (int j = 0; j < d; j++)
        {
            var column = Column(real, j);
            double average = column.Average();
            spread[j] = column.Sum(v => (v - average) * (v - average));
        }
        var heat = d <= GenerativeEvaluator.HeatMapFeatures ? Enumerable.Range(0, d).ToArray()
            : Enumerable.Range(0, d).OrderByDescending(j => spread[j]).ThenBy(j => j).Take(GenerativeEvaluator.HeatMapFeatures).OrderBy(j => j).ToArray();
        var realCorrelation = new double[heat.Length, heat.Length];
        var generatedCorrelation = new double[heat.Length, heat.Length];
        for (int a = 0; a < heat.Length; a++)
            for (int b = 0; b < heat.Length; b++)
            {
                realCorrelation[a, b] = correlations.Real[heat[a], heat[b]];
                generatedCorrelation[a, b] = correlations.Generated[heat[a], heat[b]];
            }

        // PCA of the real rows (float64 covariance, symmetric eigen-decomposition); both sets projected on PC1, PC2.
        using var scope = NewDisposeScope();
        var x = real.ToFloat64();
        var (mean, covariance) = FrechetDistance.Fit(x);
        var (values, vectors) = linalg.eigh(covariance);          // ascending eigenvalues
        int components = Math.Min(2, d);
        var top = vectors.flip(1)[.., ..components];             // [d, components]
        double total = values.clamp_min(0).sum().ToDouble();
        var explained = values.flip(0)[..components].clamp_min(0).data<double>().Select(v => total > 0 ? v / total : 0).ToArray();
        double[][] Project(RowMatrix rows)
        {
            var p = (rows.Subsample(GenerativeEvaluator.ScatterPoints, random).ToFloat64() - mean).mm(top).t().contiguous(); // [components, n]
            var flat = p.data<double>().ToArray();
            int n = (int)p.shape[1];
            return Enumerable.Range(0, 2).Select(c => c < components ? flat.AsSpan(c * n, n).ToArray() : new double[n]).ToArray();
        }

        return new PlotData
        {
            HistogramFeatures = histogram,
            RealColumns = realColumns,
            GeneratedColumns = generatedColumns,
            HeatMapFeatures = heat,
            RealCorrelation = realCorrelation,
            GeneratedCorrelation = generatedCorrelation,
            RealPoints = Project(real),
            GeneratedPoints = Project(generated),
            ExplainedVariance = explained,
        };
    }

    private static double[] Column(RowMatrix rows, int j)
    {
        var c = new double[rows.Rows];
        rows.CopyColumn(j, c);
        return c;
    }
}
