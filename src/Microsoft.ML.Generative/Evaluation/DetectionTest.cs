using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers.FastTree;

namespace Microsoft.ML.Generative.Evaluation;

/// <summary>
/// Classifier two-sample test: a FastTree classifier learns to tell real (label true) from generated rows; its
/// cross-validated ROC AUC is the metric (Lopez-Paz &amp; Oquab 2017, "Revisiting classifier two-sample tests";
/// SDMetrics' "LogisticDetection" with boosted trees instead of a linear model).
/// </summary>
internal static class DetectionTest
{
    private sealed class LabeledRow
    {
        public bool Label { get; set; }

        public float[] Features { get; set; } = Array.Empty<float>();
    }

    /// <returns>Mean and standard deviation of the per-fold AUCs.</returns>
    public static (double Auc, double StandardDeviation) Compute(RowMatrix real, RowMatrix generated, int folds, int trees, int seed)
    {
        // A context of its own: folds and trees depend only on the seed, and the user's log is not flooded with
        // FastTree's progress.
        var ml = new MLContext(seed);
        var rows = new List<LabeledRow>(real.Rows + generated.Rows);
        for (int i = 0; i < real.Rows; i++)
            rows.Add(new LabeledRow { Label = true, Features = real.Row(i).ToArray() });
        for (int i = 0; i < generated.Rows; i++)
            rows.Add(new LabeledRow { Label = false, Features = generated.Row(i).ToArray() });
        var schema = SchemaDefinition.Create(typeof(LabeledRow));
        schema[nameof(LabeledRow.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, real.Width);
        var data = ml.Data.LoadFromEnumerable(rows, schema);

        var trainer = ml.BinaryClassification.Trainers.FastTree(new FastTreeBinaryTrainer.Options
        {
            LabelColumnName = nameof(LabeledRow.Label),
            FeatureColumnName = nameof(LabeledRow.Features),
            NumberOfTrees = trees,
            NumberOfLeaves = 20,
            MinimumExampleCountPerLeaf = 10,
            LearningRate = 0.2,
            // 32 bins instead of 255: 3× faster on wide data (4,000 × 784, 3 folds: 16–20 s → 5.4 s) for a slightly
            // weaker detector (AUC 0.954 → 0.936 on that case); a two-sample test needs no finer splits.
            MaximumBinCountPerFeature = 32,
            Seed = seed,
        });
        var results = ml.BinaryClassification.CrossValidateNonCalibrated(data, trainer, folds,
            nameof(LabeledRow.Label), seed: seed);
        var aucs = results.Select(r => r.Metrics.AreaUnderRocCurve).ToArray();
        double mean = aucs.Average();
        double sd = aucs.Length > 1 ? Math.Sqrt(aucs.Sum(a => (a - mean) * (a - mean)) / (aucs.Length - 1)) : 0;
        return (mean, sd);
    }
}
