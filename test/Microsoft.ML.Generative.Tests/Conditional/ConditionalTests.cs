using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Gan;
using Microsoft.ML.Generative.Scoring;
using Microsoft.ML.Generative.Vae;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;

namespace Microsoft.ML.Generative.Tests.Conditional;

/// <summary>
/// Conditional VAE and GAN on a small table whose features depend on a class: class k puts mean 3 on feature k − 1.
/// The class is a key without key values ("Class", 3 values), a text turned into a key ("Species"), or a float vector
/// ("Context").
/// </summary>
[TestClass]
public sealed class ConditionalTests
{
    public TestContext TestContext { get; set; } = null!;

    private string TempFile(string name) => Path.Combine(Path.GetTempPath(), $"{TestContext.TestName}-{Guid.NewGuid():N}-{name}");

    internal static VariationalAutoencoderOptions Vae(string condition, int epochs = 30) => new()
    {
        ConditionColumnName = condition,
        Likelihood = VaeLikelihood.GaussianLearnedVariance,
        LatentDimension = 2,
        HiddenLayerSizes = new[] { 32 },
        NumberOfEpochs = epochs,
        BatchSize = 32,
        LearningRate = 3e-3,
    };

    internal static GenerativeAdversarialNetworkOptions Gan(string condition, int epochs = 40) => new()
    {
        ConditionColumnName = condition,
        LatentDimension = 4,
        GeneratorHiddenLayerSizes = new[] { 32, 32 },
        DiscriminatorHiddenLayerSizes = new[] { 32, 32 },
        NumberOfEpochs = epochs,
        BatchSize = 32,
        LearningRate = 2e-3,
    };

    private static float[][] Features(IDataView data) => data.GetColumn<float[]>("Features").ToArray();

    /// <summary>The latent codes Sample draws: z ~ N(0, I) from a TorchSharp generator seeded with <paramref name="seed"/>.</summary>
    private static float[][] Codes(int count, int dimension, int seed)
    {
        using var generator = new torch.Generator((ulong)seed);
        using var z = torch.randn(new long[] { count, dimension }, generator: generator);
        var flat = z.data<float>().ToArray();
        return Enumerable.Range(0, count).Select(i => flat.AsSpan(i * dimension, dimension).ToArray()).ToArray();
    }

    private static void AssertSameRows(float[][] expected, float[][] actual)
    {
        Assert.AreEqual(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            for (int j = 0; j < expected[i].Length; j++)
                Assert.AreEqual(expected[i][j], actual[i][j], 1e-5 * Math.Max(1, Math.Abs(expected[i][j])), $"row {i}, value {j}");
    }

    /// <summary>Per-feature means of rows.</summary>
    private static double[] Means(float[][] rows) => Enumerable.Range(0, rows[0].Length).Select(j => rows.Average(r => (double)r[j])).ToArray();

    /// <summary>Rows generated for class k have their mean on feature k − 1: above 2, and every other feature's below 1.</summary>
    private static void AssertOfClass(float[][] rows, int k, string what)
    {
        var means = Means(rows);
        string shown = string.Join(", ", means.Select(m => m.ToString("F2", CultureInfo.InvariantCulture)));
        Assert.IsTrue(means[k - 1] > 2, $"{what}: feature {k - 1} mean {means[k - 1]:F2} (means {shown})");
        for (int j = 0; j < means.Length; j++)
        {
            if (j != k - 1)
                Assert.IsTrue(Math.Abs(means[j]) < 1, $"{what}: feature {j} mean {means[j]:F2} (means {shown})");
        }
    }

    [TestMethod]
    public void ConditionalVaeSamplesFollowTheKeyCondition_ByRawKeyAndByValue()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(ConditionalTestData.Classes(600));
        var model = ml.Transforms.Conversion.MapValueToKey("SpeciesKey", "Species")
            .Append(ml.Generative().VariationalAutoencoder(Vae("SpeciesKey"))).Fit(data).LastTransformer;
        CollectionAssert.AreEqual(new[] { "Adelie", "Chinstrap", "Gentoo" }, model.ConditionValues!.ToArray());
        for (int k = 1; k <= 3; k++)
            AssertOfClass(Features(model.Sample(300, model.ConditionValues![k - 1], seed: k)), k, $"CVAE, {model.ConditionValues[k - 1]}");
        // The value and its raw key name the same condition: the same rows for the same seed.
        CollectionAssert.AreEqual(Features(model.Sample(20, "Gentoo", seed: 5)).SelectMany(r => r).ToArray(),
            Features(model.Sample(20, 3u, seed: 5)).SelectMany(r => r).ToArray());
        // Decode(codes, condition) is Sample's map: the same z ~ N(0, I) from Generator(seed) gives the same rows.
        AssertSameRows(Features(model.Sample(20, "Chinstrap", seed: 6)), model.Decode(Codes(20, model.LatentDimension, 6), "Chinstrap"));
        // Exact conditioning: every row of a draw is decoded with the asked condition (not a mixture that merely favours it).
        var rows = Features(model.Sample(200, "Adelie", seed: 9));
        Assert.IsTrue(rows.Count(r => r[0] > 1.5) >= 190, $"{rows.Count(r => r[0] > 1.5)} of 200 Adelie rows look like Adelie rows");
    }

    [TestMethod]
    public void ConditionalGanSamplesFollowTheKeyCondition()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(ConditionalTestData.Classes(600));
        foreach (var conditioning in new[] { DiscriminatorConditioning.Projection, DiscriminatorConditioning.Concatenation })
        {
            var options = Gan("Class");
            options.DiscriminatorConditioning = conditioning;
            var model = ml.Generative().GenerativeAdversarialNetwork(options).Fit(data);
            Assert.IsNull(model.ConditionValues, "a key without key values");
            for (uint k = 1; k <= 3; k++)
                AssertOfClass(Features(model.Sample(300, k, seed: (int)k)), (int)k, $"cGAN ({conditioning}), class {k}");
            AssertSameRows(Features(model.Sample(20, 2u, seed: 6)), model.Generate(Codes(20, model.LatentDimension, 6), 2u));
        }
    }

    [TestMethod]
    public void VectorConditionsDriveBothFamilies()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(ConditionalTestData.Classes(600));
        var vae = ml.Generative().VariationalAutoencoder(Vae("Context")).Fit(data);
        // A continuous condition: concatenated to D's input (a projection's (V c)ᵀφ(x) is linear in c).
        var ganOptions = Gan("Context");
        ganOptions.DiscriminatorConditioning = DiscriminatorConditioning.Concatenation;
        var gan = ml.Generative().GenerativeAdversarialNetwork(ganOptions).Fit(data);
        for (int k = 1; k <= 3; k++)
        {
            var context = new[] { k - 2f, (k - 2f) * (k - 2f) - 2f / 3 };
            AssertOfClass(Features(vae.Sample(300, context, seed: k)), k, $"CVAE, context {k}");
            AssertOfClass(Features(gan.Sample(300, context, seed: k)), k, $"cGAN, context {k}");
        }
        Assert.IsNull(vae.ConditionValues);
        Assert.AreEqual("Context", gan.ConditionColumnName);
    }

    [TestMethod]
    public void TransformUsesEachRowsOwnCondition_AndPredictionEngineAgrees()
    {
        var ml = new MLContext(seed: 1);
        var rows = ConditionalTestData.Classes(600);
        var vae = ml.Generative().VariationalAutoencoder(Vae("Class")).Fit(ml.Data.LoadFromEnumerable(rows));
        // The same features scored under their own class and under another one: the true class explains them better.
        var test = ConditionalTestData.Classes(90, seed: 3);
        var wrong = test.Select(r => new ClassRow { Features = r.Features, Class = (r.Class + 1) % 3, Context = r.Context, Species = r.Species }).ToArray();
        var right = vae.Transform(ml.Data.LoadFromEnumerable(test)).GetColumn<float>("Score").ToArray();
        var wrongScores = vae.Transform(ml.Data.LoadFromEnumerable(wrong)).GetColumn<float>("Score").ToArray();
        Assert.IsTrue(right.Zip(wrongScores).All(p => p.First + 2 < p.Second),
            $"negative ELBO given the true class {right.Average():F2} vs a wrong class {wrongScores.Average():F2}");
        // Row at a time (PredictionEngine) agrees with the batches up to float rounding.
        var engine = ml.Model.CreatePredictionEngine<ClassRow, VaeScore>(vae);
        for (int i = 0; i < 10; i++)
            Assert.AreEqual(right[i], engine.Predict(test[i]).Score, 1e-4 * Math.Max(1, Math.Abs(right[i])), $"row {i}");

        var gan = ml.Generative().GenerativeAdversarialNetwork(Gan("Class", epochs: 5)).Fit(ml.Data.LoadFromEnumerable(rows));
        var d = gan.Transform(ml.Data.LoadFromEnumerable(test)).GetColumn<float>("DiscriminatorScore").ToArray();
        var dWrong = gan.Transform(ml.Data.LoadFromEnumerable(wrong)).GetColumn<float>("DiscriminatorScore").ToArray();
        Assert.IsTrue(d.Zip(dWrong).Count(p => p.First != p.Second) == d.Length, "D's score depends on the condition");
    }

    public sealed class VaeScore
    {
        public float Score { get; set; }
    }

    [TestMethod]
    public void SameSeedSameConditionalModel_AndNoLiveTensors()
    {
        var data = new MLContext().Data.LoadFromEnumerable(ConditionalTestData.Classes(300));
        float[] Draw(ITransformer model) => model switch
        {
            VariationalAutoencoderTransformer v => Features(v.Sample(50, 2u, seed: 3)).SelectMany(r => r).ToArray(),
            GenerativeAdversarialNetworkTransformer g => Features(g.Sample(50, 2u, seed: 3)).SelectMany(r => r).ToArray(),
            _ => throw new AssertFailedException(),
        };
        var a = new MLContext(seed: 5).Generative().VariationalAutoencoder(Vae("Class", epochs: 3)).Fit(data);
        var b = new MLContext(seed: 5).Generative().VariationalAutoencoder(Vae("Class", epochs: 3)).Fit(data);
        CollectionAssert.AreEqual(Draw(a), Draw(b));
        var c = new MLContext(seed: 5).Generative().GenerativeAdversarialNetwork(Gan("Class", epochs: 3)).Fit(data);
        var e = new MLContext(seed: 5).Generative().GenerativeAdversarialNetwork(Gan("Class", epochs: 3)).Fit(data);
        CollectionAssert.AreEqual(Draw(c), Draw(e));

        // Fit (with a hold-out split), Transform and Sample leave nothing behind but the weights.
        var ml = new MLContext(seed: 1);
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        var vaeOptions = Vae("Class", epochs: 2);
        vaeOptions.ValidationFraction = 0.2;
        var vae = ml.Generative().VariationalAutoencoder(vaeOptions).Fit(data);
        var ganOptions = Gan("Class", epochs: 2);
        ganOptions.ValidationFraction = 0.2;
        ganOptions.GradientPenaltyWeight = 1;
        ganOptions.DivergencePatience = 0;
        var gan = ml.Generative().GenerativeAdversarialNetwork(ganOptions).Fit(data);
        long weights = vae.Network.state_dict().Count + gan.Network.state_dict().Count;
        Assert.AreEqual(0, DisposeScopeManager.Statistics.ThreadTotalLiveCount - before - weights, "tensors left by Fit");
        vae.Transform(data).GetColumn<float>("Score").Count();
        gan.Transform(data).GetColumn<float>("DiscriminatorScore").Count();
        Draw(vae);
        Draw(gan);
        Assert.AreEqual(0, DisposeScopeManager.Statistics.ThreadTotalLiveCount - before - weights, "tensors left by scoring and sampling");
        Assert.IsTrue(double.IsFinite(gan.TrainingHistory[^1].ValidationLosses!["FrechetDistance"]), "validation Fréchet distance of a conditional GAN");
    }

    [TestMethod]
    public void StreamedConditionalDataTrainsLikeCachedData()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(ConditionalTestData.Classes(600));
        var options = Vae("Class");
        options.MaxCachedMegabytes = 0;   // read through the shuffle buffer every epoch
        options.ShuffleBufferRows = 64;
        var model = ml.Generative().VariationalAutoencoder(options).Fit(data);
        AssertOfClass(Features(model.Sample(300, 1u, seed: 1)), 1, "streamed CVAE, class 1");
    }

    [TestMethod]
    public void SaveLoadKeepsTheConditionsKeyValues_InProcessAndInANewProcess()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(ConditionalTestData.Classes(300));
        var chain = ml.Transforms.Conversion.MapValueToKey("SpeciesKey", "Species")
            .Append(ml.Generative().GenerativeAdversarialNetwork(Gan("SpeciesKey", epochs: 5))).Fit(data);
        string path = TempFile("cgan.zip");
        ml.Model.Save(chain, data.Schema, path);
        var loaded = (TransformerChain<ITransformer>)new MLContext().Model.Load(path, out _);
        var gan = (GenerativeAdversarialNetworkTransformer)loaded.LastTransformer;
        Assert.AreEqual("SpeciesKey", gan.ConditionColumnName);
        CollectionAssert.AreEqual(new[] { "Adelie", "Chinstrap", "Gentoo" }, gan.ConditionValues!.ToArray());
        CollectionAssert.AreEqual(Features(chain.LastTransformer.Sample(20, "Gentoo", seed: 4)).SelectMany(r => r).ToArray(),
            Features(gan.Sample(20, "Gentoo", seed: 4)).SelectMany(r => r).ToArray());
        CollectionAssert.AreEqual(chain.Transform(data).GetColumn<float>("DiscriminatorScore").ToArray(),
            loaded.Transform(data).GetColumn<float>("DiscriminatorScore").ToArray());
        var unknown = Assert.Throws<ArgumentException>(() => gan.Sample(5, "Emperor", seed: 1));
        StringAssert.Contains(unknown.Message, "'Adelie', 'Chinstrap', 'Gentoo'");

        // A new process: a CVAE on a key column without key values, scored and sampled by the ModelLoader.
        var rows = ConditionalTestData.Classes(300);
        var vae = ml.Generative().VariationalAutoencoder(Vae("Class", epochs: 3)).Fit(ml.Data.LoadFromEnumerable(rows));
        string zip = TempFile("cvae.zip"), input = TempFile("input.txt"), output = TempFile("output.txt"), samples = TempFile("samples.txt");
        ml.Model.Save(vae, ml.Data.LoadFromEnumerable(rows).Schema, zip);
        var test = rows.Take(40).ToArray();
        File.WriteAllLines(input, test.Select(r => string.Join(" ", new[] { (float)r.Class }.Concat(r.Features).Select(v => v.ToString("R", CultureInfo.InvariantCulture)))));
        string loader = typeof(ConditionalTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "ModelLoaderPath").Value!;
        ModelFiles.RunLoader(loader, zip, input, output, "Score,Latent", "key:Class:3");
        ModelFiles.RunLoader(loader, zip, input, samples, "@Sample:25:7:2", "key:Class:3");
        var scored = vae.Transform(ml.Data.LoadFromEnumerable(test));
        var expected = scored.GetColumn<float>("Score").Zip(scored.GetColumn<float[]>("Latent"),
            (s, l) => string.Join(" ", new[] { s }.Concat(l).Select(v => v.ToString("R", CultureInfo.InvariantCulture))));
        CollectionAssert.AreEqual(expected.ToArray(), File.ReadAllLines(output));
        var expectedSamples = Features(vae.Sample(25, 2u, seed: 7)).Select(r => string.Join(" ", r.Select(v => v.ToString("R", CultureInfo.InvariantCulture))));
        CollectionAssert.AreEqual(expectedSamples.ToArray(), File.ReadAllLines(samples));
        // Sample(count, seed): the conditions drawn from the saved training counts, the same rows in the new process.
        ModelFiles.RunLoader(loader, zip, input, samples, "@Sample:25:7", "key:Class:3");
        CollectionAssert.AreEqual(Features(vae.Sample(25, seed: 7)).Select(r => string.Join(" ", r.Select(v => v.ToString("R", CultureInfo.InvariantCulture)))).ToArray(),
            File.ReadAllLines(samples), "Sample(count, seed) in a new process");

        // The conditional GAN (projection discriminator) and flow, the same way.
        var cgan = ml.Generative().GenerativeAdversarialNetwork(Gan("Class", epochs: 2)).Fit(ml.Data.LoadFromEnumerable(rows));
        var flowOptions = new Microsoft.ML.Generative.Flows.NormalizingFlowOptions { ConditionColumnName = "Class", NumberOfLayers = 2, HiddenLayerSizes = new[] { 16 }, NumberOfEpochs = 2 };
        var cflow = ml.Generative().NormalizingFlow(flowOptions).Fit(ml.Data.LoadFromEnumerable(rows));
        foreach (var (model, column) in new (GenerativeTransformerBase, string)[] { (cgan, "DiscriminatorScore"), (cflow, "LogLikelihood") })
        {
            ml.Model.Save(model, ml.Data.LoadFromEnumerable(rows).Schema, zip);
            ModelFiles.RunLoader(loader, zip, input, output, column, "key:Class:3");
            ModelFiles.RunLoader(loader, zip, input, samples, "@Sample:25:7:3", "key:Class:3");
            var expectedScores = model.Transform(ml.Data.LoadFromEnumerable(test)).GetColumn<float>(column)
                .Select(v => v.ToString("R", CultureInfo.InvariantCulture));
            CollectionAssert.AreEqual(expectedScores.ToArray(), File.ReadAllLines(output), column);
            var drawn = model is GenerativeAdversarialNetworkTransformer g ? g.Sample(25, 3u, seed: 7) : ((Microsoft.ML.Generative.Flows.NormalizingFlowTransformer)model).Sample(25, 3u, seed: 7);
            CollectionAssert.AreEqual(Features(drawn).Select(r => string.Join(" ", r.Select(v => v.ToString("R", CultureInfo.InvariantCulture)))).ToArray(),
                File.ReadAllLines(samples), column);
        }
    }
}
