using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Flows;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Generative.Tests.Flows;

[TestClass]
public sealed class FlowTests
{
    internal static NormalizingFlowOptions Small(FlowArchitecture architecture, int epochs = 5, int layers = 4) => new()
    {
        Architecture = architecture,
        NumberOfLayers = layers,
        HiddenLayerSizes = new[] { 32, 32 },
        NumberOfEpochs = epochs,
        BatchSize = 128,
        LearningRate = 3e-3,
    };

    private static float[] Column(IDataView scored, string name) => scored.GetColumn<float>(name).ToArray();

    [TestMethod]
    public void TwoMoonsTestNllIsBelowThresholdForEveryArchitecture()
    {
        // A Gaussian fitted to the moons pays about 1.9 nats per point; the 100-epoch anchor reaches 0.34.
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(FlowTestData.TwoMoons(3000, seed: 1));
        var test = ml.Data.LoadFromEnumerable(FlowTestData.TwoMoons(1000, seed: 2));
        var thresholds = new Dictionary<FlowArchitecture, double>
        {
            [FlowArchitecture.RealNvp] = 1.0,
            [FlowArchitecture.MaskedAutoregressive] = 1.2,
            [FlowArchitecture.NeuralSpline] = 0.9,
        };
        foreach (var (architecture, threshold) in thresholds)
        {
            var model = ml.Transforms.Concatenate("Features", "X", "Y")
                .Append(ml.Generative().NormalizingFlow(Small(architecture, epochs: 12)))
                .Fit(train);
            var metrics = model.LastTransformer.Evaluate(model.Transform(test));
            Console.WriteLine($"{architecture}: {metrics}");
            Assert.IsTrue(metrics.NegativeLogLikelihood < threshold, $"{architecture}: test NLL {metrics.NegativeLogLikelihood} ≥ {threshold}");
            Assert.AreEqual(metrics.NegativeLogLikelihood / (2 * Math.Log(2)), metrics.BitsPerDimension, 1e-12);
            Assert.AreEqual(1000, metrics.Rows);
            // The training loss is the same quantity (nats per row, original units).
            Assert.IsTrue(Math.Abs(model.LastTransformer.TrainingHistory[^1].TrainingLoss - metrics.NegativeLogLikelihood) < 0.3);
        }
    }

    [TestMethod]
    public void OneDimensionalGaussianGetsTheAnalyticLogLikelihood()
    {
        // x ~ N(3, 2²): log p(x) = −½ log(2π·4) − (x − 3)²/8. Standardized spline flow, and an unstandardized MAF that
        // must learn the shift and scale itself.
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(FlowTestData.Gaussian1(4000, 3, 2, seed: 1));
        var probe = Enumerable.Range(0, 41).Select(i => new OneFeatureRow { Features = new[] { -1f + 0.2f * i } }).ToArray();
        foreach (var (architecture, standardize) in new[] { (FlowArchitecture.NeuralSpline, true), (FlowArchitecture.MaskedAutoregressive, false) })
        {
            var options = Small(architecture, epochs: 15, layers: 2);
            options.Standardize = standardize;
            options.LearningRate = 1e-2;
            var model = ml.Generative().NormalizingFlow(options).Fit(train);
            var ll = Column(model.Transform(ml.Data.LoadFromEnumerable(probe)), "LogLikelihood");
            double worst = 0;
            for (int i = 0; i < probe.Length; i++)
            {
                double x = probe[i].Features[0];
                double analytic = -0.5 * Math.Log(2 * Math.PI * 4) - (x - 3) * (x - 3) / 8;
                worst = Math.Max(worst, Math.Abs(ll[i] - analytic));
            }
            // A missing or wrong Jacobian (standardization, σ = 2) would be off by log 2 ≈ 0.69 everywhere; the spline's
            // residual after 15 epochs is largest at ±2σ.
            Assert.IsTrue(worst < (architecture == FlowArchitecture.MaskedAutoregressive ? 0.05 : 0.3),
                $"{architecture} (standardize {standardize}): largest error {worst} nats on [−1, 7]");
        }
    }

    [TestMethod]
    public void ScalingTheDataByCShiftsTheLogLikelihoodByMinusDLogC()
    {
        // Standardization is inside the model and its Jacobian is counted: the same data in units 8× larger has the
        // same standardized values (8 is a power of 2: bit-identical training), so every row's log-likelihood moves by
        // exactly −D·log 8 and the latent is unchanged.
        float[] Run(float scale, out float[][] latent)
        {
            var ml = new MLContext(seed: 3);
            var data = ml.Data.LoadFromEnumerable(FlowTestData.Moons2(500, seed: 4, scale: scale));
            var model = ml.Generative().NormalizingFlow(Small(FlowArchitecture.RealNvp, epochs: 2)).Fit(data);
            var scored = model.Transform(data);
            latent = scored.GetColumn<float[]>("Latent").ToArray();
            return Column(scored, "LogLikelihood");
        }
        var a = Run(1, out var za);
        var b = Run(8, out var zb);
        double shift = -2 * Math.Log(8);
        for (int i = 0; i < a.Length; i++)
        {
            Assert.AreEqual(a[i] + shift, b[i], 1e-4 * Math.Max(1, Math.Abs(a[i])), $"row {i}");
            CollectionAssert.AreEqual(za[i], zb[i], $"row {i} latent");
        }
    }

    [TestMethod]
    public void StandardizationStatisticsAreTheTrainingMomentsAndSaved()
    {
        var ml = new MLContext(seed: 1);
        var rows = FlowTestData.Moons2(400, seed: 5);
        var model = ml.Generative().NormalizingFlow(Small(FlowArchitecture.NeuralSpline, epochs: 1)).Fit(ml.Data.LoadFromEnumerable(rows));
        for (int j = 0; j < 2; j++)
        {
            double mean = rows.Average(r => (double)r.Features[j]);
            double std = Math.Sqrt(rows.Average(r => (r.Features[j] - mean) * (r.Features[j] - mean)));
            Assert.AreEqual(mean, model.StandardizationMean[j], 1e-9);
            Assert.AreEqual(std, model.StandardizationScale[j], 1e-9);
        }
        var off = Small(FlowArchitecture.NeuralSpline, epochs: 1);
        off.Standardize = false;
        var raw = ml.Generative().NormalizingFlow(off).Fit(ml.Data.LoadFromEnumerable(rows));
        CollectionAssert.AreEqual(new[] { 0.0, 0.0 }, raw.StandardizationMean.ToArray());
        CollectionAssert.AreEqual(new[] { 1.0, 1.0 }, raw.StandardizationScale.ToArray());
    }

    [TestMethod]
    public void OutputSchemaAgreesBetweenEstimatorTransformerAndData()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(FlowTestData.Moons2(64));
        var estimator = ml.Generative().NormalizingFlow(Small(FlowArchitecture.RealNvp, epochs: 1));
        var create = typeof(SchemaShape).GetMethod("Create", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!;
        var shape = estimator.GetOutputSchema((SchemaShape)create.Invoke(null, new object[] { data.Schema })!);
        var model = estimator.Fit(data);
        var schema = model.GetOutputSchema(data.Schema);
        var transformed = model.Transform(data).Schema;
        foreach (var name in new[] { "LogLikelihood", "Score", "Latent" })
        {
            var column = shape.Single(c => c.Name == name);
            Assert.AreEqual(schema[name].Type, transformed[name].Type, name);
            Assert.AreEqual(column.Kind == SchemaShape.Column.VectorKind.Scalar, schema[name].Type is not VectorDataViewType, name);
        }
        Assert.AreEqual(NumberDataViewType.Single, schema["LogLikelihood"].Type);
        Assert.AreEqual(NumberDataViewType.Single, schema["Score"].Type);
        Assert.AreEqual(new VectorDataViewType(NumberDataViewType.Single, 2), schema["Latent"].Type);
        CollectionAssert.AreEqual(schema.Select(c => c.Name).ToArray(), transformed.Select(c => c.Name).ToArray());

        // Custom names.
        var options = Small(FlowArchitecture.RealNvp, epochs: 1);
        options.LogLikelihoodColumnName = "LL";
        options.ScoreColumnName = "Anomaly";
        options.LatentColumnName = "Z";
        var renamed = ml.Generative().NormalizingFlow(options).Fit(data).Transform(data);
        var ll = Column(renamed, "LL");
        var score = Column(renamed, "Anomaly");
        for (int i = 0; i < ll.Length; i++)
            Assert.AreEqual(-ll[i], score[i]);
        Assert.AreEqual(64, renamed.GetColumn<float[]>("Z").Count());
    }

    [TestMethod]
    public void SameSeedGivesSameModelAndDifferentSeedDoesNot()
    {
        float[] Fit(int seed, FlowArchitecture architecture)
        {
            var ml = new MLContext(seed: seed);
            var data = ml.Data.LoadFromEnumerable(FlowTestData.Moons2(256));
            return Column(ml.Generative().NormalizingFlow(Small(architecture, epochs: 2)).Fit(data).Transform(data), "Score");
        }
        foreach (var architecture in Enum.GetValues<FlowArchitecture>())
        {
            var a = Fit(1, architecture);
            CollectionAssert.AreEqual(a, Fit(1, architecture), $"{architecture}: same seed, bit-identical model");
            CollectionAssert.AreNotEqual(a, Fit(2, architecture), architecture.ToString());
        }
    }

    [TestMethod]
    public void PredictionEngineMatchesTransformAndScoringIsThreadSafe()
    {
        var ml = new MLContext(seed: 1);
        var rows = FlowTestData.Moons2(300);
        var data = ml.Data.LoadFromEnumerable(rows);
        foreach (var architecture in Enum.GetValues<FlowArchitecture>())
        {
            var model = ml.Generative().NormalizingFlow(Small(architecture, epochs: 2)).Fit(data);
            var batch = ml.Data.CreateEnumerable<FlowOutput>(model.Transform(data), reuseRowObject: false).ToArray();
            var engine = ml.Model.CreatePredictionEngine<TwoFeatureRow, FlowOutput>(model);
            for (int i = 0; i < rows.Length; i += 7)
            {
                var single = engine.Predict(rows[i]);
                Assert.AreEqual(batch[i].LogLikelihood, single.LogLikelihood, 1e-4 * Math.Max(1, Math.Abs(single.LogLikelihood)), $"{architecture} row {i}");
                Assert.AreEqual(-single.LogLikelihood, single.Score);
                for (int j = 0; j < 2; j++)
                    Assert.AreEqual(batch[i].Latent[j], single.Latent[j], 1e-4, $"{architecture} row {i} latent {j}");
            }
            var expected = Column(model.Transform(data), "Score");
            var results = new float[4][];
            System.Threading.Tasks.Parallel.For(0, 4, new System.Threading.Tasks.ParallelOptions { MaxDegreeOfParallelism = 4 },
                k => results[k] = Column(model.Transform(data), "Score"));
            foreach (var r in results)
                CollectionAssert.AreEqual(expected, r, architecture.ToString());
        }
    }

    [TestMethod]
    public void SamplesAreInOriginalUnitsDeterministicAndInvertible()
    {
        var ml = new MLContext(seed: 1);
        // The moons moved far from the origin and stretched: samples must come back in these units.
        var rows = FlowTestData.TwoMoons(2000, seed: 3).Select(p => new TwoFeatureRow { Features = new[] { 100 + 10 * p.X, -50 + 0.1f * p.Y } }).ToArray();
        var data = ml.Data.LoadFromEnumerable(rows);
        foreach (var architecture in Enum.GetValues<FlowArchitecture>())
        {
            var model = ml.Generative().NormalizingFlow(Small(architecture, epochs: 4)).Fit(data);
            var sample = model.Sample(500, seed: 3);
            Assert.AreEqual(new VectorDataViewType(NumberDataViewType.Single, 2), sample.Schema["Features"].Type);
            var a = sample.GetColumn<float[]>("Features").ToArray();
            var b = model.Sample(500, seed: 3).GetColumn<float[]>("Features").ToArray();
            for (int i = 0; i < a.Length; i++)
                CollectionAssert.AreEqual(a[i], b[i]);
            Assert.IsFalse(a.Zip(model.Sample(500, seed: 4).GetColumn<float[]>("Features")).All(p => p.First.SequenceEqual(p.Second)));
            for (int j = 0; j < 2; j++)
            {
                double dataMean = rows.Average(r => r.Features[j]), sampleMean = a.Average(r => r[j]);
                double dataStd = Math.Sqrt(rows.Average(r => Math.Pow(r.Features[j] - dataMean, 2)));
                Assert.AreEqual(dataMean, sampleMean, 0.25 * dataStd, $"{architecture} slot {j} mean");
            }
            // Sampling inverts scoring: the samples' latents are standard normal-ish and their likelihoods finite.
            var scored = model.Transform(sample);
            Assert.IsTrue(Column(scored, "LogLikelihood").All(float.IsFinite), architecture.ToString());
        }
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Generative().NormalizingFlow(Small(FlowArchitecture.RealNvp, 1)).Fit(data).Sample(0, seed: 1));
    }

    [TestMethod]
    public void TemperatureScalesTheBaseDraw()
    {
        // Sample(T) = f⁻¹(T·z) for the same seed: scoring the samples (z = f(x)) gives T times the latents of Sample(1).
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(FlowTestData.TwoMoons(500, seed: 3).Select(p => new TwoFeatureRow { Features = new[] { p.X, p.Y } }));
        using var model = ml.Generative().NormalizingFlow(Small(FlowArchitecture.NeuralSpline, epochs: 2)).Fit(data);
        var latent1 = model.Transform(model.Sample(200, seed: 5)).GetColumn<float[]>("Latent").ToArray();
        var latentT = model.Transform(model.Sample(200, seed: 5, temperature: 0.5)).GetColumn<float[]>("Latent").ToArray();
        for (int i = 0; i < latent1.Length; i++)
            for (int j = 0; j < 2; j++)
                Assert.AreEqual(0.5 * latent1[i][j], latentT[i][j], 2e-3, $"row {i} slot {j}");
        CollectionAssert.AreEqual(model.Sample(5, seed: 5).GetColumn<float[]>("Features").SelectMany(v => v).ToArray(),
            model.Sample(5, seed: 5, temperature: 1.0).GetColumn<float[]>("Features").SelectMany(v => v).ToArray());
        foreach (double bad in new[] { 0.0, -1.0, double.NaN, double.PositiveInfinity })
        {
            var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => model.Sample(5, seed: 1, temperature: bad), bad.ToString());
            Assert.AreEqual("temperature", e.ParamName);
        }
    }

    [TestMethod]
    public void DequantizedScoringIsDeterministicAndSamplesAreIntegers()
    {
        var ml = new MLContext(seed: 1);
        var rows = FlowTestData.Counts(1000);
        var data = ml.Data.LoadFromEnumerable(rows);
        var options = Small(FlowArchitecture.NeuralSpline, epochs: 6);
        options.Dequantize = true;
        options.DequantizationSamples = 8;
        var model = ml.Generative().NormalizingFlow(options).Fit(data);
        var first = Column(model.Transform(data), "LogLikelihood");
        CollectionAssert.AreEqual(first, Column(model.Transform(data), "LogLikelihood"), "same call, same scores");
        // A row's score depends on the row alone, not on the batch it is scored in.
        var engine = ml.Model.CreatePredictionEngine<ThreeFeatureRow, FlowOutput3>(model);
        for (int i = 0; i < 50; i++)
            Assert.AreEqual(first[i], engine.Predict(rows[i]).LogLikelihood, 1e-4 * Math.Max(1, Math.Abs(first[i])), $"row {i}");
        // A lower bound on log P(x) of integer rows: P ≤ 1, so log-likelihoods are ≤ 0 up to estimator noise, and the
        // discrete probabilities of the rows seen sum to at most 1.
        var distinct = rows.Select(r => (r.Features[0], r.Features[1], r.Features[2])).Distinct().Count();
        var unique = rows.GroupBy(r => (r.Features[0], r.Features[1], r.Features[2])).Select(g => g.First()).ToArray();
        var uniqueLl = Column(model.Transform(ml.Data.LoadFromEnumerable(unique)), "LogLikelihood");
        Assert.AreEqual(distinct, uniqueLl.Length);
        Assert.IsTrue(uniqueLl.Sum(v => Math.Exp(v)) < 1.05, $"Σ P(x) = {uniqueLl.Sum(v => Math.Exp(v))}");
        // Non-integer rows have probability 0 under a discrete model.
        var probe = ml.Data.LoadFromEnumerable(new[] { new ThreeFeatureRow { Features = new[] { 1f, 2.5f, 1f } } });
        Assert.AreEqual(float.PositiveInfinity, Column(model.Transform(probe), "Score")[0]);
        Assert.IsTrue(model.Transform(probe).GetColumn<float[]>("Latent").Single().All(float.IsNaN));

        var sample = model.Sample(300, seed: 1).GetColumn<float[]>("Features").ToArray();
        Assert.IsTrue(sample.All(r => r.All(v => v == MathF.Floor(v))), "integer samples");
        Assert.IsTrue(Math.Abs(sample.Average(r => r[0]) - rows.Average(r => r.Features[0])) < 0.6);
    }

    [TestMethod]
    public void DequantizedLogitTransformCountsEveryJacobianAndRejectsOutOfRangeRows()
    {
        var ml = new MLContext(seed: 1);
        var rows = FlowTestData.Counts(800);
        var data = ml.Data.LoadFromEnumerable(rows);
        var options = Small(FlowArchitecture.RealNvp, epochs: 4);
        options.Dequantize = true;
        options.LogitTransform = true;
        var model = ml.Generative().NormalizingFlow(options).Fit(data);
        float max = rows.Max(r => r.Features.Max());
        var metrics = model.Evaluate(data);
        // Uniform over L³ cells costs 3·log L nats; the flow must do better, and any valid discrete model pays > 0.
        Assert.IsTrue(metrics.NegativeLogLikelihood > 0 && metrics.NegativeLogLikelihood < 3 * Math.Log(max + 1), metrics.ToString());
        var probe = ml.Data.LoadFromEnumerable(new[]
        {
            new ThreeFeatureRow { Features = new[] { 1f, 2f, 1f } },
            new ThreeFeatureRow { Features = new[] { 1f, max + 1, 1f } },  // beyond the levels
            new ThreeFeatureRow { Features = new[] { -1f, 2f, 1f } },
        });
        var scores = Column(model.Transform(probe), "Score");
        Assert.IsTrue(float.IsFinite(scores[0]));
        Assert.AreEqual(float.PositiveInfinity, scores[1]);
        Assert.AreEqual(float.PositiveInfinity, scores[2]);
        var sample = model.Sample(200, seed: 2).GetColumn<float[]>("Features").ToArray();
        Assert.IsTrue(sample.All(r => r.All(v => v == MathF.Floor(v) && v >= 0 && v <= max)));
    }

    [TestMethod]
    public void LogitTransformOnUnitIntervalData()
    {
        var ml = new MLContext(seed: 1);
        var r = new Random(3);
        var rows = Enumerable.Range(0, 1000).Select(_ =>
        {
            double a = r.NextDouble() * r.NextDouble();
            return new TwoFeatureRow { Features = new[] { (float)a, (float)Math.Clamp(a + 0.2 * r.NextDouble(), 0, 1) } };
        }).ToArray();
        var options = Small(FlowArchitecture.MaskedAutoregressive, epochs: 5);
        options.LogitTransform = true;
        var model = ml.Generative().NormalizingFlow(options).Fit(ml.Data.LoadFromEnumerable(rows));
        var sample = model.Sample(300, seed: 1).GetColumn<float[]>("Features").ToArray();
        Assert.IsTrue(sample.All(s => s.All(v => v >= 0 && v <= 1)));
        var scores = Column(model.Transform(ml.Data.LoadFromEnumerable(new[]
        {
            rows[0], new TwoFeatureRow { Features = new[] { 1.5f, 0.5f } },
        })), "Score");
        Assert.IsTrue(float.IsFinite(scores[0]));
        Assert.AreEqual(float.PositiveInfinity, scores[1], "outside [0, 1]: probability 0");

        rows[17].Features[1] = 1.25f;
        var e = Assert.Throws<Exception>(() => ml.Generative().NormalizingFlow(options).Fit(ml.Data.LoadFromEnumerable(rows)));
        StringAssert.Contains(e.Message, "row 17");
        StringAssert.Contains(e.Message, "slot 1");
    }

    [TestMethod]
    public void RowsWithoutALikelihoodNeverGetASilentNumber()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(FlowTestData.Moons2(500));
        foreach (var architecture in Enum.GetValues<FlowArchitecture>())
        {
            var model = ml.Generative().NormalizingFlow(Small(architecture, epochs: 2)).Fit(data);
            var probe = new[]
            {
                new TwoFeatureRow { Features = new[] { 0.5f, 0.25f } },
                new TwoFeatureRow { Features = new[] { float.NaN, 0.25f } },               // NaN in: NaN out
                new TwoFeatureRow { Features = new[] { float.PositiveInfinity, 0.25f } },  // probability 0
                new TwoFeatureRow { Features = new[] { 1e30f, -1e30f } },                  // density underflows: −∞, never NaN
                new TwoFeatureRow { Features = new[] { 40f, -30f } },                      // far beyond the tail bound: finite
            };
            var scored = model.Transform(ml.Data.LoadFromEnumerable(probe));
            var ll = Column(scored, "LogLikelihood");
            var score = Column(scored, "Score");
            var latent = scored.GetColumn<float[]>("Latent").ToArray();
            Assert.IsTrue(float.IsFinite(ll[0]), architecture.ToString());
            Assert.IsTrue(float.IsNaN(ll[1]) && float.IsNaN(score[1]) && latent[1].All(float.IsNaN), architecture.ToString());
            Assert.AreEqual(float.NegativeInfinity, ll[2], architecture.ToString());
            Assert.AreEqual(float.PositiveInfinity, score[2], architecture.ToString());
            Assert.IsFalse(float.IsNaN(ll[3]), $"{architecture}: a finite row got NaN");
            Assert.IsTrue(score[3] > score[0], architecture.ToString());
            Assert.IsTrue(float.IsFinite(ll[4]) && score[4] > score[0] + 50, $"{architecture}: far point score {score[4]}");
            // Evaluate refuses NaN rows by name and reports +∞ for impossible ones.
            var e = Assert.Throws<InvalidOperationException>(() => model.Evaluate(ml.Data.LoadFromEnumerable(probe)));
            StringAssert.Contains(e.Message, "Row 1");
            Assert.AreEqual(double.PositiveInfinity, model.Evaluate(ml.Data.LoadFromEnumerable(probe.Where((_, i) => i != 1).ToArray())).NegativeLogLikelihood);
        }
    }

    [TestMethod]
    public void OneFeatureWorksWithSplineAndMafAndRealNvpSaysWhatToUse()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(FlowTestData.Gaussian1(300, 0, 1));
        foreach (var architecture in new[] { FlowArchitecture.NeuralSpline, FlowArchitecture.MaskedAutoregressive })
        {
            var model = ml.Generative().NormalizingFlow(Small(architecture, epochs: 2)).Fit(data);
            Assert.IsTrue(Column(model.Transform(data), "Score").All(float.IsFinite));
            Assert.AreEqual(20, model.Sample(20, seed: 1).GetColumn<float[]>("Features").Count());
        }
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Generative().NormalizingFlow(Small(FlowArchitecture.RealNvp)).Fit(data));
        StringAssert.Contains(e.Message, "NeuralSpline");
        StringAssert.Contains(e.Message, "'Features' has 1");
    }

    [TestMethod]
    public void NoTensorsOutliveFitAndScoring()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(FlowTestData.Counts(300));
        foreach (var architecture in Enum.GetValues<FlowArchitecture>())
        {
            var options = Small(architecture, epochs: 2);
            options.Dequantize = true;
            options.ValidationFraction = 0.2;
            long before = TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount;
            var model = ml.Generative().NormalizingFlow(options).Fit(data);
            _ = Column(model.Transform(data), "Score");
            _ = model.Sample(10, seed: 1).GetColumn<float[]>("Features").ToArray();
            _ = model.Evaluate(data);
            model.Dispose();
            Assert.AreEqual(before, TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount, architecture.ToString());
        }
    }

    public sealed class FlowOutput
    {
        public float LogLikelihood { get; set; }
        public float Score { get; set; }
        [VectorType(2)] public float[] Latent { get; set; } = Array.Empty<float>();
    }

    public sealed class FlowOutput3
    {
        public float LogLikelihood { get; set; }
        public float Score { get; set; }
        [VectorType(3)] public float[] Latent { get; set; } = Array.Empty<float>();
    }
}
