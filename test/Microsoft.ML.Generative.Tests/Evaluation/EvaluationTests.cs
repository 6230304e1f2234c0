using System;
using System.IO;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Evaluation;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using SkiaSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Tests.Evaluation;

[TestClass]
public sealed class EvaluationTests
{
    private static readonly GenerativeEvaluationOptions Fast = new() { Seed = 1, ComputeDetection = false, PermutationCount = 0 };

    // ---- marginals -------------------------------------------------------------------------------------------

    // a = {1, 2, 3, 4}, b = {3, 4, 5, 6, 7}: F_a − F_b at x = 1, 2, 3, 4, 5 is .25, .5, .75 − .2, 1 − .4, 1 − .6,
    // so D = 0.6 (reached at x = 4, with ties across the samples).
    // TV of {0, 0, 1, 1} vs {0, 1, 1, 1, 2}: ½(|.5 − .2| + |.5 − .6| + |0 − .2|) = 0.3.
    [TestMethod]
    public void Marginals_MatchHandComputedKsAndTv()
    {
        Assert.AreEqual(0.6, Marginals.KolmogorovSmirnov(new double[] { 1, 2, 3, 4 }, new double[] { 3, 4, 5, 6, 7 }), 1e-12);
        Assert.AreEqual(0.6, Marginals.KolmogorovSmirnov(new double[] { 3, 4, 5, 6, 7 }, new double[] { 1, 2, 3, 4 }), 1e-12);
        Assert.AreEqual(0.0, Marginals.KolmogorovSmirnov(new double[] { 2, 2, 2 }, new double[] { 2, 2 }), 1e-12);
        Assert.AreEqual(1.0, Marginals.KolmogorovSmirnov(new double[] { 1, 1 }, new double[] { 2, 2 }), 1e-12);
        Assert.AreEqual(0.3, Marginals.TotalVariation(new double[] { 0, 0, 1, 1 }, new double[] { 0, 1, 1, 1, 2 }), 1e-12);

        // Through Evaluate: slot 0 continuous (KS), slot 1 discrete (TV), slot 2 constant 5 in both (0).
        var ml = new MLContext(1);
        double[] a0 = { 1.5, 2.5, 3.5, 4.5, 1.25, 2.25, 3.25 }, b0 = { 3.5, 4.5, 5.5, 6.5, 7.5, 8.5 };
        double[] a1 = { 0, 0, 1, 1, 0, 1, 1 }, b1 = { 0, 1, 1, 1, 2, 2 };
        var real = a0.Select((v, i) => new[] { (float)v, (float)a1[i], 5f }).ToArray();
        var generated = b0.Select((v, i) => new[] { (float)v, (float)b1[i], 5f }).ToArray();
        var m = ml.Generative().Evaluate(View(ml, real, slotNames: new[] { "income", "children", "constant" }), View(ml, generated), "Features",
            new GenerativeEvaluationOptions { Seed = 1, NearestNeighbors = 2, ComputeDetection = false, PermutationCount = 0 });
        double ks = Marginals.KolmogorovSmirnov(a0.OrderBy(v => v).ToArray(), b0.OrderBy(v => v).ToArray());
        // By hand: at x = 3.25, F_a = 5/7 and F_b = 0; at 3.5, 6/7 − 1/6 = 0.690; at 4.5, 1 − 2/6: 5/7 is the largest gap.
        Assert.AreEqual(5.0 / 7.0, ks, 1e-12);
        Assert.AreEqual(ks, m.MarginalDistances[0], 1e-12);
        // p = {0: 3/7, 1: 4/7}, q = {0: 1/6, 1: 3/6, 2: 2/6}
        Assert.AreEqual(0.5 * (Math.Abs(3 / 7.0 - 1 / 6.0) + Math.Abs(4 / 7.0 - 3 / 6.0) + 2 / 6.0), m.MarginalDistances[1], 1e-12);
        Assert.AreEqual(0.0, m.MarginalDistances[2]);
        CollectionAssert.AreEqual(new[] { false, true, true }, m.DiscreteFeatures.ToArray());
        Assert.AreEqual(0, m.WorstMarginalFeature);
        StringAssert.Contains(m.ToString(), "'income' (KS)");
        // The constant feature has correlation 0 with the others in both sets, so it adds nothing to the distance.
        Assert.IsFalse(double.IsNaN(m.CorrelationDistance));
    }

    // ---- correlations --------------------------------------------------------------------------------------------

    [TestMethod]
    public void CorrelationDistance_MatchesManagedPearson_AndConstantFeaturesAreZero()
    {
        var random = new Random(2);
        float[] Row(double rho)
        {
            double z1 = FrechetDistanceTests.Normal(random), z2 = FrechetDistanceTests.Normal(random);
            return new[] { (float)z1, (float)(rho * z1 + Math.Sqrt(1 - rho * rho) * z2), (float)FrechetDistanceTests.Normal(random), 3f };
        }
        var real = Enumerable.Range(0, 300).Select(_ => Row(0.8)).ToArray();
        var generated = Enumerable.Range(0, 300).Select(_ => Row(0.1)).ToArray();
        var ml = new MLContext(1);
        var m = ml.Generative().Evaluate(View(ml, real), View(ml, generated), "Features", Fast);
        double expected = 0;
        int pairs = 0;
        for (int i = 0; i < 4; i++)
            for (int j = i + 1; j < 4; j++, pairs++)
                expected += Math.Abs(Pearson(real, i, j) - Pearson(generated, i, j));
        Assert.AreEqual(expected / pairs, m.CorrelationDistance, 1e-9);
        Assert.AreEqual((0, 1), (m.WorstCorrelationPair.First, m.WorstCorrelationPair.Second));
        Assert.AreEqual(Math.Abs(Pearson(real, 0, 1) - Pearson(generated, 0, 1)), m.WorstCorrelationPair.Difference, 1e-9);
        Assert.IsTrue(m.WorstCorrelationPair.Difference > 0.55, $"{m.WorstCorrelationPair}");
    }

    // ---- MMD² --------------------------------------------------------------------------------------------------

    [TestMethod]
    public void Mmd_MatchesManagedUnbiasedEstimate_WithMedianBandwidth()
    {
        var random = new Random(3);
        var x = Gaussian(random, 25, 3, 0);
        var y = Gaussian(random, 30, 3, 0.7);
        using var scope = NewDisposeScope();
        var result = MaximumMeanDiscrepancy.Compute(Matrix(x).ToFloat64(), Matrix(y).ToFloat64(), 0, new Random(1));

        var pooled = x.Concat(y).ToArray();
        var distances = (from i in Enumerable.Range(0, pooled.Length) from j in Enumerable.Range(i + 1, pooled.Length - i - 1)
                         select Distance(pooled[i], pooled[j])).OrderBy(d => d).ToArray();
        // torch.median returns the lower of the two middle values for an even count.
        double sigma = distances[(distances.Length - 1) / 2];
        double K(float[] a, float[] b) => Math.Exp(-Math.Pow(Distance(a, b), 2) / (2 * sigma * sigma));
        double xx = 0, yy = 0, xy = 0;
        for (int i = 0; i < x.Length; i++) for (int j = 0; j < x.Length; j++) if (i != j) xx += K(x[i], x[j]);
        for (int i = 0; i < y.Length; i++) for (int j = 0; j < y.Length; j++) if (i != j) yy += K(y[i], y[j]);
        for (int i = 0; i < x.Length; i++) for (int j = 0; j < y.Length; j++) xy += K(x[i], y[j]);
        double expected = xx / (25 * 24) + yy / (30 * 29) - 2 * xy / (25 * 30);
        Assert.AreEqual(expected, result.Mmd2, 1e-12);
        Assert.AreEqual(sigma, result.Bandwidth, 1e-9);
        Assert.IsTrue(double.IsNaN(result.PValue));
    }

    [TestMethod]
    public void Mmd_SameDistributionNearZero_ShiftedPositiveAndRejected()
    {
        var random = new Random(4);
        var real = Gaussian(random, 400, 4, 0);
        var same = Gaussian(random, 400, 4, 0);
        var shifted = Gaussian(random, 400, 4, 0.5);
        var ml = new MLContext(1);
        var options = new GenerativeEvaluationOptions { Seed = 1, ComputeDetection = false, PermutationCount = 200 };
        var a = ml.Generative().Evaluate(View(ml, real), View(ml, same), "Features", options);
        var b = ml.Generative().Evaluate(View(ml, real), View(ml, shifted), "Features", options);
        Assert.IsTrue(Math.Abs(a.MmdSquared) < 0.005, $"same distribution: MMD² = {a.MmdSquared}");
        Assert.IsTrue(a.MmdPValue > 0.05, $"same distribution: p = {a.MmdPValue}");
        Assert.IsTrue(b.MmdSquared > 0.02, $"shifted: MMD² = {b.MmdSquared}");
        Assert.AreEqual(1.0 / 201, b.MmdPValue, 1e-12, "no permutation reaches the shifted MMD²");
        // Identical sets: the unbiased estimate is −(2/n)(1 − mean off-diagonal k) < 0, tiny.
        var c = ml.Generative().Evaluate(View(ml, real), View(ml, real), "Features", options);
        Assert.IsTrue(c.MmdSquared <= 0 && c.MmdSquared > -2.0 / 400, $"identical: {c.MmdSquared}");
        Assert.AreEqual(0.0, c.FrechetDistance, 1e-9);
    }

    // ---- precision / recall / density / coverage ------------------------------------------------------------

    [TestMethod]
    public void Prdc_MatchesBruteForce()
    {
        var random = new Random(5);
        var real = Gaussian(random, 60, 2, 0);
        var generated = Gaussian(random, 45, 2, 0.8);
        using var scope = NewDisposeScope();
        var result = Distances.PrecisionRecallDensityCoverage(Matrix(real).ToFloat64(), Matrix(generated).ToFloat64(), 5);
        double[] Radii(float[][] set) => set.Select(p => set.Select(q => Distance(p, q)).OrderBy(d => d).ElementAt(5)).ToArray();
        var rr = Radii(real);
        var rg = Radii(generated);
        double precision = generated.Count(g => real.Select((r, i) => Distance(g, r) <= rr[i]).Any(b => b)) / 45.0;
        double recall = real.Count(r => generated.Select((g, j) => Distance(r, g) <= rg[j]).Any(b => b)) / 60.0;
        double density = generated.Sum(g => real.Select((r, i) => Distance(g, r) <= rr[i]).Count(b => b)) / (5.0 * 45);
        double coverage = real.Select((r, i) => generated.Min(g => Distance(r, g)) <= rr[i]).Count(b => b) / 60.0;
        Assert.AreEqual(precision, result.Precision, 1e-12);
        Assert.AreEqual(recall, result.Recall, 1e-12);
        Assert.AreEqual(density, result.Density, 1e-12);
        Assert.AreEqual(coverage, result.Coverage, 1e-12);
        Assert.IsTrue(precision < 1 && recall < 1, "the shifted sets must not be trivially inside each other");
    }

    // Real: two far-apart modes. A generator covering one mode keeps precision but loses half the recall and
    // coverage; one covering both has both.
    [TestMethod]
    public void Prdc_OneModeVersusTwo()
    {
        var random = new Random(6);
        float[] At(double cx) => new[] { (float)(cx + FrechetDistanceTests.Normal(random)), (float)FrechetDistanceTests.Normal(random) };
        var real = Enumerable.Range(0, 400).Select(i => At(i % 2 == 0 ? -20 : 20)).ToArray();
        var oneMode = Enumerable.Range(0, 400).Select(_ => At(-20)).ToArray();
        var twoModes = Enumerable.Range(0, 400).Select(i => At(i % 2 == 0 ? -20 : 20)).ToArray();
        var ml = new MLContext(1);
        var one = ml.Generative().Evaluate(View(ml, real), View(ml, oneMode), "Features", Fast);
        var two = ml.Generative().Evaluate(View(ml, real), View(ml, twoModes), "Features", Fast);
        Assert.IsTrue(one.Precision > 0.9 && two.Precision > 0.9, $"precision {one.Precision}, {two.Precision}");
        Assert.IsTrue(one.Recall > 0.4 && one.Recall < 0.55, $"one mode: recall {one.Recall}");
        Assert.IsTrue(one.Coverage > 0.4 && one.Coverage < 0.55, $"one mode: coverage {one.Coverage}");
        Assert.IsTrue(two.Recall > 0.9 && two.Coverage > 0.9, $"two modes: recall {two.Recall}, coverage {two.Coverage}");
        // Density counts real balls around each generated row: ≈ 1 in both cases (it measures fidelity, not diversity).
        Assert.IsTrue(Math.Abs(one.Density - 1) < 0.25 && Math.Abs(two.Density - 1) < 0.25, $"density {one.Density}, {two.Density}");
    }

    // ---- detection --------------------------------------------------------------------------------------------

    [TestMethod]
    public void DetectionAuc_HalfForOneDistribution_OneForSeparable()
    {
        var random = new Random(7);
        var real = Gaussian(random, 500, 4, 0);
        var same = Gaussian(random, 500, 4, 0);
        var far = Gaussian(random, 500, 4, 4);
        var ml = new MLContext(1);
        var options = new GenerativeEvaluationOptions { Seed = 1, PermutationCount = 0 };
        var a = ml.Generative().Evaluate(View(ml, real), View(ml, same), "Features", options);
        var b = ml.Generative().Evaluate(View(ml, real), View(ml, far), "Features", options);
        Assert.IsTrue(Math.Abs(a.DetectionAuc - 0.5) < 0.07, $"same distribution: AUC {a.DetectionAuc}");
        Assert.IsTrue(b.DetectionAuc > 0.99, $"separable: AUC {b.DetectionAuc}");
        var again = ml.Generative().Evaluate(View(ml, real), View(ml, same), "Features", options);
        Assert.AreEqual(a.DetectionAuc, again.DetectionAuc, "same seed, same AUC");
    }

    // ---- memorization -------------------------------------------------------------------------------------------

    [TestMethod]
    public void Memorization_FlagsCopiedRows()
    {
        var random = new Random(8);
        var training = Gaussian(random, 400, 5, 0);
        var holdout = Gaussian(random, 300, 5, 0);
        // Half exact copies of training rows, half fresh rows.
        var copies = Enumerable.Range(0, 300).Select(i => i % 2 == 0 ? training[i].ToArray() : Gaussian(random, 1, 5, 0)[0]).ToArray();
        var fresh = Gaussian(random, 300, 5, 0);
        var ml = new MLContext(1);
        var options = new GenerativeEvaluationOptions { Seed = 1, ComputeDetection = false, PermutationCount = 0, Training = View(ml, training) };
        var copied = ml.Generative().Evaluate(View(ml, holdout), View(ml, copies), "Features", options).Memorization!;
        var clean = ml.Generative().Evaluate(View(ml, holdout), View(ml, fresh), "Features", options).Memorization!;
        Assert.AreEqual(0.5, copied.NearCopyRate, 0.02, copied.ToString());
        Assert.AreEqual(0.0, copied.HoldoutNearCopyRate, 0.01, copied.ToString());
        Assert.IsTrue(copied.ShareBelowHoldoutFifthPercentile > 0.45, copied.ToString());
        Assert.IsTrue(copied.DcrRatio < 0.6, copied.ToString());
        Assert.AreEqual(0.0, clean.NearCopyRate, 0.01, clean.ToString());
        Assert.IsTrue(Math.Abs(clean.DcrRatio - 1) < 0.15, clean.ToString());
        Assert.IsTrue(clean.ShareBelowHoldoutFifthPercentile < 0.12, clean.ToString());
        Assert.AreEqual(400, copied.TrainingRowCount);
    }

    // ---- embedding, determinism, subsampling, plots ------------------------------------------------------------

    [TestMethod]
    public void Embedding_RepresentationMetricsUseItsOutput()
    {
        var random = new Random(9);
        var real = Gaussian(random, 200, 3, 0);
        var generated = Gaussian(random, 200, 3, 0.3);
        var ml = new MLContext(1);
        var realView = View(ml, real);
        // An affine map of the features (x − min) / (max − min): FD in that space is computable by hand.
        var embedding = ml.Transforms.NormalizeMinMax("Embedded", "Features", fixZero: false).Fit(realView);
        var m = ml.Generative().Evaluate(realView, View(ml, generated), "Features",
            new GenerativeEvaluationOptions { Seed = 1, ComputeDetection = false, PermutationCount = 0, Embedding = embedding });
        Assert.AreEqual("Embedded", m.RepresentationColumn);
        var embeddedReal = Embedded(ml, embedding, realView);
        var embeddedGenerated = Embedded(ml, embedding, View(ml, generated));
        Assert.AreEqual(FrechetDistance.Compute(embeddedReal, embeddedGenerated), m.FrechetDistance, 1e-9);
        Assert.AreNotEqual(FrechetDistance.Compute(real, generated), m.FrechetDistance, 1e-3);
    }

    [TestMethod]
    public void SameSeed_SameMetrics_AndSubsampleCapHolds()
    {
        var random = new Random(10);
        var real = Gaussian(random, 600, 3, 0);
        var generated = Gaussian(random, 500, 3, 0.2);
        var options = new GenerativeEvaluationOptions { Seed = 5, MaxRows = 300, MmdMaxRows = 100, PermutationCount = 20, DetectionTrees = 5 };
        string Run() { var ml = new MLContext(1); return ml.Generative().Evaluate(View(ml, real), View(ml, generated), "Features", options).ToString(); }
        var first = Run();
        Assert.AreEqual(first, Run());
        var ml2 = new MLContext(1);
        var m = ml2.Generative().Evaluate(View(ml2, real), View(ml2, generated), "Features", options);
        Assert.AreEqual(300, m.RealRowCount);
        Assert.AreEqual(300, m.GeneratedRowCount);
        Assert.AreEqual(100, m.MmdRowCount);
        // Without a seed the MLContext's seed decides.
        var noSeed = new GenerativeEvaluationOptions { MaxRows = 300, ComputeDetection = false, PermutationCount = 0 };
        var x = new MLContext(3);
        var y = new MLContext(3);
        Assert.AreEqual(x.Generative().Evaluate(View(x, real), View(x, generated), "Features", noSeed).ToString(),
            y.Generative().Evaluate(View(y, real), View(y, generated), "Features", noSeed).ToString());
    }

    [TestMethod]
    public void SavePlots_WritesThreePictures_AndNoTensorsLeak()
    {
        var random = new Random(11);
        var real = Gaussian(random, 300, 20, 0);
        var generated = Gaussian(random, 300, 20, 0.3);
        for (int i = 0; i < 300; i++) real[i][3] = random.Next(4);       // a discrete feature
        var ml = new MLContext(1);
        var realView = View(ml, real);
        var generatedView = View(ml, generated);
        ml.Generative().Evaluate(realView, generatedView, "Features", Fast); // warm-up
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        var m = ml.Generative().Evaluate(realView, generatedView, "Features", Fast);
        Assert.AreEqual(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount, "live tensors after Evaluate");
        string dir = Path.Combine(Path.GetTempPath(), "generative-eval-plots-" + Guid.NewGuid().ToString("N"));
        try
        {
            var files = m.SavePlots(dir);
            CollectionAssert.AreEqual(new[] { "marginals.png", "correlations.png", "pca.png" }, files.Select(Path.GetFileName).ToArray());
            foreach (var file in files)
            {
                using var bitmap = SKBitmap.Decode(file);
                Assert.IsTrue(bitmap.Width >= 700 && bitmap.Height >= 400, $"{file}: {bitmap.Width}×{bitmap.Height}");
            }
            Assert.AreEqual(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount, "live tensors after SavePlots");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
        Assert.ThrowsExactly<ArgumentException>(() => m.SavePlots(" "));
    }

    // ---- bad input ------------------------------------------------------------------------------------------------

    [TestMethod]
    public void BadInput_ClearErrors()
    {
        var random = new Random(12);
        var ml = new MLContext(1);
        var real = View(ml, Gaussian(random, 20, 3, 0));
        var narrow = View(ml, Gaussian(random, 20, 2, 0));
        string Message(Action action) => Assert.ThrowsExactly<ArgumentException>(action).Message;

        StringAssert.Contains(Message(() => ml.Generative().Evaluate(real, narrow, "Features", Fast)), "has 2 features but the real one has 3");
        StringAssert.Contains(Message(() => ml.Generative().Evaluate(real, View(ml, Gaussian(random, 5, 3, 0)), "Features", Fast)),
            "generated data has 5 row(s)");
        var withNan = Gaussian(random, 20, 3, 0);
        withNan[13][2] = float.NaN;
        var nan = Message(() => ml.Generative().Evaluate(real, View(ml, withNan), "Features", Fast));
        StringAssert.Contains(nan, "row 13 (0-based), slot 2");
        StringAssert.Contains(nan, "generated");
        withNan[13][2] = float.PositiveInfinity;
        StringAssert.Contains(Message(() => ml.Generative().Evaluate(View(ml, withNan), real, "Features", Fast)), "real column 'Features' has a non-finite value (Infinity) at row 13");
        var training = Gaussian(random, 20, 3, 0);
        training[4][0] = float.NaN;
        StringAssert.Contains(Message(() => ml.Generative().Evaluate(real, real, "Features",
            new GenerativeEvaluationOptions { Seed = 1, ComputeDetection = false, Training = View(ml, training) })), "training column 'Features' has a non-finite value (NaN) at row 4");

        var missing = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Generative().Evaluate(real, real, "Pixels", Fast));
        StringAssert.Contains(missing.Message, "'Pixels' was not found");

        // An embedding whose output is a scalar, or that adds two vectors without a name to choose.
        var scalar = ml.Transforms.CopyColumns("Copy", "Label").Fit(real);
        StringAssert.Contains(Message(() => ml.Generative().Evaluate(real, real, "Features",
            new GenerativeEvaluationOptions { Seed = 1, Embedding = scalar })), "does not output a known-size vector of Single");
        var two = ml.Transforms.CopyColumns("A", "Features").Append(ml.Transforms.CopyColumns("B", "Features")).Fit(real);
        StringAssert.Contains(Message(() => ml.Generative().Evaluate(real, real, "Features",
            new GenerativeEvaluationOptions { Seed = 1, Embedding = two })), "set EmbeddingColumnName");
        StringAssert.Contains(Message(() => ml.Generative().Evaluate(real, real, "Features",
            new GenerativeEvaluationOptions { Seed = 1, Embedding = scalar, EmbeddingColumnName = "Copy" })), "an embedding must be a known-size vector of Single");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Generative().Evaluate(real, real, "Features",
            new GenerativeEvaluationOptions { EmbeddingColumnName = "Latent" }));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Generative().Evaluate(real, real, "Features",
            new GenerativeEvaluationOptions { NearestNeighbors = 0 }));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Generative().Evaluate(real, real, "Features",
            new GenerativeEvaluationOptions { PermutationCount = -1 }));
        Assert.ThrowsExactly<ArgumentNullException>(() => ml.Generative().Evaluate(null!, real));
    }

    // ---- helpers -------------------------------------------------------------------------------------------------

    private sealed class VectorRow
    {
        public float[] Features { get; set; } = Array.Empty<float>();

        public float Label { get; set; }
    }

    internal static IDataView View(MLContext ml, float[][] rows, string[]? slotNames = null)
    {
        var schema = SchemaDefinition.Create(typeof(VectorRow));
        schema[nameof(VectorRow.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, rows[0].Length);
        if (slotNames is not null)
        {
            schema[nameof(VectorRow.Features)].AddAnnotation("SlotNames",
                new VBuffer<ReadOnlyMemory<char>>(slotNames.Length, slotNames.Select(s => s.AsMemory()).ToArray()),
                new VectorDataViewType(TextDataViewType.Instance, slotNames.Length));
        }
        return ml.Data.LoadFromEnumerable(rows.Select(r => new VectorRow { Features = r }), schema);
    }

    internal static float[][] Gaussian(Random random, int rows, int width, double shift)
        => Enumerable.Range(0, rows).Select(_ => Enumerable.Range(0, width).Select(_ => (float)(shift + FrechetDistanceTests.Normal(random))).ToArray()).ToArray();

    private static RowMatrix Matrix(float[][] rows) => new(rows.SelectMany(r => r).ToArray(), rows.Length, rows[0].Length);

    private static double Distance(float[] a, float[] b) => Math.Sqrt(a.Zip(b, (x, y) => ((double)x - y) * ((double)x - y)).Sum());

    private static double Pearson(float[][] rows, int i, int j)
    {
        double mi = rows.Average(r => (double)r[i]), mj = rows.Average(r => (double)r[j]);
        double sij = rows.Sum(r => (r[i] - mi) * (r[j] - mj));
        double sii = rows.Sum(r => (r[i] - mi) * (r[i] - mi)), sjj = rows.Sum(r => (r[j] - mj) * (r[j] - mj));
        return sii == 0 || sjj == 0 ? 0 : sij / Math.Sqrt(sii * sjj);
    }

    private static float[][] Embedded(MLContext ml, ITransformer embedding, IDataView data)
        => embedding.Transform(data).GetColumn<float[]>("Embedded").ToArray();
}
