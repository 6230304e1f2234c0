using System;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Vae;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Generative.Tests;

[TestClass]
public sealed class SaveLoadTests
{
    public TestContext TestContext { get; set; } = null!;

    private static (ITransformer Model, IDataView Data, MLContext Ml) TrainChain()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(TestData.Correlated(200));
        var pipeline = ml.Transforms.Concatenate("Features", "A", "B", "C", "D")
            .Append(ml.Transforms.NormalizeMeanVariance("Features"))
            .Append(ml.Generative().VariationalAutoencoder(new VariationalAutoencoderOptions
            {
                LatentDimension = 2,
                HiddenLayerSizes = new[] { 16, 8 },
                Activation = VaeActivation.Silu,
                Likelihood = VaeLikelihood.GaussianLearnedVariance,
                NumberOfEpochs = 3,
                BatchSize = 32,
                ValidationFraction = 0.2,
            }));
        return (pipeline.Fit(data), data, ml);
    }

    private string TempFile(string name) => Path.Combine(Path.GetTempPath(), $"{TestContext.TestName}-{Guid.NewGuid():N}-{name}");

    [TestMethod]
    public void ChainRoundTripsThroughModelZipWithIdenticalOutputs()
    {
        var (model, data, ml) = TrainChain();
        string path = TempFile("model.zip");
        ml.Model.Save(model, data.Schema, path);

        var fresh = new MLContext(seed: 99);
        var loaded = fresh.Model.Load(path, out var inputSchema);
        Assert.AreEqual(data.Schema.Count, inputSchema.Count);
        var before = model.Transform(data);
        var after = loaded.Transform(fresh.Data.LoadFromEnumerable(TestData.Correlated(200)));
        CollectionAssert.AreEqual(before.GetColumn<float>("Score").ToArray(), after.GetColumn<float>("Score").ToArray());
        var latentBefore = before.GetColumn<float[]>("Latent").ToArray();
        var latentAfter = after.GetColumn<float[]>("Latent").ToArray();
        var reconBefore = before.GetColumn<float[]>("Reconstruction").ToArray();
        var reconAfter = after.GetColumn<float[]>("Reconstruction").ToArray();
        for (int i = 0; i < latentBefore.Length; i++)
        {
            CollectionAssert.AreEqual(latentBefore[i], latentAfter[i]);
            CollectionAssert.AreEqual(reconBefore[i], reconAfter[i]);
        }

        var vae = (VariationalAutoencoderTransformer)((TransformerChain<ITransformer>)loaded).LastTransformer;
        var original = ((TransformerChain<VariationalAutoencoderTransformer>)model).LastTransformer;
        Assert.AreEqual(VaeLikelihood.GaussianLearnedVariance, vae.Likelihood);
        CollectionAssert.AreEqual(new[] { 16, 8 }, vae.HiddenLayerSizes.ToArray());
        Assert.HasCount(3, vae.TrainingHistory);
        Assert.AreEqual(original.TrainingHistory[2].ValidationLoss, vae.TrainingHistory[2].ValidationLoss);
        CollectionAssert.AreEqual(original.Sample(5, seed: 1).GetColumn<float[]>("Features").SelectMany(r => r).ToArray(),
            vae.Sample(5, seed: 1).GetColumn<float[]>("Features").SelectMany(r => r).ToArray());

        // A PredictionEngine over the loaded chain works too.
        var engine = fresh.Model.CreatePredictionEngine<RawRow, ScoreOnly>(loaded);
        var first = TestData.Correlated(1)[0];
        Assert.AreEqual(before.GetColumn<float>("Score").First(), engine.Predict(first).Score, 1e-3);
    }

    [TestMethod]
    public void ModelLoadsInANewProcessWithIdenticalOutputs()
    {
        var ml = new MLContext(seed: 1);
        var rows = TestData.BinaryPrototypes(50);
        var data = ml.Data.LoadFromEnumerable(rows);
        var model = ml.Generative().VariationalAutoencoder(new VariationalAutoencoderOptions
        {
            LatentDimension = 3, HiddenLayerSizes = new[] { 12 }, NumberOfEpochs = 2, BatchSize = 16,
        }).Fit(data);
        string zip = TempFile("model.zip"), input = TempFile("input.txt"), output = TempFile("output.txt");
        ml.Model.Save(model, data.Schema, zip);
        File.WriteAllLines(input, rows.Select(r => string.Join(" ", r.Features.Select(v => v.ToString("R", CultureInfo.InvariantCulture)))));

        string loader = typeof(SaveLoadTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "ModelLoaderPath").Value!;
        Assert.IsTrue(File.Exists(loader), loader);
        ModelFiles.RunLoader(loader, zip, input, output);

        var scored = model.Transform(data);
        var expected = scored.GetColumn<float>("Score").Zip(scored.GetColumn<float[]>("Latent"),
            (s, l) => string.Join(" ", new[] { s }.Concat(l).Select(v => v.ToString("R", CultureInfo.InvariantCulture))));
        CollectionAssert.AreEqual(expected.ToArray(), File.ReadAllLines(output));
    }

    [TestMethod]
    public void DamagedWeightsGiveAClearInvalidDataException()
    {
        var (model, data, ml) = TrainChain();
        string path = TempFile("model.zip");
        ml.Model.Save(model, data.Schema, path);
        ModelFiles.DamageWeights(path);
        // ML.NET's own Load creates components through reflection: the message is inside TargetInvocationExceptions.
        var e = Assert.Throws<Exception>(() => new MLContext().Model.Load(path, out _));
        var inner = Unwrap(e);
        Assert.IsInstanceOfType<InvalidDataException>(inner, e.ToString());
        StringAssert.Contains(inner.Message, "checksum");
        // The library's LoadModel throws the exception the user catches, with the clear message at the top.
        var direct = Assert.ThrowsExactly<InvalidDataException>(() => new MLContext().Generative().LoadModel(path, out _));
        StringAssert.Contains(direct.Message, "checksum");
        StringAssert.Contains(direct.Message, "variational autoencoder");
    }

    [TestMethod]
    public void LoadModelLoadsWhatModelLoadLoads()
    {
        var (model, data, ml) = TrainChain();
        string path = TempFile("model.zip");
        ml.Model.Save(model, data.Schema, path);
        var loaded = new MLContext().Generative().LoadModel(path, out var schema);
        Assert.IsNotNull(schema);
        var expected = model.Transform(data).GetColumn<float>("Score").ToArray();
        var actual = loaded.Transform(data).GetColumn<float>("Score").ToArray();
        CollectionAssert.AreEqual(expected, actual);
        Assert.ThrowsExactly<FileNotFoundException>(() => new MLContext().Generative().LoadModel(TempFile("missing.zip"), out _));
    }

    [TestMethod]
    public void TruncatedFileGivesAClearError()
    {
        var (model, data, ml) = TrainChain();
        string path = TempFile("model.zip");
        ml.Model.Save(model, data.Schema, path);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        // ML.NET itself opens the zip: it reports a FormatException whose inner exception says what is wrong.
        var e = Assert.Throws<Exception>(() => new MLContext().Model.Load(path, out _));
        Assert.IsInstanceOfType<FormatException>(e, e.ToString());
        StringAssert.Contains(e.Message, "zip");
        Assert.IsInstanceOfType<InvalidDataException>(e.InnerException, e.ToString());
    }

    private static Exception Unwrap(Exception e)
    {
        while (e is TargetInvocationException && e.InnerException is not null)
            e = e.InnerException;
        return e;
    }

    public sealed class ScoreOnly
    {
        public float Score { get; set; }
    }
}
