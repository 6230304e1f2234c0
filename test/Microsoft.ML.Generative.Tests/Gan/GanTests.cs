using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Reflection;
using System.Threading.Tasks;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Gan;
using Microsoft.ML.Generative.Losses;
using Microsoft.ML.Generative.Training;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Tests.Gan;

[TestClass]
public sealed class GanTests
{
    public TestContext TestContext { get; set; } = null!;

    private static GenerativeAdversarialNetworkTransformer Fit(MLContext ml, GenerativeAdversarialNetworkOptions options, Row2[]? rows = null)
        => ml.Generative().GenerativeAdversarialNetwork(options).Fit(ml.Data.LoadFromEnumerable(rows ?? GanTestData.Mixture(256)));

    private string TempFile(string name) => Path.Combine(Path.GetTempPath(), $"{TestContext.TestName}-{Guid.NewGuid():N}-{name}");

    [TestMethod]
    public void OutputMapRoundTripsUnitsAndCoversTheObservedRange()
    {
        var ml = new MLContext(seed: 1);
        var rows = GanTestData.Mixture(256);
        // A third, constant feature is not possible with Row2; the map's constant case is checked on the tensors below.
        var model = Fit(ml, GanTestData.Small(epochs: 1), rows);
        var network = model.Network;
        float min0 = rows.Min(r => r.Features[0]), max0 = rows.Max(r => r.Features[0]);
        float min1 = rows.Min(r => r.Features[1]), max1 = rows.Max(r => r.Features[1]);
        using (var ends = tensor(new float[] { -1, -1, 1, 1 }, new long[] { 2, 2 }))
        using (var units = network.ToUnits(ends))
        {
            var u = units.data<float>().ToArray();
            Assert.AreEqual(min0, u[0], 1e-5 * Math.Abs(min0));
            Assert.AreEqual(min1, u[1], 1e-5 * Math.Abs(min1));
            Assert.AreEqual(max0, u[2], 1e-5 * Math.Abs(max0));
            Assert.AreEqual(max1, u[3], 1e-5 * Math.Abs(max1));
        }
        var x = rows.Take(50).SelectMany(r => r.Features).ToArray();
        using (var data = tensor(x, new long[] { 50, 2 }))
        using (var mapped = network.FromUnits(data))
        using (var back = network.ToUnits(mapped))
        {
            var m = mapped.data<float>().ToArray();
            Assert.IsTrue(m.All(v => v >= -1 - 1e-6 && v <= 1 + 1e-6), "training rows map into [−1, 1]");
            var b = back.data<float>().ToArray();
            for (int i = 0; i < x.Length; i++)
                Assert.AreEqual(x[i], b[i], 1e-5 * Math.Max(1, Math.Abs(x[i])), $"value {i}");
        }

        // A constant feature maps to 0 and comes back exactly.
        using var constant = new GanNetwork(new GanArchitecture(2, 2, new[] { 4 }, new[] { 4 }, GanActivation.LeakyRelu, 0, false, false, GanOutputScaling.MinMax));
        using (var c = tensor(new float[] { 3, 7 }))
        using (var h = tensor(new float[] { 0, 2 }))
            constant.SetOutputMap(c, h);
        using (var row = tensor(new float[] { 3, 9 }, new long[] { 1, 2 }))
        using (var mapped = constant.FromUnits(row))
        using (var y = tensor(new float[] { 0.7f, -0.5f }, new long[] { 1, 2 }))
        using (var back = constant.ToUnits(y))
        {
            CollectionAssert.AreEqual(new float[] { 0, 1 }, mapped.data<float>().ToArray());
            CollectionAssert.AreEqual(new float[] { 3, 6 }, back.data<float>().ToArray());
        }

        // Samples come back in the data's units, inside the observed range.
        var sample = GanTestData.Features(model.Sample(500, seed: 1));
        Assert.IsTrue(sample.All(r => r[0] >= min0 && r[0] <= max0 && r[1] >= min1 && r[1] <= max1));
    }

    [TestMethod]
    public void NoOutputScalingUsesTheDataAsIsWithALinearOutput()
    {
        var ml = new MLContext(seed: 1);
        var options = GanTestData.Small(epochs: 1);
        options.OutputScaling = GanOutputScaling.None;
        options.DivergencePatience = 0; // one epoch has not learned the raw units' spread (about 20) yet
        var model = Fit(ml, options);
        Assert.IsFalse(model.Network.GeneratorModule.children().OfType<TorchSharp.Modules.Tanh>().Any());
        CollectionAssert.AreEqual(new float[] { 0, 0 }, model.Network.Center.data<float>().ToArray());
        CollectionAssert.AreEqual(new float[] { 1, 1 }, model.Network.HalfRange.data<float>().ToArray());
    }

    [TestMethod]
    public void GeneratorAverageDiffersFromTheRawWeightsAndIsWhatSampleUses()
    {
        var ml = new MLContext(seed: 1);
        var model = Fit(ml, GanTestData.Small(epochs: 3));
        var network = model.Network;
        Assert.IsTrue(model.UsesGeneratorAverage);
        var raw = network.GeneratorModule.parameters().ToArray();
        var averaged = network.GeneratorEmaModule!.parameters().ToArray();
        Assert.AreEqual(raw.Length, averaged.Length);
        double difference = raw.Zip(averaged).Sum(p => (p.First - p.Second).abs().sum().ToDouble());
        Assert.IsTrue(difference > 1e-3, $"the average equals the raw weights ({difference})");
        Assert.IsTrue(averaged.All(p => !p.requires_grad), "the average is not trained by gradients");

        // Sample(count, seed) = ToUnits(G_EMA(z)) with z ~ N(0, I) from Generator(seed), not the raw G.
        var sample = GanTestData.Features(model.Sample(8, seed: 5)).SelectMany(r => r).ToArray();
        using var generator = new Generator(5);
        using var z = randn(new long[] { 8, model.LatentDimension }, generator: generator);
        using (no_grad())
        {
            using var ema = network.ToUnits(network.GeneratorEmaModule.forward(z));
            using var plain = network.ToUnits(network.GeneratorModule.forward(z));
            var expected = ema.data<float>().ToArray();
            for (int i = 0; i < expected.Length; i++)
                Assert.AreEqual(expected[i], sample[i], 1e-5 * Math.Max(1, Math.Abs(expected[i])), $"value {i}");
            Assert.IsTrue(plain.data<float>().ToArray().Zip(sample).Any(p => Math.Abs(p.First - p.Second) > 1e-3), "Sample does not use the raw generator");
        }
        // Generate(codes) is the same map.
        var codes = Enumerable.Range(0, 8).Select(i => z[i].data<float>().ToArray()).ToArray();
        var generated = model.Generate(codes).SelectMany(r => r).ToArray();
        for (int i = 0; i < generated.Length; i++)
            Assert.AreEqual(sample[i], generated[i], 1e-5 * Math.Max(1, Math.Abs(sample[i])));

        var off = GanTestData.Small(epochs: 1);
        off.GeneratorEmaDecay = 0;
        var plainModel = Fit(ml, off);
        Assert.IsFalse(plainModel.UsesGeneratorAverage);
        Assert.IsNull(plainModel.Network.GeneratorEmaModule);
    }

    /// <summary>One discriminator step from the same weights and noise, with and without a penalty.</summary>
    private static (float[] Discriminator, float[] Generator) OneStep(Action<GenerativeAdversarialNetworkOptions> configure)
    {
        var options = GanTestData.Small(epochs: 1);
        options.GeneratorEmaDecay = 0;
        configure(options);
        var architecture = new GanArchitecture(2, options.LatentDimension, options.GeneratorHiddenLayerSizes, options.DiscriminatorHiddenLayerSizes,
            options.Activation, 0, options.SpectralNormalization, false, GanOutputScaling.MinMax);
        var network = Microsoft.ML.Generative.Training.TorchRandom.Build(7, () => new GanNetwork(architecture));
        using (network)
        {
            using var noise = new Generator(11);
            using var objective = new GanObjective(network, options, noise, evaluationSeed: 3);
            using var batch = tensor(GanTestData.Mixture(16).SelectMany(r => r.Features).Select(v => v / 20f).ToArray(), new long[] { 16, 2 });
            network.train();
            using (var scope = NewDisposeScope())
                objective.TrainStep(batch, new StepInfo(1, 1, 1, 2)); // global step 2, n_critic 3: a critic step only
            return (Flatten(network.DiscriminatorModule), Flatten(network.GeneratorModule));
        }
    }

    private static float[] Flatten(nn.Module module) => module.parameters().SelectMany(p => p.detach().data<float>().ToArray()).ToArray();

    [TestMethod]
    public void GradientPenaltyAndR1ReachTheDiscriminatorsWeights()
    {
        var (plain, plainG) = OneStep(o => o.CriticStepsPerGeneratorStep = 3);
        var (gp, gpG) = OneStep(o => { o.CriticStepsPerGeneratorStep = 3; o.GradientPenaltyWeight = 100; });
        var (r1, r1G) = OneStep(o => { o.CriticStepsPerGeneratorStep = 3; o.R1Weight = 100; });
        var (again, _) = OneStep(o => o.CriticStepsPerGeneratorStep = 3);
        CollectionAssert.AreEqual(plain, again, "the step is deterministic");
        Assert.IsTrue(plain.Zip(gp).Max(p => Math.Abs(p.First - p.Second)) > 1e-6, "the gradient penalty changed D's update");
        Assert.IsTrue(plain.Zip(r1).Max(p => Math.Abs(p.First - p.Second)) > 1e-6, "R1 changed D's update");
        // Critic-only step: the generator is untouched.
        CollectionAssert.AreEqual(plainG, gpG);
        CollectionAssert.AreEqual(plainG, r1G);

        // And the penalty's gradient with respect to a discriminator weight is the right one: float64 finite differences.
        var architecture = new GanArchitecture(2, 2, new[] { 4 }, new[] { 5, 3 }, GanActivation.Silu, 0, false, false, GanOutputScaling.MinMax);
        using var network = Microsoft.ML.Generative.Training.TorchRandom.Build(3, () => new GanNetwork(architecture));
        network.to(ScalarType.Float64);
        network.train();
        using var real = randn(new long[] { 6, 2 }, dtype: ScalarType.Float64);
        using var fake = randn(new long[] { 6, 2 }, dtype: ScalarType.Float64);
        using var eps = rand(6, dtype: ScalarType.Float64);
        var weight = network.DiscriminatorModule.parameters().First();   // linear0.weight [5, 2]
        foreach (var penalty in new Func<Tensor>[]
        {
            () => AdversarialLosses.GradientPenalty(network.Discriminate, real, fake, epsilon: eps),
            () => AdversarialLosses.R1Penalty(network.Discriminate, real, 10),
        })
        {
            weight.grad?.zero_();
            using (var p = penalty())
                p.backward();
            double analytic = weight.grad![1, 0].ToDouble();
            Assert.IsTrue(Math.Abs(analytic) > 1e-6, "the penalty has a gradient on D's weights");
            double h = 1e-6;
            double Value(double delta)
            {
                using (no_grad())
                    weight[1, 0].add_(delta);
                using var p = penalty();
                double v = p.ToDouble();
                using (no_grad())
                    weight[1, 0].sub_(delta);
                return v;
            }
            double numeric = (Value(h) - Value(-h)) / (2 * h);
            Assert.AreEqual(numeric, analytic, 1e-6 * Math.Max(1, Math.Abs(numeric)));
        }
    }

    [TestMethod]
    public void SpectralNormalizationBoundsEveryDiscriminatorLayer()
    {
        Microsoft.ML.Generative.Training.TorchRandom.Build(3, () => 0);
        using var layer = Microsoft.ML.Generative.Training.TorchRandom.Build(3, () => new SpectralNormLinear(7, 5));
        Assert.IsTrue(layer.state_dict().Keys.ToHashSet().SetEquals(new[] { "weight", "bias", "u", "v" }), "u and v are saved with the weights");
        layer.train();
        using var x = randn(3, 7);
        for (int i = 0; i < 30; i++)
        {
            using var y = layer.forward(x);
        }
        using var raw = linalg.svdvals(layer.parameters().First());
        Assert.AreEqual(raw[0].ToDouble(), layer.SpectralNormEstimate, 1e-4 * raw[0].ToDouble(), "power iteration finds σ(W)");
        using (var w = layer.NormalizedWeight())
        using (var s = linalg.svdvals(w))
            Assert.AreEqual(1.0, s[0].ToDouble(), 1e-4);

        // Evaluation does not move u and v; the output is linear(x, W/σ, b).
        layer.eval();
        var before = layer.state_dict()["u"].data<float>().ToArray();
        using (var y = layer.forward(x))
        using (var w = layer.NormalizedWeight())
        using (var expected = nn.functional.linear(x, w, layer.parameters().Last()))
            Assert.IsTrue(y.allclose(expected, 1e-6, 1e-6));
        CollectionAssert.AreEqual(before, layer.state_dict()["u"].data<float>().ToArray());

        // In a trained GAN, every D layer is spectrally normalized.
        var ml = new MLContext(seed: 1);
        var options = GanTestData.Small(epochs: 2);
        options.SpectralNormalization = true;
        var model = Fit(ml, options);
        var layers = model.Network.SpectralNormLayers.ToArray();
        Assert.AreEqual(3, layers.Length);
        foreach (var l in layers)
        {
            using var w = l.NormalizedWeight();
            using var s = linalg.svdvals(w);
            Assert.AreEqual(1.0, s[0].ToDouble(), 0.05);
        }
    }

    [TestMethod]
    public void OutputSchemaAgreesBetweenEstimatorTransformerAndData()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(GanTestData.Mixture(64));
        var estimator = ml.Generative().GenerativeAdversarialNetwork(GanTestData.Small(epochs: 1));
        var create = typeof(SchemaShape).GetMethod("Create", BindingFlags.NonPublic | BindingFlags.Static)!;
        var shape = estimator.GetOutputSchema((SchemaShape)create.Invoke(null, new object[] { data.Schema })!);
        var model = estimator.Fit(data);
        var schema = model.GetOutputSchema(data.Schema);
        var transformed = model.Transform(data).Schema;
        var column = shape.Single(c => c.Name == "DiscriminatorScore");
        Assert.AreEqual(SchemaShape.Column.VectorKind.Scalar, column.Kind);
        Assert.AreEqual(NumberDataViewType.Single, column.ItemType);
        Assert.AreEqual(NumberDataViewType.Single, schema["DiscriminatorScore"].Type);
        Assert.AreEqual(NumberDataViewType.Single, transformed["DiscriminatorScore"].Type);
        CollectionAssert.AreEqual(schema.Select(c => c.Name).ToArray(), transformed.Select(c => c.Name).ToArray());
        Assert.AreEqual(new VectorDataViewType(NumberDataViewType.Single, 2), model.Sample(3, seed: 1).Schema["Features"].Type);
        Assert.IsTrue(model.Transform(data).GetColumn<float>("DiscriminatorScore").All(float.IsFinite));
    }

    [TestMethod]
    public void PredictionEngineMatchesTransformAndScoringIsThreadSafe()
    {
        var ml = new MLContext(seed: 1);
        var rows = GanTestData.Mixture(600);
        var options = GanTestData.Small(epochs: 2);
        options.DiscriminatorDropout = 0.3; // off at scoring
        options.SpectralNormalization = true; // u, v fixed at scoring
        var model = Fit(ml, options, rows);
        var data = ml.Data.LoadFromEnumerable(rows);
        var batch = model.Transform(data).GetColumn<float>("DiscriminatorScore").ToArray();
        var engine = ml.Model.CreatePredictionEngine<Row2, GanOutput>(model);
        for (int i = 0; i < 50; i++)
            Assert.AreEqual(batch[i], engine.Predict(rows[i]).DiscriminatorScore, 1e-5 * Math.Max(1, Math.Abs(batch[i])), $"row {i}");

        var results = new float[4][];
        var samples = new float[4][];
        Parallel.For(0, 4, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            results[i] = model.Transform(data).GetColumn<float>("DiscriminatorScore").ToArray();
            samples[i] = GanTestData.Features(model.Sample(100, seed: 9)).SelectMany(r => r).ToArray();
        });
        var sample = GanTestData.Features(model.Sample(100, seed: 9)).SelectMany(r => r).ToArray();
        for (int i = 0; i < 4; i++)
        {
            CollectionAssert.AreEqual(batch, results[i]);
            CollectionAssert.AreEqual(sample, samples[i]);
        }
        // Scoring leaves the model unchanged: the same scores again.
        CollectionAssert.AreEqual(batch, model.Transform(data).GetColumn<float>("DiscriminatorScore").ToArray());
    }

    [TestMethod]
    public void SameSeedGivesSameModelAndDifferentSeedDoesNot()
    {
        float[] Run(int seed)
        {
            var ml = new MLContext(seed: seed);
            var options = GanTestData.Small(epochs: 3);
            options.DiscriminatorDropout = 0.2;
            options.GradientPenaltyWeight = 1;
            var model = Fit(ml, options);
            return GanTestData.Features(model.Sample(20, seed: 1)).SelectMany(r => r)
                .Concat(model.Transform(ml.Data.LoadFromEnumerable(GanTestData.Mixture(20, seed: 4))).GetColumn<float>("DiscriminatorScore")).ToArray();
        }
        var a = Run(1);
        CollectionAssert.AreEqual(a, Run(1), "same seed: bit-identical");
        CollectionAssert.AreNotEqual(a, Run(2));

        var ml = new MLContext(seed: 1);
        var model = Fit(ml, GanTestData.Small(epochs: 1));
        CollectionAssert.AreEqual(GanTestData.Features(model.Sample(5, seed: 3)).SelectMany(r => r).ToArray(),
            GanTestData.Features(model.Sample(5, seed: 3)).SelectMany(r => r).ToArray());
        CollectionAssert.AreNotEqual(GanTestData.Features(model.Sample(5, seed: 3)).SelectMany(r => r).ToArray(),
            GanTestData.Features(model.Sample(5, seed: 4)).SelectMany(r => r).ToArray());
    }

    [TestMethod]
    public void ProgressReportsBothLossesScoresAndValidationFrechetDistance()
    {
        var ml = new MLContext(seed: 1);
        var messages = new System.Collections.Concurrent.ConcurrentQueue<string>();
        ml.Log += (_, e) => messages.Enqueue(e.Message);
        var summaries = new List<EpochSummary>();
        var options = GanTestData.Small(epochs: 20);
        options.Progress = new SyncProgress(summaries.Add);
        var model = ml.Generative().GenerativeAdversarialNetwork(options)
            .Fit(ml.Data.LoadFromEnumerable(GanTestData.Mixture(512)), ml.Data.LoadFromEnumerable(GanTestData.Mixture(400, seed: 9)));
        Assert.HasCount(20, summaries);
        foreach (var s in summaries)
        {
            foreach (var name in new[] { "Loss", "GeneratorLoss", "RealScore", "FakeScore", "Penalty" })
                Assert.IsTrue(double.IsFinite(s.TrainingLosses[name]), $"{name} at epoch {s.Epoch}");
            Assert.IsTrue(double.IsNaN(s.TrainingLosses["FrechetDistance"]), "measured on validation data only");
            Assert.IsTrue(s.ValidationLosses!["FrechetDistance"] >= 0);
            // Non-saturating: RealScore and FakeScore are probabilities.
            Assert.IsTrue(s.TrainingLosses["RealScore"] is > 0 and < 1 && s.TrainingLosses["FakeScore"] is > 0 and < 1);
        }
        // In the generator's range (features mapped to [−1, 1]), the FD falls as the generator learns.
        double first = summaries[0].ValidationLosses!["FrechetDistance"], last = summaries[^1].ValidationLosses!["FrechetDistance"];
        TestContext.WriteLine($"validation FD: epoch 1 {first:F4}, epoch 20 {last:F4}");
        Assert.IsTrue(last < 0.6 * first, $"FD {first} -> {last}");
        var lines = messages.Where(m => m.Contains("epoch ") && m.Contains("train loss")).ToArray();
        Assert.HasCount(20, lines);
        StringAssert.Contains(lines[^1], "GeneratorLoss");
        StringAssert.Contains(lines[^1], "RealScore");
        StringAssert.Contains(lines[^1], "FakeScore");
        StringAssert.Contains(lines[^1], "FrechetDistance");
        Assert.AreEqual(summaries[^1].TrainingLosses["GeneratorLoss"], model.TrainingHistory[^1].TrainingLosses["GeneratorLoss"]);
    }

    [TestMethod]
    public void EarlyStoppingOnTheFrechetDistanceKeepsTheBestGenerator()
    {
        var ml = new MLContext(seed: 1);
        var options = GanTestData.Small(epochs: 40);
        options.ValidationFraction = 0.25;
        options.EarlyStoppingPatience = 3;
        var model = Fit(ml, options, GanTestData.Mixture(512));
        var history = model.TrainingHistory;
        var fd = history.Select(h => h.ValidationLosses!["FrechetDistance"]).ToArray();
        if (history.Count < 40)
            Assert.IsTrue(fd.Skip(fd.Length - 3).All(v => v >= fd.Min()), "stopped after 3 epochs without improvement");
        // The kept generator is the best epoch's: its validation FD, recomputed the same way, is the minimum.
        Assert.IsTrue(fd.Min() < fd[0]);
    }

    [TestMethod]
    public void FitAndScoringLeaveNoLiveTensors()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(GanTestData.Mixture(256));
        var options = GanTestData.Small(epochs: 2);
        options.GradientPenaltyWeight = 1;
        options.R1Weight = 1;
        options.SpectralNormalization = true;
        options.DiscriminatorDropout = 0.2;
        options.ValidationFraction = 0.25;
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        var model = ml.Generative().GenerativeAdversarialNetwork(options).Fit(data);
        long weights = model.Network.state_dict().Count;
        long afterFit = DisposeScopeManager.Statistics.ThreadTotalLiveCount - before - weights;
        model.Transform(data).GetColumn<float>("DiscriminatorScore").Count();
        model.Sample(1000, seed: 1).GetColumn<float[]>("Features").Count();
        model.Generate(new[] { new float[4], new float[4] });
        long afterScoring = DisposeScopeManager.Statistics.ThreadTotalLiveCount - before - weights;
        Assert.AreEqual(0, afterFit, "tensors left by Fit beyond the model's weights");
        Assert.AreEqual(0, afterScoring, "tensors left by scoring and sampling");
    }

    [TestMethod]
    public void FitWorksUnderAnOuterNoGradScope()
    {
        // The penalties take input gradients: a caller's no_grad must not turn them into a process abort.
        var ml = new MLContext(seed: 1);
        var options = GanTestData.Small(epochs: 1);
        options.GradientPenaltyWeight = 10;
        options.R1Weight = 10;
        using (no_grad())
        {
            var model = Fit(ml, options);
            Assert.IsTrue(double.IsFinite(model.TrainingHistory[0].TrainingLosses["Penalty"]));
            Assert.IsTrue(model.TrainingHistory[0].TrainingLosses["Penalty"] > 0);
        }
    }

    [TestMethod]
    public void SavedModelReloadsWithIdenticalSamplesScoresAndHistory()
    {
        var ml = new MLContext(seed: 1);
        var rows = GanTestData.Mixture(256);
        var data = ml.Data.LoadFromEnumerable(rows);
        var options = GanTestData.Small(epochs: 2);
        options.SpectralNormalization = true;
        var model = ml.Generative().GenerativeAdversarialNetwork(options).Fit(data);
        string path = TempFile("gan.zip");
        ml.Model.Save(model, data.Schema, path);
        var fresh = new MLContext(seed: 5);
        var loaded = (GenerativeAdversarialNetworkTransformer)fresh.Model.Load(path, out _);
        CollectionAssert.AreEqual(model.Transform(data).GetColumn<float>("DiscriminatorScore").ToArray(),
            loaded.Transform(fresh.Data.LoadFromEnumerable(rows)).GetColumn<float>("DiscriminatorScore").ToArray());
        CollectionAssert.AreEqual(GanTestData.Features(model.Sample(50, seed: 2)).SelectMany(r => r).ToArray(),
            GanTestData.Features(loaded.Sample(50, seed: 2)).SelectMany(r => r).ToArray());
        Assert.HasCount(2, loaded.TrainingHistory);
        Assert.AreEqual(model.TrainingHistory[1].TrainingLosses["GeneratorLoss"], loaded.TrainingHistory[1].TrainingLosses["GeneratorLoss"]);
        Assert.IsTrue(loaded.UsesGeneratorAverage);
        CollectionAssert.AreEqual(new[] { 32, 32 }, loaded.GeneratorHiddenLayerSizes.ToArray());

        // In a chain after an ML.NET normalizer, with a PredictionEngine over the loaded chain.
        var chain = ml.Transforms.NormalizeMeanVariance("Features").Append(ml.Generative().GenerativeAdversarialNetwork(GanTestData.Small(epochs: 1))).Fit(data);
        string chainPath = TempFile("chain.zip");
        ml.Model.Save(chain, data.Schema, chainPath);
        var loadedChain = fresh.Model.Load(chainPath, out _);
        var engine = fresh.Model.CreatePredictionEngine<Row2, GanOutput>(loadedChain);
        float expected = chain.Transform(data).GetColumn<float>("DiscriminatorScore").First();
        Assert.AreEqual(expected, engine.Predict(rows[0]).DiscriminatorScore, 1e-5 * Math.Max(1, Math.Abs(expected)));
    }

    [TestMethod]
    public void ModelLoadsInANewProcessWithIdenticalScoresAndSamples()
    {
        var ml = new MLContext(seed: 1);
        var rows = GanTestData.Mixture(100);
        var data = ml.Data.LoadFromEnumerable(rows);
        var options = GanTestData.Small(epochs: 2);
        options.SpectralNormalization = true;
        var model = ml.Generative().GenerativeAdversarialNetwork(options).Fit(data);
        string zip = TempFile("model.zip"), input = TempFile("input.txt");
        ml.Model.Save(model, data.Schema, zip);
        File.WriteAllLines(input, rows.Select(r => string.Join(" ", r.Features.Select(v => v.ToString("R", CultureInfo.InvariantCulture)))));
        static string Line(IEnumerable<float> values) => string.Join(" ", values.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));

        var scores = RunLoader(zip, input, "DiscriminatorScore");
        CollectionAssert.AreEqual(model.Transform(data).GetColumn<float>("DiscriminatorScore").Select(s => Line(new[] { s })).ToArray(), scores);
        var samples = RunLoader(zip, input, "@Sample:20:7");
        CollectionAssert.AreEqual(GanTestData.Features(model.Sample(20, seed: 7)).Select(Line).ToArray(), samples);
    }

    private string[] RunLoader(string zip, string input, string columns)
    {
        string output = TempFile("output.txt");
        string loader = typeof(GanTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "ModelLoaderPath").Value!;
        ModelFiles.RunLoader(loader, zip, input, output, columns);
        return File.ReadAllLines(output);
    }

    [TestMethod]
    public void DamagedModelFileGivesAClearInvalidDataException()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(GanTestData.Mixture(64));
        var model = ml.Generative().GenerativeAdversarialNetwork(GanTestData.Small(epochs: 1)).Fit(data);
        string path = TempFile("gan.zip");
        ml.Model.Save(model, data.Schema, path);
        ModelFiles.DamageWeights(path);
        var e = Assert.Throws<Exception>(() => new MLContext().Model.Load(path, out _));
        var inner = e;
        while (inner is TargetInvocationException && inner.InnerException is not null)
            inner = inner.InnerException;
        Assert.IsInstanceOfType<InvalidDataException>(inner, e.ToString());
        StringAssert.Contains(inner.Message, "generative adversarial network");
        StringAssert.Contains(inner.Message, "checksum");
    }

    private sealed class SyncProgress(Action<EpochSummary> report) : IProgress<EpochSummary>
    {
        public void Report(EpochSummary value) => report(value);
    }
}
