using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Training;
using Microsoft.ML.Generative.Vae;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Generative.Tests.Vae;

[TestClass]
public sealed class VaeTests
{
    private static VariationalAutoencoderOptions SmallOptions(int epochs = 20) => new()
    {
        LatentDimension = 2,
        HiddenLayerSizes = new[] { 32 },
        NumberOfEpochs = epochs,
        BatchSize = 32,
        LearningRate = 1e-2,
    };

    private static float[] Scores(MLContext ml, IDataView scored, string column = "Score")
        => scored.GetColumn<float>(column).ToArray();

    [TestMethod]
    public void FitLearnsBinaryPrototypesBelowThreshold()
    {
        var ml = new MLContext(seed: 1);
        var train = TestData.Load(ml, TestData.BinaryPrototypes(512, seed: 0));
        var valid = TestData.Load(ml, TestData.BinaryPrototypes(256, seed: 0).Skip(0).ToArray());
        var model = ml.Generative().VariationalAutoencoder(SmallOptions()).Fit(train, valid);

        var history = model.TrainingHistory;
        Assert.AreEqual(20, history.Count);
        // Learning nothing costs 16·log 2 ≈ 11.1 nats per row; the optimum is about 4.6.
        Assert.IsTrue(history[0].TrainingLoss > 8.0, $"first epoch {history[0].TrainingLoss}");
        Assert.IsTrue(history[^1].TrainingLoss < 7.0, $"last epoch training loss {history[^1].TrainingLoss}");
        Assert.IsTrue(history[^1].ValidationLoss < 7.0, $"last epoch validation loss {history[^1].ValidationLoss}");
        Assert.AreEqual(history[^1].TrainingLoss,
            history[^1].TrainingLosses["Reconstruction"] + history[^1].TrainingLosses["Kl"], 1e-4);

        // Scores of typical rows are far below those of rows unlike any prototype.
        var typical = Scores(ml, model.Transform(valid)).Average();
        var noise = TestData.Load(ml, Enumerable.Range(0, 64).Select(i => new Row16
        {
            Features = Enumerable.Range(0, Row16.Size).Select(j => (float)((i * 7 + j * 3) % 2)).ToArray(),
        }).ToArray());
        var unusual = Scores(ml, model.Transform(noise)).Average();
        Assert.IsTrue(unusual > typical + 5, $"unusual rows {unusual} vs typical {typical}");
    }

    [TestMethod]
    public void OutputSchemaAgreesBetweenEstimatorTransformerAndData()
    {
        var ml = new MLContext(seed: 1);
        var data = TestData.Load(ml, TestData.BinaryPrototypes(64));
        var estimator = ml.Generative().VariationalAutoencoder(SmallOptions(epochs: 1));
        // SchemaShape.Create is internal in ML.NET 5; it is what pipelines call.
        var create = typeof(SchemaShape).GetMethod("Create", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!;
        var shape = estimator.GetOutputSchema((SchemaShape)create.Invoke(null, new object[] { data.Schema })!);
        var model = estimator.Fit(data);
        var schema = model.GetOutputSchema(data.Schema);
        var transformed = model.Transform(data).Schema;

        foreach (var name in new[] { "Latent", "Reconstruction", "Score" })
        {
            var column = shape.Single(c => c.Name == name);
            Assert.AreEqual(schema[name].Type, transformed[name].Type, name);
            Assert.AreEqual(column.ItemType, ((schema[name].Type as VectorDataViewType)?.ItemType ?? schema[name].Type), name);
            Assert.AreEqual(column.Kind == SchemaShape.Column.VectorKind.Scalar, schema[name].Type is not VectorDataViewType, name);
        }
        Assert.AreEqual(new VectorDataViewType(NumberDataViewType.Single, 2), schema["Latent"].Type);
        Assert.AreEqual(new VectorDataViewType(NumberDataViewType.Single, Row16.Size), schema["Reconstruction"].Type);
        Assert.AreEqual(NumberDataViewType.Single, schema["Score"].Type);
        CollectionAssert.AreEqual(schema.Select(c => c.Name).ToArray(), transformed.Select(c => c.Name).ToArray());
        // Input columns pass through unchanged.
        CollectionAssert.AreEqual(data.GetColumn<float>("Label").ToArray(), model.Transform(data).GetColumn<float>("Label").ToArray());
    }

    [TestMethod]
    public void SameSeedGivesSameModelAndDifferentSeedDoesNot()
    {
        float[] Fit(int seed)
        {
            var ml = new MLContext(seed: seed);
            var data = TestData.Load(ml, TestData.BinaryPrototypes(128));
            var model = ml.Generative().VariationalAutoencoder(SmallOptions(epochs: 3)).Fit(data);
            return Scores(ml, model.Transform(data));
        }
        var a = Fit(1);
        CollectionAssert.AreEqual(a, Fit(1), "same seed, same data: bit-identical model");
        CollectionAssert.AreNotEqual(a, Fit(2));
    }

    [TestMethod]
    public void PredictionEngineMatchesTransform()
    {
        var ml = new MLContext(seed: 1);
        var rows = TestData.BinaryPrototypes(40);
        var data = TestData.Load(ml, rows);
        var model = ml.Generative().VariationalAutoencoder(SmallOptions(epochs: 2)).Fit(data);
        var batch = ml.Data.CreateEnumerable<VaeOutput>(model.Transform(data), reuseRowObject: false).ToArray();
        var engine = ml.Model.CreatePredictionEngine<Row16, VaeOutput>(model);
        for (int i = 0; i < rows.Length; i++)
        {
            var single = engine.Predict(rows[i]);
            Assert.AreEqual(batch[i].Score, single.Score, 1e-4 * Math.Max(1, Math.Abs(single.Score)), $"row {i}");
            for (int j = 0; j < 2; j++)
                Assert.AreEqual(batch[i].Latent[j], single.Latent[j], 1e-5, $"row {i} latent {j}");
        }
    }

    [TestMethod]
    public void ConcurrentScoringEqualsSingleThreaded()
    {
        var ml = new MLContext(seed: 1);
        var data = TestData.Load(ml, TestData.BinaryPrototypes(2000));
        var model = ml.Generative().VariationalAutoencoder(SmallOptions(epochs: 1)).Fit(data);
        var expected = Scores(ml, model.Transform(data));
        var results = new float[4][];
        Parallel.For(0, 4, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i => results[i] = Scores(ml, model.Transform(data)));
        foreach (var r in results)
            CollectionAssert.AreEqual(expected, r);

        var engines = Enumerable.Range(0, 4).Select(_ => ml.Model.CreatePredictionEngine<Row16, VaeOutput>(model)).ToArray();
        var rows = TestData.BinaryPrototypes(100);
        var single = rows.Select(r => engines[0].Predict(r).Score).ToArray();
        var parallel = new float[4][];
        Parallel.For(0, 4, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i => parallel[i] = rows.Select(r => engines[i].Predict(r).Score).ToArray());
        foreach (var r in parallel)
            CollectionAssert.AreEqual(single, r);
    }

    [TestMethod]
    public void SampleEncodeDecodeShapesAndDeterminism()
    {
        var ml = new MLContext(seed: 1);
        var data = TestData.Load(ml, TestData.BinaryPrototypes(64));
        var model = ml.Generative().VariationalAutoencoder(SmallOptions(epochs: 1)).Fit(data);

        var sample = model.Sample(10, seed: 3);
        Assert.AreEqual(new VectorDataViewType(NumberDataViewType.Single, Row16.Size), sample.Schema["Features"].Type);
        var a = sample.GetColumn<float[]>("Features").ToArray();
        var b = model.Sample(10, seed: 3).GetColumn<float[]>("Features").ToArray();
        var c = model.Sample(10, seed: 4).GetColumn<float[]>("Features").ToArray();
        Assert.AreEqual(10, a.Length);
        Assert.IsTrue(a.All(r => r.Length == Row16.Size && r.All(v => v >= 0 && v <= 1)), "Bernoulli means are probabilities");
        for (int i = 0; i < 10; i++)
            CollectionAssert.AreEqual(a[i], b[i]);
        Assert.IsFalse(a.Zip(c).All(p => p.First.SequenceEqual(p.Second)));
        // Samples score like any other row.
        Assert.AreEqual(10, model.Transform(sample).GetColumn<float>("Score").Count());

        var features = data.GetColumn<float[]>("Features").Take(5).ToArray();
        var latent = model.Encode(features);
        var transformed = model.Transform(data).GetColumn<float[]>("Latent").Take(5).ToArray();
        for (int i = 0; i < 5; i++)
        {
            Assert.AreEqual(2, latent[i].Length);
            for (int j = 0; j < 2; j++)
                Assert.AreEqual(transformed[i][j], latent[i][j], 1e-5);
        }
        var decoded = model.Decode(latent);
        var reconstruction = model.Transform(data).GetColumn<float[]>("Reconstruction").Take(5).ToArray();
        for (int i = 0; i < 5; i++)
            for (int j = 0; j < Row16.Size; j++)
                Assert.AreEqual(reconstruction[i][j], decoded[i][j], 1e-5);

        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => model.Sample(0, seed: 1));
        var wrongWidth = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => model.Encode(new[] { new float[3] }));
        StringAssert.Contains(wrongWidth.Message, "16");
    }

    [TestMethod]
    public void CancellationTokenStopsTrainingWithinABatch()
    {
        var ml = new MLContext(seed: 1);
        var data = TestData.Load(ml, TestData.BinaryPrototypes(512));
        using var cancellation = new CancellationTokenSource();
        var options = SmallOptions(epochs: 1000);
        options.BatchSize = 8;
        options.CancellationToken = cancellation.Token;
        int epochsSeen = 0;
        options.Progress = new SyncProgress(_ =>
        {
            if (Interlocked.Increment(ref epochsSeen) == 2)
                cancellation.Cancel();
        });
        Assert.Throws<OperationCanceledException>(() => ml.Generative().VariationalAutoencoder(options).Fit(data));
        Assert.AreEqual(2, epochsSeen, "no further epoch completes after cancellation");
    }

    [TestMethod]
    public void ProgressGoesToMLContextLogAndTheCallback()
    {
        var ml = new MLContext(seed: 1);
        var messages = new System.Collections.Concurrent.ConcurrentQueue<string>();
        ml.Log += (_, e) => messages.Enqueue(e.Message);
        var summaries = new List<EpochSummary>();
        var options = SmallOptions(epochs: 3);
        options.ValidationFraction = 0.25;
        options.Progress = new SyncProgress(summaries.Add);
        var model = ml.Generative().VariationalAutoencoder(options).Fit(TestData.Load(ml, TestData.BinaryPrototypes(128)));

        CollectionAssert.AreEqual(new[] { 1, 2, 3 }, summaries.Select(s => s.Epoch).ToArray());
        Assert.IsTrue(summaries.All(s => s.ValidationLoss.HasValue && s.RowsPerSecond > 0 && s.Rows == 96));
        var epochLines = messages.Where(m => m.Contains("epoch ") && m.Contains("train loss")).ToArray();
        Assert.HasCount(3, epochLines);
        StringAssert.Contains(epochLines[2], "epoch 3/3");
        StringAssert.Contains(epochLines[2], "validation loss");
        StringAssert.Contains(epochLines[2], "rows/s");
        StringAssert.Contains(epochLines[2], "elapsed");
        Assert.AreEqual(summaries[2].TrainingLoss, model.TrainingHistory[2].TrainingLoss);
    }

    [TestMethod]
    public void HostCancellationStopsTraining()
    {
        var ml = new MLContext(seed: 1);
        var data = TestData.Load(ml, TestData.BinaryPrototypes(512));
        var options = SmallOptions(epochs: 1000);
        int epochsSeen = 0;
        // MLContext.CancelExecution is internal in ML.NET 5; ML.NET's own components call it this way.
        var cancel = typeof(MLContext).GetMethod("CancelExecution", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!;
        options.Progress = new SyncProgress(_ =>
        {
            if (Interlocked.Increment(ref epochsSeen) == 1)
                cancel.Invoke(ml, null);
        });
        Assert.Throws<OperationCanceledException>(() => ml.Generative().VariationalAutoencoder(options).Fit(data));
        Assert.AreEqual(1, epochsSeen);
    }

    [TestMethod]
    public void EarlyStoppingRestoresBestEpochAndNeedsValidationData()
    {
        var ml = new MLContext(seed: 1);
        var data = TestData.Load(ml, TestData.BinaryPrototypes(256));
        var options = SmallOptions(epochs: 60);
        options.ValidationFraction = 0.25;
        options.EarlyStoppingPatience = 2;
        options.LearningRate = 5e-2;
        var model = ml.Generative().VariationalAutoencoder(options).Fit(data);
        var history = model.TrainingHistory;
        Assert.IsTrue(history.All(h => h.ValidationLoss.HasValue));
        Assert.AreEqual(192, history[0].Rows, "a quarter of 256 rows is held out");
        if (history.Count < 60)
        {
            double best = history.Min(h => h.ValidationLoss!.Value);
            Assert.IsTrue(history.Skip(history.Count - 2).All(h => h.ValidationLoss >= best), "stopped after 2 epochs without improvement");
        }

        var noValidation = SmallOptions();
        noValidation.EarlyStoppingPatience = 3;
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Generative().VariationalAutoencoder(noValidation).Fit(data));
        StringAssert.Contains(e.Message, "validation");
    }

    [TestMethod]
    public void GaussianLikelihoodTrainsInAPipelineWithNormalization()
    {
        var ml = new MLContext(seed: 1);
        var data = TestData.Load(ml, TestData.Correlated(600));
        var options = new VariationalAutoencoderOptions
        {
            LatentDimension = 1,
            HiddenLayerSizes = new[] { 16 },
            Likelihood = VaeLikelihood.GaussianLearnedVariance,
            NumberOfEpochs = 40,
            BatchSize = 64,
            LearningRate = 1e-2,
        };
        var pipeline = ml.Transforms.Concatenate("Features", "A", "B", "C", "D")
            .Append(ml.Transforms.NormalizeMeanVariance("Features"))
            .Append(ml.Generative().VariationalAutoencoder(options));
        var model = pipeline.Fit(data);
        var history = model.LastTransformer.TrainingHistory;
        // Standardized features under N(0, 1) cost 4·½·log(2πe) ≈ 5.68 nats; one shared factor explains most of it.
        Assert.IsTrue(history[^1].TrainingLoss < 3.5, $"final loss {history[^1].TrainingLoss}");
        Assert.IsTrue(history[0].TrainingLoss > history[^1].TrainingLoss + 1);
    }

    [TestMethod]
    public void KlWarmupBetaAndFreeBitsShapeTheTrainingObjective()
    {
        IReadOnlyList<EpochSummary> Train(Action<VariationalAutoencoderOptions> configure)
        {
            var ml = new MLContext(seed: 1);
            var options = SmallOptions(epochs: 4);
            options.ValidationFraction = 0.25;
            configure(options);
            return ml.Generative().VariationalAutoencoder(options).Fit(TestData.Load(ml, TestData.BinaryPrototypes(256))).TrainingHistory;
        }
        static double Combined(EpochSummary e, double beta) => e.TrainingLosses["Reconstruction"] + beta * e.TrainingLosses["Kl"];

        var plain = Train(_ => { });
        // β = 1, no warm-up: the reported loss is reconstruction + KL.
        Assert.AreEqual(Combined(plain[0], 1), plain[0].TrainingLoss, 1e-4);

        // Warm-up over 2 epochs: the KL weight rises from ~0, so the first epoch's loss is below reconstruction + KL;
        // from epoch 3 on the full weight applies. Validation always reports the model's objective with the full β.
        var warm = Train(o => o.KlWarmupEpochs = 2);
        Assert.IsTrue(warm[0].TrainingLoss < Combined(warm[0], 1) - 1e-3, $"{warm[0].TrainingLoss} vs {Combined(warm[0], 1)}");
        Assert.AreEqual(Combined(warm[3], 1), warm[3].TrainingLoss, 1e-4);
        Assert.AreEqual(warm[0].ValidationLosses!["Reconstruction"] + warm[0].ValidationLosses!["Kl"], warm[0].ValidationLoss!.Value, 1e-4);

        // β = 4 weights the KL four times and pushes it down.
        var beta = Train(o => o.Beta = 4);
        Assert.AreEqual(Combined(beta[3], 4), beta[3].TrainingLoss, 1e-3);
        Assert.IsTrue(beta[3].TrainingLosses["Kl"] < plain[3].TrainingLosses["Kl"], $"KL with β=4 {beta[3].TrainingLosses["Kl"]} vs β=1 {plain[3].TrainingLosses["Kl"]}");

        // Free bits: each of the 2 latent dimensions counts at least λ nats in the loss, so loss ≥ reconstruction + 2λ.
        var free = Train(o => o.FreeBits = 3);
        Assert.IsTrue(free[3].TrainingLoss >= free[3].TrainingLosses["Reconstruction"] + 2 * 3 - 1e-3,
            $"{free[3].TrainingLoss} vs {free[3].TrainingLosses["Reconstruction"]} + 6");
    }

    [TestMethod]
    public void FixedVarianceGaussianScoresMatchItsClosedForm()
    {
        // With σ fixed, the score is ½ Σ [log 2π + 2 log σ + (x − x̂)²/σ²] + KL: check it against the outputs.
        var ml = new MLContext(seed: 1);
        var data = TestData.Load(ml, TestData.BinaryPrototypes(64));
        var options = SmallOptions(epochs: 2);
        options.Likelihood = VaeLikelihood.GaussianFixedVariance;
        options.FixedStandardDeviation = 0.5;
        var model = ml.Generative().VariationalAutoencoder(options).Fit(data);
        var scored = model.Transform(data);
        var x = scored.GetColumn<float[]>("Features").ToArray();
        var reconstruction = scored.GetColumn<float[]>("Reconstruction").ToArray();
        var scores = scored.GetColumn<float>("Score").ToArray();
        for (int i = 0; i < 5; i++)
        {
            double nll = 0;
            for (int j = 0; j < Row16.Size; j++)
            {
                double d = x[i][j] - reconstruction[i][j];
                nll += 0.5 * (Math.Log(2 * Math.PI) + 2 * Math.Log(0.5) + d * d / 0.25);
            }
            // KL(N(μ, σ²) ‖ N(0, 1)) from the encoder's own outputs, computed here independently in float64.
            using var input = TorchSharp.torch.tensor(x[i], new long[] { 1, Row16.Size });
            var (mu, logVar) = model.Network.Encode(input);
            var m = mu.data<float>().ToArray();
            var lv = logVar.data<float>().ToArray();
            mu.Dispose();
            logVar.Dispose();
            double kl = 0;
            for (int k = 0; k < m.Length; k++)
                kl += -0.5 * (1 + lv[k] - m[k] * (double)m[k] - Math.Exp(lv[k]));
            Assert.AreEqual(nll + kl, scores[i], 1e-4 * Math.Max(1, Math.Abs(scores[i])), $"row {i}");
        }
    }

    [TestMethod]
    public void BernoulliScoresRowsOutsideTheUnitIntervalFinitelyAndMonotonically()
    {
        var ml = new MLContext(seed: 1);
        var rows = TestData.BinaryPrototypes(64);
        var model = ml.Generative().VariationalAutoencoder(SmallOptions(epochs: 2)).Fit(TestData.Load(ml, rows));
        Row16 With(int slot, float value) => new() { Features = rows[0].Features.Select((v, j) => j == slot ? value : v).ToArray() };
        float bound3 = rows[0].Features[3] > 0.5f ? 1f : 0f, bound5 = rows[0].Features[5] > 0.5f ? 1f : 0f;
        float out3 = bound3 == 1f ? 1f : -1f, out5 = bound5 == 1f ? 1f : -1f;   // the direction away from [0, 1]
        var probe = new[]
        {
            With(3, bound3), With(3, bound3 + 0.01f * out3), With(3, bound3 + 0.1f * out3), With(3, bound3 + 1f * out3),
            With(5, bound5), With(5, bound5 + 0.5f * out5),
            With(7, float.NaN),
        };
        var scores = Scores(ml, model.Transform(TestData.Load(ml, probe)));
        for (int i = 0; i < 6; i++)
            Assert.IsTrue(float.IsFinite(scores[i]), $"row {i}: {scores[i]}");
        Assert.IsTrue(scores[0] < scores[1] && scores[1] < scores[2] && scores[2] < scores[3],
            $"strictly increasing with the distance outside: {string.Join(", ", scores.Take(4))}");
        Assert.IsTrue(scores[5] > scores[4]);
        Assert.IsTrue(float.IsNaN(scores[6]), "NaN in, NaN out");

        // Independent check of the penalty: at the bound plus softplus(|logit|) per unit of distance.
        double logit;
        using (var scope = TorchSharp.torch.NewDisposeScope())
        using (var noGrad = TorchSharp.torch.no_grad())
        {
            var input = TorchSharp.torch.tensor(probe[0].Features, new long[] { 1, Row16.Size });
            logit = model.Network.Decode(model.Network.Encode(input).Mu).data<float>()[3];
        }
        double slope = Math.Max(Math.Abs(logit), 0) + Math.Log(1 + Math.Exp(-Math.Abs(logit)));
        Assert.AreEqual(scores[0] + slope * 1.0, scores[3], 1e-3 * Math.Max(1, scores[3]));

        var engine = ml.Model.CreatePredictionEngine<Row16, VaeOutput>(model);
        Assert.AreEqual(scores[2], engine.Predict(probe[2]).Score, 1e-4 * Math.Abs(scores[2]), "PredictionEngine agrees (last bits may differ: batch-shaped GEMM)");
    }

    [TestMethod]
    public void HeldOutRowsSlightlyOutsideTheTrainingRangeKeepAFiniteMeanScore()
    {
        // The README pipeline: NormalizeMinMax fitted on training rows, then scoring rows whose values exceed the
        // training maximum a little. The mean score must stay finite.
        var ml = new MLContext(seed: 1);
        var train = TestData.BinaryPrototypes(64).Select(r => new Row16 { Features = r.Features.Select(v => v * 0.9f).ToArray() }).ToArray();
        var test = TestData.BinaryPrototypes(32, seed: 9);
        var pipeline = ml.Transforms.NormalizeMinMax("Features", fixZero: false)
            .Append(ml.Generative().VariationalAutoencoder(SmallOptions(epochs: 2)));
        var model = pipeline.Fit(TestData.Load(ml, train));
        var scores = Scores(ml, model.Transform(TestData.Load(ml, test)));
        Assert.IsTrue(test.Any(r => r.Features.Any(v => v / 0.9f > 1f)), "the test rows do exceed the training range");
        Assert.IsTrue(double.IsFinite(scores.Average(s => (double)s)), $"mean score {scores.Average(s => (double)s)}");
    }

    [TestMethod]
    public void ValidationDoesNotChangeTheTrainedModel()
    {
        float[] Fit(bool validate)
        {
            var ml = new MLContext(seed: 1);
            var data = TestData.Load(ml, TestData.BinaryPrototypes(128));
            var validation = TestData.Load(ml, TestData.BinaryPrototypes(32, seed: 5));
            var estimator = ml.Generative().VariationalAutoencoder(SmallOptions(epochs: 3));
            var model = validate ? estimator.Fit(data, validation) : estimator.Fit(data);
            return Scores(ml, model.Transform(data));
        }
        CollectionAssert.AreEqual(Fit(false), Fit(true));
    }

    [TestMethod]
    public void EarlyStoppingWaitsForKlWarmupToEnd()
    {
        var ml = new MLContext(seed: 1);
        var options = SmallOptions(epochs: 8);
        options.KlWarmupEpochs = 4;
        options.EarlyStoppingPatience = 1;
        options.ValidationFraction = 0.25;
        var model = ml.Generative().VariationalAutoencoder(options).Fit(TestData.Load(ml, TestData.BinaryPrototypes(256)));
        // Comparisons start at epoch 5 (the first with the full KL weight); patience 1 can stop at epoch 6 at the earliest.
        Assert.IsTrue(model.TrainingHistory.Count >= 6, $"stopped after {model.TrainingHistory.Count} epochs");
    }

    [TestMethod]
    public void LearnedVarianceIsFlooredForConstantFeatures()
    {
        // Four features that never vary: without a floor their learned variance, and the loss, would fall without bound.
        var ml = new MLContext(seed: 1);
        var rows = Enumerable.Range(0, 64).Select(_ => new Row16 { Features = new float[Row16.Size] }).ToArray();
        var options = SmallOptions(epochs: 30);
        options.Likelihood = VaeLikelihood.GaussianLearnedVariance;
        options.LearningRate = 0.5;
        var model = ml.Generative().VariationalAutoencoder(options).Fit(TestData.Load(ml, rows));
        // Per feature, −log N(0; 0, σ²) ≥ ½ (log 2π + log 1e-4) = −3.686 nats.
        double floor = Row16.Size * 0.5 * (Math.Log(2 * Math.PI) + Math.Log(1e-4));
        var reconstruction = model.TrainingHistory[^1].TrainingLosses["Reconstruction"];
        Assert.IsTrue(reconstruction >= floor - 1e-3, $"reconstruction {reconstruction} below the floor {floor}");
        Assert.IsTrue(double.IsFinite(model.TrainingHistory[^1].TrainingLoss));
    }

    [TestMethod]
    public void ReadmePipelineWithMinMaxScalingFeedsTheBernoulliLikelihood()
    {
        // The README's pipeline: raw columns with negative values, scaled into [0, 1] by NormalizeMinMax(fixZero: false).
        var ml = new MLContext(seed: 1);
        var data = TestData.Load(ml, TestData.Correlated(300));
        var pipeline = ml.Transforms.Concatenate("Features", "A", "B", "C", "D")
            .Append(ml.Transforms.NormalizeMinMax("Features", fixZero: false))
            .Append(ml.Generative().VariationalAutoencoder(new VariationalAutoencoderOptions
            {
                LatentDimension = 2, HiddenLayerSizes = new[] { 16 }, NumberOfEpochs = 3, BatchSize = 32,
            }));
        var model = pipeline.Fit(data);
        Assert.IsTrue(model.Transform(data).GetColumn<float>("Score").All(float.IsFinite), "training rows are all inside [0, 1]");

        // With the default fixZero: true, negative values stay negative and Fit says what to do.
        var wrong = ml.Transforms.Concatenate("Features", "A", "B", "C", "D")
            .Append(ml.Transforms.NormalizeMinMax("Features"))
            .Append(ml.Generative().VariationalAutoencoder(SmallOptions(epochs: 1)));
        var e = Assert.Throws<Exception>(() => wrong.Fit(data));
        StringAssert.Contains(e.Message, "fixZero: false");
    }

    [TestMethod]
    public void GradientClippingOptimizerAndActivationSettingsTakeEffect()
    {
        double FirstEpochLoss(Action<VariationalAutoencoderOptions> configure)
        {
            var ml = new MLContext(seed: 1);
            var options = SmallOptions(epochs: 1);
            options.Optimizer = GenerativeOptimizer.Adam;
            configure(options);
            return ml.Generative().VariationalAutoencoder(options).Fit(TestData.Load(ml, TestData.BinaryPrototypes(256))).TrainingHistory[0].TrainingLoss;
        }
        double plain = FirstEpochLoss(_ => { });
        // Adam is nearly invariant to a constant gradient scale, but clipping rescales every step by a different
        // factor, so a tiny clip norm still changes the trajectory; a norm nobody reaches changes nothing.
        Assert.AreEqual(plain, FirstEpochLoss(o => o.GradientClipNorm = 1e9), 1e-6, "a clip norm nobody reaches changes nothing");
        Assert.AreNotEqual(plain, FirstEpochLoss(o => o.GradientClipNorm = 1e-3), "a tiny clip norm changes the updates");
        Assert.AreNotEqual(plain, FirstEpochLoss(o => { o.Optimizer = GenerativeOptimizer.AdamW; o.WeightDecay = 0.5; }));
        Assert.AreNotEqual(plain, FirstEpochLoss(o => o.Beta1 = 0.5));
        foreach (var activation in Enum.GetValues<VaeActivation>())
        {
            double loss = FirstEpochLoss(o => o.Activation = activation);
            Assert.IsTrue(double.IsFinite(loss) && loss < 11.5, $"{activation}: first-epoch loss {loss}");
        }
    }

    public sealed class VaeOutput
    {
        [VectorType(2)] public float[] Latent { get; set; } = Array.Empty<float>();
        [VectorType(Row16.Size)] public float[] Reconstruction { get; set; } = Array.Empty<float>();
        public float Score { get; set; }
    }

    private sealed class SyncProgress(Action<EpochSummary> report) : IProgress<EpochSummary>
    {
        public void Report(EpochSummary value) => report(value);
    }
}
