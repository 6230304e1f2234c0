using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Flows;
using Microsoft.ML.Generative.Gan;
using Microsoft.ML.Generative.Scoring;
using Microsoft.ML.Generative.Vae;
using Microsoft.ML.Runtime;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Generative.Tests.Conditional;

/// <summary>
/// <c>Sample(count, seed)</c> of conditional models (each row's key condition drawn at its training frequency), the
/// condition column in <c>Sample</c>'s output, and key values the training rows never have.
/// </summary>
[TestClass]
public sealed class ConditionalSampleTests
{
    // Unbalanced classes: 200 Adelie, 100 Chinstrap, 40 Gentoo (frequencies 0.588, 0.294, 0.118).
    private static ClassRow[] Unbalanced()
    {
        var rows = ConditionalTestData.Classes(600);
        return rows.Where(r => r.Class == 0).Take(200).Concat(rows.Where(r => r.Class == 1).Take(100)).Concat(rows.Where(r => r.Class == 2).Take(40)).ToArray();
    }

    [TestMethod]
    public void SampleWithoutAConditionDrawsEachRowsClassAtItsTrainingFrequencyAndReturnsTheConditionColumn()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Unbalanced());
        var toKey = ml.Transforms.Conversion.MapValueToKey("SpeciesKey", "Species");
        var vae = toKey.Append(ml.Generative().VariationalAutoencoder(ConditionalTests.Vae("SpeciesKey"))).Fit(data).LastTransformer;
        CollectionAssert.AreEqual(new long[] { 200, 100, 40 }, vae.ConditionCounts!.ToArray(), "counts of the training rows");

        const int n = 3000;
        var sample = vae.Sample(n, seed: 11);
        // The condition column as in training: the same name, a key of 3 values with the same key values.
        var column = sample.Schema["SpeciesKey"];
        Assert.AreEqual(new KeyDataViewType(typeof(uint), 3), column.Type);
        VBuffer<ReadOnlyMemory<char>> names = default;
        column.GetKeyValues(ref names);
        CollectionAssert.AreEqual(new[] { "Adelie", "Chinstrap", "Gentoo" }, names.DenseValues().Select(v => v.ToString()).ToArray());
        var keys = sample.GetColumn<uint>("SpeciesKey").ToArray();
        var features = sample.GetColumn<float[]>("Features").ToArray();
        // Frequencies within 4 binomial standard deviations (√(p(1 − p)/n) ≤ 0.009).
        double[] expected = { 200 / 340.0, 100 / 340.0, 40 / 340.0 };
        for (uint k = 1; k <= 3; k++)
        {
            double p = expected[k - 1], observed = keys.Count(v => v == k) / (double)n;
            Assert.AreEqual(p, observed, 4 * Math.Sqrt(p * (1 - p) / n), $"frequency of key {k}");
        }
        // Each row was generated given its own drawn class: class k puts its mass on feature k − 1.
        int agree = keys.Zip(features, (k, f) => Array.IndexOf(f, f.Take(3).Max()) == (int)k - 1 ? 1 : 0).Sum();
        Assert.IsTrue(agree >= 0.9 * n, $"{agree} of {n} rows show their drawn class");
        // Deterministic for a seed; a different seed gives other rows.
        CollectionAssert.AreEqual(keys, vae.Sample(n, seed: 11).GetColumn<uint>("SpeciesKey").ToArray());
        CollectionAssert.AreNotEqual(keys, vae.Sample(n, seed: 12).GetColumn<uint>("SpeciesKey").ToArray());

        // The rows go straight into a pipeline that expects both columns: the model's own scoring, and back to text.
        var scores = vae.Transform(sample).GetColumn<float>("Score").ToArray();
        Assert.IsTrue(scores.All(float.IsFinite), "scores of sampled rows");
        var species = ml.Transforms.Conversion.MapKeyToValue("Species", "SpeciesKey").Fit(sample).Transform(sample).GetColumn<string>("Species").ToArray();
        Assert.AreEqual("Gentoo", species[Array.IndexOf(keys, 3u)]);
        // A given condition fills the condition column with it.
        CollectionAssert.AreEqual(Enumerable.Repeat(2u, 20).ToArray(), vae.Sample(20, "Chinstrap", seed: 3).GetColumn<uint>("SpeciesKey").ToArray());
    }

    [TestMethod]
    public void GanAndFlowDrawConditionsTooAndKeepThemThroughSaveAndLoad()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Unbalanced());
        var gan = ml.Generative().GenerativeAdversarialNetwork(ConditionalTests.Gan("Class", epochs: 3)).Fit(data);
        var flow = ml.Generative().NormalizingFlow(new NormalizingFlowOptions
        {
            ConditionColumnName = "Class", NumberOfLayers = 2, HiddenLayerSizes = new[] { 16 }, NumberOfEpochs = 2,
        }).Fit(data);
        foreach (GenerativeTransformerBase model in new GenerativeTransformerBase[] { gan, flow })
        {
            string name = model.GetType().Name;
            CollectionAssert.AreEqual(new long[] { 200, 100, 40 }, model.ConditionCounts!.ToArray(), name);
            IDataView Draw(GenerativeTransformerBase m, int count, int seed) => m switch
            {
                GenerativeAdversarialNetworkTransformer g => g.Sample(count, seed),
                NormalizingFlowTransformer f => f.Sample(count, seed),
                _ => throw new InvalidOperationException(),
            };
            var sample = Draw(model, 2000, 5);
            // A key without key values: raw keys 1 … 3, the same key type.
            Assert.AreEqual(new KeyDataViewType(typeof(uint), 3), sample.Schema["Class"].Type, name);
            var keys = sample.GetColumn<uint>("Class").ToArray();
            Assert.AreEqual(2000 * 40 / 340.0, keys.Count(k => k == 3), 4 * Math.Sqrt(2000 * 0.118 * 0.882), $"{name}: Gentoo rows");
            Assert.AreEqual(2000, sample.GetColumn<float[]>("Features").Count(f => f.All(float.IsFinite)), name);
            // Saved and loaded (format 0x00010003): the counts come back and the draw is the same.
            var path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"csample-{Guid.NewGuid():N}.zip");
            ml.Model.Save(model, data.Schema, path);
            var loaded = (GenerativeTransformerBase)new MLContext().Model.Load(path, out _);
            CollectionAssert.AreEqual(model.ConditionCounts!.ToArray(), loaded.ConditionCounts!.ToArray(), name);
            var again = Draw(loaded, 2000, 5);
            CollectionAssert.AreEqual(keys, again.GetColumn<uint>("Class").ToArray(), name);
            CollectionAssert.AreEqual(sample.GetColumn<float[]>("Features").SelectMany(f => f).ToArray(),
                again.GetColumn<float[]>("Features").SelectMany(f => f).ToArray(), name);
            ((IDisposable)loaded).Dispose();
        }
        gan.Dispose();
        flow.Dispose();
    }

    [TestMethod]
    public void AVectorConditionIsNotDrawnAndTheErrorSaysWhatToPass()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(ConditionalTestData.Classes(60));
        var vae = ml.Generative().VariationalAutoencoder(ConditionalTests.Vae("Context", epochs: 1)).Fit(data);
        Assert.IsNull(vae.ConditionCounts);
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => vae.Sample(10, seed: 1));
        StringAssert.Contains(e.Message, "cannot draw vector conditions");
        StringAssert.Contains(e.Message, "Sample(count, new float[2] { ... }, seed)");
        // With the vector given, the output carries it in the condition column.
        var sample = vae.Sample(4, new[] { 1f, 1f / 3 }, seed: 1);
        CollectionAssert.AreEqual(new[] { 1f, 1f / 3 }, sample.GetColumn<float[]>("Context").Last());
        Assert.AreEqual(new VectorDataViewType(NumberDataViewType.Single, 2), sample.Schema["Context"].Type);
    }

    [TestMethod]
    public void KeyValuesNeverSeenInTrainingAreWarnedAboutAtFitAndRefusedAtSample()
    {
        var ml = new MLContext(seed: 1);
        var warnings = new List<string>();
        ml.Log += (_, e) =>
        {
            if (e.Kind == ChannelMessageKind.Warning)
                lock (warnings) warnings.Add(e.Message);
        };
        // A key of 3 values (raw keys 1 … 3) whose training rows have only 1 and 2.
        var rows = ConditionalTestData.Classes(300).Where(r => r.Class < 2).ToArray();
        var vae = ml.Generative().VariationalAutoencoder(ConditionalTests.Vae("Class", epochs: 2)).Fit(ml.Data.LoadFromEnumerable(rows));
        var warning = warnings.SingleOrDefault(w => w.Contains("never occur in the training rows", StringComparison.Ordinal));
        Assert.IsNotNull(warning, "warnings: " + string.Join(" | ", warnings));
        StringAssert.Contains(warning, "Condition column 'Class': 1 of its 3 key values never occur in the training rows (raw key 3)");
        CollectionAssert.AreEqual(new long[] { 100, 100, 0 }, vae.ConditionCounts!.ToArray());

        var e = Assert.Throws<ArgumentException>(() => vae.Sample(10, 3u, seed: 1));
        StringAssert.Contains(e.Message, "Condition value raw key 3 of column 'Class' never occurred in the training rows");
        StringAssert.Contains(e.Message, "raw key 1, raw key 2");
        Assert.Throws<ArgumentException>(() => vae.Decode(new[] { new float[2] }, 3u));
        Assert.IsFalse(vae.Sample(1000, seed: 2).GetColumn<uint>("Class").Contains(3u), "Sample(count, seed) drew an unseen value");
        Assert.AreEqual(10, vae.Sample(10, 2u, seed: 1).GetColumn<uint>("Class").Count());

        // Every value seen: no such warning.
        warnings.Clear();
        ml.Generative().VariationalAutoencoder(ConditionalTests.Vae("Class", epochs: 1)).Fit(ml.Data.LoadFromEnumerable(ConditionalTestData.Classes(30))).Dispose();
        Assert.IsFalse(warnings.Any(w => w.Contains("never occur", StringComparison.Ordinal)), string.Join(" | ", warnings));
    }
}
