using System;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Flows;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Generative.Tests.Flows;

[TestClass]
public sealed class FlowSaveLoadTests
{
    public TestContext TestContext { get; set; } = null!;

    private string TempFile(string name) => Path.Combine(Path.GetTempPath(), $"{TestContext.TestName}-{Guid.NewGuid():N}-{name}");

    [TestMethod]
    public void PipelineRoundTripsThroughModelZipWithIdenticalOutputs()
    {
        foreach (var architecture in Enum.GetValues<FlowArchitecture>())
        {
            var ml = new MLContext(seed: 1);
            var data = ml.Data.LoadFromEnumerable(FlowTestData.TwoMoons(400));
            var options = FlowTests.Small(architecture, epochs: 2);
            options.ValidationFraction = 0.25;
            var model = ml.Transforms.Concatenate("Features", "X", "Y").Append(ml.Generative().NormalizingFlow(options)).Fit(data);
            string path = TempFile("flow.zip");
            ml.Model.Save(model, data.Schema, path);

            var fresh = new MLContext(seed: 99);
            var loaded = fresh.Model.Load(path, out var schema);
            Assert.AreEqual(data.Schema.Count, schema.Count);
            var before = model.Transform(data);
            var after = loaded.Transform(fresh.Data.LoadFromEnumerable(FlowTestData.TwoMoons(400)));
            foreach (var name in new[] { "LogLikelihood", "Score" })
                CollectionAssert.AreEqual(before.GetColumn<float>(name).ToArray(), after.GetColumn<float>(name).ToArray(), $"{architecture} {name}");
            var za = before.GetColumn<float[]>("Latent").ToArray();
            var zb = after.GetColumn<float[]>("Latent").ToArray();
            for (int i = 0; i < za.Length; i++)
                CollectionAssert.AreEqual(za[i], zb[i]);

            var flow = (NormalizingFlowTransformer)((TransformerChain<ITransformer>)loaded).LastTransformer;
            var original = model.LastTransformer;
            Assert.AreEqual(architecture, flow.Architecture);
            CollectionAssert.AreEqual(original.StandardizationMean.ToArray(), flow.StandardizationMean.ToArray());
            CollectionAssert.AreEqual(original.StandardizationScale.ToArray(), flow.StandardizationScale.ToArray());
            Assert.HasCount(2, flow.TrainingHistory);
            Assert.AreEqual(original.TrainingHistory[1].ValidationLoss, flow.TrainingHistory[1].ValidationLoss);
            CollectionAssert.AreEqual(original.Sample(20, seed: 5).GetColumn<float[]>("Features").SelectMany(r => r).ToArray(),
                flow.Sample(20, seed: 5).GetColumn<float[]>("Features").SelectMany(r => r).ToArray(), architecture.ToString());
            Assert.AreEqual(original.Evaluate(model.Transform(data)).NegativeLogLikelihood, flow.Evaluate(loaded.Transform(data)).NegativeLogLikelihood);
        }
    }

    [TestMethod]
    public void DequantizedLogitModelLoadsInANewProcessWithIdenticalOutputs()
    {
        var ml = new MLContext(seed: 1);
        var rows = FlowTestData.Counts(200);
        var data = ml.Data.LoadFromEnumerable(rows);
        var options = FlowTests.Small(FlowArchitecture.NeuralSpline, epochs: 2);
        options.Dequantize = true;
        options.LogitTransform = true;
        var model = ml.Generative().NormalizingFlow(options).Fit(data);
        string zip = TempFile("flow.zip"), input = TempFile("input.txt"), output = TempFile("output.txt");
        ml.Model.Save(model, data.Schema, zip);
        File.WriteAllLines(input, rows.Select(r => string.Join(" ", r.Features.Select(v => v.ToString("R", CultureInfo.InvariantCulture)))));

        string loader = typeof(FlowSaveLoadTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "ModelLoaderPath").Value!;
        ModelFiles.RunLoader(loader, zip, input, output);

        // The loader writes each row's Score and Latent with round-trip precision: compare bits.
        var scored = model.Transform(data);
        var expected = scored.GetColumn<float>("Score").Zip(scored.GetColumn<float[]>("Latent"),
            (s, l) => string.Join(" ", new[] { s }.Concat(l).Select(v => v.ToString("R", CultureInfo.InvariantCulture))));
        CollectionAssert.AreEqual(expected.ToArray(), File.ReadAllLines(output));
    }

    [TestMethod]
    public void DamagedWeightsGiveAClearInvalidDataException()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(FlowTestData.Moons2(100));
        var model = ml.Generative().NormalizingFlow(FlowTests.Small(FlowArchitecture.MaskedAutoregressive, epochs: 1)).Fit(data);
        string path = TempFile("flow.zip");
        ml.Model.Save(model, data.Schema, path);
        ModelFiles.DamageWeights(path);
        var e = Assert.Throws<Exception>(() => new MLContext().Model.Load(path, out _));
        while (e is TargetInvocationException && e.InnerException is not null)
            e = e.InnerException;
        Assert.IsInstanceOfType<InvalidDataException>(e, e.ToString());
        StringAssert.Contains(e.Message, "normalizing flow");
        StringAssert.Contains(e.Message, "checksum");
    }
}
