using System;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Reflection;
using System.Threading.Tasks;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Autoregressive;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Generative.Tests.Autoregressive;

[TestClass]
public sealed class AutoregressiveSaveLoadTests
{
    public TestContext TestContext { get; set; } = null!;

    private string TempFile(string name) => Path.Combine(Path.GetTempPath(), $"{TestContext.TestName}-{Guid.NewGuid():N}-{name}");

    private static readonly string[] Probe = { "", "ma", "marianna", "jonelika", "maQ", "marianajoselikatorane" };

    private static IDataView ProbeData(MLContext ml) => ml.Data.LoadFromEnumerable(Probe.Select(t => new TextRow { Text = t }));

    [TestMethod]
    [DataRow(SequenceArchitecture.Transformer, true)]
    [DataRow(SequenceArchitecture.Lstm, false)]
    public void SavedModelLoadsWithIdenticalScoresAndGenerations(SequenceArchitecture architecture, bool tie)
    {
        var options = AutoregressiveTests.Small(architecture);
        options.TieWeights = tie;
        var model = AutoregressiveTests.Train(options, SequenceTestData.Names(200), out var data, out var ml);
        string path = TempFile("model.zip");
        ml.Model.Save(model, data.Schema, path);
        var fresh = new MLContext(seed: 99);
        var loaded = (AutoregressiveModelTransformer)fresh.Model.Load(path, out _);
        foreach (var column in new[] { "LogLikelihood", "TokenCount", "Perplexity" })
        {
            CollectionAssert.AreEqual(model.Transform(ProbeData(ml)).GetColumn<float>(column).ToArray(),
                loaded.Transform(ProbeData(fresh)).GetColumn<float>(column).ToArray(), column);
        }
        CollectionAssert.AreEqual(model.GenerateText(8, "ma", seed: 4), loaded.GenerateText(8, "ma", seed: 4));
        CollectionAssert.AreEqual(model.Tokens.ToArray(), loaded.Tokens.ToArray());
        Assert.AreEqual(model.TrainingHistory[^1].TrainingLosses["Nll"], loaded.TrainingHistory[^1].TrainingLosses["Nll"]);
    }

    [TestMethod]
    public void PredictionEngineMatchesTransformAndIsThreadSafe()
    {
        var model = AutoregressiveTests.Train(AutoregressiveTests.Small(SequenceArchitecture.Transformer), SequenceTestData.Names(200), out _, out var ml);
        var batch = model.Transform(ProbeData(ml)).GetColumn<float>("LogLikelihood").ToArray();
        var results = new float[4][];
        Parallel.For(0, 4, k =>
        {
            // One engine per thread (PredictionEngine itself is not thread-safe); the model is shared.
            var engine = ml.Model.CreatePredictionEngine<TextRow, SequenceScore>(model);
            results[k] = Probe.Select(t => engine.Predict(new TextRow { Text = t }).LogLikelihood).ToArray();
        });
        foreach (var r in results)
        {
            for (int i = 0; i < Probe.Length; i++)
                Assert.AreEqual(batch[i], r[i], 1e-4 * Math.Max(1, Math.Abs(batch[i])), Probe[i]);
        }
    }

    [TestMethod]
    public void ModelLoadsInANewProcessWithIdenticalOutputs()
    {
        var model = AutoregressiveTests.Train(AutoregressiveTests.Small(SequenceArchitecture.Transformer), SequenceTestData.Names(200), out var data, out var ml);
        string zip = TempFile("model.zip"), input = TempFile("input.txt"), output = TempFile("output.txt");
        ml.Model.Save(model, data.Schema, zip);
        File.WriteAllLines(input, Probe);
        string loader = typeof(AutoregressiveSaveLoadTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "ModelLoaderPath").Value!;
        ModelFiles.RunLoader(loader, zip, input, output, "text");

        var scored = model.Transform(ProbeData(ml));
        var ll = scored.GetColumn<float>("LogLikelihood").ToArray();
        var tc = scored.GetColumn<float>("TokenCount").ToArray();
        var ppl = scored.GetColumn<float>("Perplexity").ToArray();
        var expected = ll.Select((v, i) => string.Join(" ", new[] { v, tc[i], ppl[i] }.Select(x => x.ToString("R", CultureInfo.InvariantCulture))));
        CollectionAssert.AreEqual(expected.ToArray(), File.ReadAllLines(output));
    }

    [TestMethod]
    public void DamagedModelGivesAClearInvalidDataException()
    {
        var model = AutoregressiveTests.Train(AutoregressiveTests.Small(SequenceArchitecture.Gru, 1), SequenceTestData.Names(64), out var data, out var ml);
        string path = TempFile("model.zip");
        ml.Model.Save(model, data.Schema, path);
        ModelFiles.DamageWeights(path);
        var e = Assert.Throws<Exception>(() => new MLContext().Model.Load(path, out _));
        while (e is TargetInvocationException && e.InnerException is not null)
            e = e.InnerException;
        Assert.IsInstanceOfType<InvalidDataException>(e, e.ToString());
        StringAssert.Contains(e.Message, "checksum");
    }
}
