using System;
using System.Diagnostics;
using System.Linq;
using Microsoft.ML.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Evaluation;

/// <summary>Computes <see cref="GenerativeMetrics"/>: reads and checks the data, then runs every metric.</summary>
internal static class GenerativeEvaluator
{
    // Plots: features in the histogram grid, features in the correlation heat maps, points per set in the PCA scatter.
    internal const int PlottedFeatures = 16;
    internal const int HeatMapFeatures = 256;
    internal const int ScatterPoints = 2_000;

    public static GenerativeMetrics Evaluate(IHostEnvironment env, IDataView real, IDataView generated, string featureColumnName,
        GenerativeEvaluationOptions? options)
    {
        var host = env.Register("GenerativeEvaluation");
        host.CheckValue(real, nameof(real));
        host.CheckValue(generated, nameof(generated));
        host.CheckNonEmpty(featureColumnName, nameof(featureColumnName));
        options ??= new GenerativeEvaluationOptions();
        CheckOptions(host, options);
        int seed = options.Seed ?? host.Rand.Next();
        int k = options.NearestNeighbors;

        using var ch = host.Start("Evaluate");
        var clock = Stopwatch.StartNew();
        string? embeddingColumn = null;
        IDataView realView = real, generatedView = generated;
        if (options.Embedding is not null)
        {
            embeddingColumn = EvaluationData.ResolveEmbeddingColumn(options.Embedding, real.Schema, options.EmbeddingColumnName);
            realView = options.Embedding.Transform(real);
            generatedView = options.Embedding.Transform(generated);
        }

        // Each set gets its own seeded stream, so that changing one option does not move the others' samples.
        var (realRows, realEmbedding, realSeen) = EvaluationData.Read(host, realView, featureColumnName, embeddingColumn, "real", options.MaxRows, new Random(seed));
        var (generatedRows, generatedEmbedding, generatedSeen) = EvaluationData.Read(host, generatedView, featureColumnName, embeddingColumn, "generated", options.MaxRows, new Random(seed + 1));
        if (generatedRows.Width != realRows.Width)
            throw new ArgumentException(
                $"The generated column '{featureColumnName}' has {generatedRows.Width} features but the real one has {realRows.Width}; " +
                "both sets must have the same width (the same pipeline up to the features).", nameof(generated));
        CheckRowCount(realRows.Rows, "real", k);
        CheckRowCount(generatedRows.Rows, "generated", k);
        ch.Info("Evaluating {0} of {1} real and {2} of {3} generated rows, {4} features, seed {5}.",
            realRows.Rows, realSeen, generatedRows.Rows, generatedSeen, realRows.Width, seed);

        RowMatrix? trainingRows = null;
        if (options.Training is not null)
        {
            (trainingRows, _, _) = EvaluationData.Read(host, options.Training, featureColumnName, null, "training", options.MaxRows, new Random(seed + 2));
            if (trainingRows.Width != realRows.Width)
                throw new ArgumentException(
                    $"The training column '{featureColumnName}' has {trainingRows.Width} features but the real one has {realRows.Width}.",
                    nameof(GenerativeEvaluationOptions.Training));
            if (trainingRows.Rows == 0)
                throw new ArgumentException("The Training data has no rows.", nameof(GenerativeEvaluationOptions.Training));
        }

        var metrics = new GenerativeMetrics
        {
            RealRowCount = realRows.Rows,
            GeneratedRowCount = generatedRows.Rows,
            FeatureCount = realRows.Width,
            FeatureNames = EvaluationData.SlotNames(real, featureColumnName, realRows.Width),
            Seed = seed,
            NearestNeighbors = k,
        };

        // Column-wise metrics, in feature space.
        var marginals = Marginals.Compute(realRows, generatedRows, options.DiscreteMaxLevels);
        metrics.MarginalDistances = marginals.Distances;
        metrics.DiscreteFeatures = marginals.Discrete;
        var correlations = Correlations.Compute(realRows, generatedRows, marginals.ConstantReal, marginals.ConstantGenerated);
        metrics.CorrelationDistance = correlations.Distance;
        metrics.WorstCorrelationPair = correlations.WorstA < 0 ? (-1, -1, double.NaN)
            : (correlations.WorstA, correlations.WorstB, Math.Abs(correlations.Real[correlations.WorstA, correlations.WorstB] - correlations.Generated[correlations.WorstA, correlations.WorstB]));
        ch.Info("Marginals and correlations: {0:F1} s.", clock.Elapsed.TotalSeconds);

        // Representation metrics: in the embedding when one is given, else in feature space (standardized on request).
        var representationReal = realEmbedding ?? realRows;
        var representationGenerated = generatedEmbedding ?? generatedRows;
        metrics.RepresentationColumn = embeddingColumn ?? featureColumnName;
        metrics.RepresentationDimension = representationReal.Width;
        (double[] Mean, double[] Std)? standardization = options.StandardizeFeatures ? realRows.ColumnMoments() : null;
        RowMatrix ForDistances(RowMatrix m) => standardization is { } s ? m.Standardized(s.Mean, s.Std) : m;
        var distanceReal = realEmbedding ?? ForDistances(realRows);
        var distanceGenerated = generatedEmbedding ?? ForDistances(generatedRows);

        using (var scope = NewDisposeScope())
        {
            var r = representationReal.ToFloat64();
            var g = representationGenerated.ToFloat64();
            var (m1, c1) = Evaluation.FrechetDistance.Fit(r);
            var (m2, c2) = Evaluation.FrechetDistance.Fit(g);
            metrics.FrechetDistance = Evaluation.FrechetDistance.FromTensors(m1, c1, m2, c2);

            var mmdRandom = new Random(seed + 3);
            var x = distanceReal.Subsample(options.MmdMaxRows, mmdRandom).ToFloat64();
            var y = distanceGenerated.Subsample(options.MmdMaxRows, mmdRandom).ToFloat64();
            var mmd = MaximumMeanDiscrepancy.Compute(x, y, options.PermutationCount, mmdRandom);
            metrics.MmdSquared = mmd.Mmd2;
            metrics.MmdBandwidth = mmd.Bandwidth;
            metrics.MmdPValue = mmd.PValue;
            metrics.MmdRowCount = (int)Math.Min(x.shape[0], y.shape[0]);
            ch.Info("Fréchet distance and MMD²: {0:F1} s.", clock.Elapsed.TotalSeconds);

            var prdc = Distances.PrecisionRecallDensityCoverage(distanceReal.ToFloat64(), distanceGenerated.ToFloat64(), k);
            metrics.Precision = prdc.Precision;
            metrics.Recall = prdc.Recall;
            metrics.Density = prdc.Density;
            metrics.Coverage = prdc.Coverage;
            ch.Info("Precision, recall, density, coverage: {0:F1} s.", clock.Elapsed.TotalSeconds);
        }

        if (options.ComputeDetection)
        {
            var detectionRandom = new Random(seed + 4);
            var (auc, sd) = DetectionTest.Compute(realRows.Subsample(options.DetectionMaxRows, detectionRandom),
                generatedRows.Subsample(options.DetectionMaxRows, detectionRandom), options.DetectionFolds, options.DetectionTrees, seed);
            metrics.DetectionAuc = auc;
            metrics.DetectionAucStandardDeviation = sd;
            ch.Info("Detection AUC: {0:F1} s.", clock.Elapsed.TotalSeconds);
        }

        if (trainingRows is not null)
        {
            metrics.Memorization = Memorization(ForDistances(trainingRows), ForDistances(realRows), ForDistances(generatedRows), options.NearCopyFraction);
            ch.Info("Memorization: {0:F1} s.", clock.Elapsed.TotalSeconds);
        }

        metrics.Plots = PlotData.Create(realRows, generatedRows, marginals.Distances, marginals.ConstantReal, correlations, new Random(seed + 5));
        ch.Info("Evaluation done in {0:F1} s.", clock.Elapsed.TotalSeconds);
        return metrics;
    }

    internal static MemorizationMetrics Memorization(RowMatrix training, RowMatrix holdout, RowMatrix generated, double nearCopyFraction)
    {
        using var scope = NewDisposeScope();
        var t = training.ToFloat64();
        var generatedDcr = Distances.ClosestDistances(generated.ToFloat64(), t);
        var holdoutDcr = Distances.ClosestDistances(holdout.ToFloat64(), t);
        double medianHoldout = Distances.Quantile(holdoutDcr, 0.5);
        double threshold = nearCopyFraction * medianHoldout;
        double fifth = Distances.Quantile(holdoutDcr, 0.05);
        // A copy that only round-off separates from its original (~1e-7 in float64 here) counts even when threshold is 0.
        double copyLimit = Math.Max(threshold, 1e-6);
        return new MemorizationMetrics(training.Rows,
            medianGenerated: Distances.Quantile(generatedDcr, 0.5),
            medianHoldout: medianHoldout,
            nearCopyThreshold: threshold,
            nearCopyRate: generatedDcr.Count(d => d <= copyLimit) / (double)generatedDcr.Length,
            holdoutNearCopyRate: holdoutDcr.Count(d => d <= copyLimit) / (double)holdoutDcr.Length,
            shareBelowHoldoutFifthPercentile: generatedDcr.Count(d => d < fifth) / (double)generatedDcr.Length);
    }

    private static void CheckRowCount(int rows, string role, int k)
    {
        if (rows < k + 1)
            throw new ArgumentException(
                $"The {role} data has {rows} row(s); the k-nearest-neighbour metrics with NearestNeighbors = {k} need at least {k + 1} " +
                "(and the Fréchet distance at least 2). Pass more rows or lower NearestNeighbors.", role);
    }

    private static void CheckOptions(IHost host, GenerativeEvaluationOptions o)
    {
        host.CheckUserArg(o.MaxRows >= 2, nameof(o.MaxRows), "Must be at least 2.");
        host.CheckUserArg(o.MmdMaxRows >= 2, nameof(o.MmdMaxRows), "Must be at least 2.");
        host.CheckUserArg(o.PermutationCount >= 0, nameof(o.PermutationCount), "Must be 0 (no test) or positive.");
        host.CheckUserArg(o.NearestNeighbors >= 1, nameof(o.NearestNeighbors), "Must be at least 1.");
        host.CheckUserArg(o.DiscreteMaxLevels >= 0, nameof(o.DiscreteMaxLevels), "Must be 0 (all continuous) or positive.");
        host.CheckUserArg(o.DetectionFolds >= 2, nameof(o.DetectionFolds), "Must be at least 2.");
        host.CheckUserArg(o.DetectionMaxRows >= 2, nameof(o.DetectionMaxRows), "Must be at least 2.");
        host.CheckUserArg(o.DetectionTrees >= 1, nameof(o.DetectionTrees), "Must be at least 1.");
        host.CheckUserArg(o.NearCopyFraction >= 0 && double.IsFinite(o.NearCopyFraction), nameof(o.NearCopyFraction), "Must be finite and ≥ 0.");
        host.CheckUserArg(o.EmbeddingColumnName is null || o.Embedding is not null, nameof(o.EmbeddingColumnName),
            "Is set but Embedding is null: give the transformer that produces this column.");
    }
}
