using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Tabular;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;

namespace Microsoft.ML.Generative.Tests.Tabular;

[TestClass]
public sealed class TabularSynthesizerTests
{
    private static string TempFile(string name) => Path.Combine(Path.GetTempPath(), $"tabular-{Guid.NewGuid():N}-{name}");

    /// <summary>The mixed table plus a key column (with key texts) made by MapValueToKey.</summary>
    private static IDataView MixedWithKey(MLContext ml, int rows, int seed = 0)
    {
        var data = ml.Data.LoadFromEnumerable(TabularTestData.Mixed(rows, seed));
        return ml.Transforms.Conversion.MapValueToKey("ColorKey", "Color").Fit(data).Transform(data);
    }

    [TestMethod]
    public void SampleHasTheTrainingSchemaNamesTypesAndKeyCardinalities()
    {
        var ml = new MLContext(seed: 1);
        var data = MixedWithKey(ml, 300);
        using var model = ml.Generative().TabularSynthesizer(TabularTestData.Small(5)).Fit(data);
        var sample = model.Sample(50, seed: 3);

        Assert.AreEqual(data.Schema.Count, sample.Schema.Count);
        for (int i = 0; i < data.Schema.Count; i++)
        {
            Assert.AreEqual(data.Schema[i].Name, sample.Schema[i].Name);
            Assert.AreEqual(data.Schema[i].Type, sample.Schema[i].Type, data.Schema[i].Name);
        }
        var keyType = (KeyDataViewType)sample.Schema["ColorKey"].Type;
        Assert.AreEqual(3UL, keyType.Count);
        VBuffer<ReadOnlyMemory<char>> trained = default, sampled = default;
        data.Schema["ColorKey"].GetKeyValues(ref trained);
        sample.Schema["ColorKey"].GetKeyValues(ref sampled);
        CollectionAssert.AreEqual(trained.DenseValues().Select(v => v.ToString()).ToArray(), sampled.DenseValues().Select(v => v.ToString()).ToArray());
        Assert.AreEqual(50, sample.GetColumn<float>("Real").Count());

        // A subset of the columns, by name, in the order given.
        using var subset = ml.Generative().TabularSynthesizer(new TabularSynthesizerOptions
        { Columns = new[] { "Color", "Real" }, NumberOfEpochs = 2, MinimumTrainingSteps = 0, HiddenLayerSizes = new[] { 16 }, LatentDimension = 4 }).Fit(data);
        CollectionAssert.AreEqual(new[] { "Color", "Real" }, subset.Sample(5, seed: 1).Schema.Select(c => c.Name).ToArray());
    }

    [TestMethod]
    public void IntegerColumnsStayIntegralAndNumbersStayInTheObservedRange()
    {
        var ml = new MLContext(seed: 1);
        var penguins = TabularTestData.Penguins(ml);
        using var model = ml.Generative().TabularSynthesizer(TabularTestData.Small(20)).Fit(penguins);
        var sample = model.Sample(1000, seed: 5);
        // BodyMass and FlipperLength are Single columns whose training values are all whole numbers.
        foreach (var name in new[] { "BodyMass", "FlipperLength" })
        {
            var values = sample.GetColumn<float>(name).Where(v => !float.IsNaN(v)).ToArray();
            Assert.IsTrue(values.All(v => v == MathF.Round(v)), $"{name} has a fraction");
            var real = penguins.GetColumn<float>(name).Where(v => !float.IsNaN(v)).ToArray();
            Assert.IsTrue(values.Min() >= real.Min() && values.Max() <= real.Max(), $"{name} left [{real.Min()}, {real.Max()}]");
        }
        // BeakLength has one decimal in the data: the samples keep one decimal (learned rounding), not whole numbers.
        var beak = sample.GetColumn<float>("BeakLength").Where(v => !float.IsNaN(v)).ToArray();
        Assert.IsFalse(beak.All(v => v == MathF.Round(v)), "BeakLength was rounded to whole numbers");
        Assert.IsTrue(beak.All(v => v == (float)Math.Round(v, 1)), "BeakLength has more than one decimal");

        var mixed = ml.Data.LoadFromEnumerable(TabularTestData.Mixed(300));
        using var mixedModel = ml.Generative().TabularSynthesizer(TabularTestData.Small(5)).Fit(mixed);
        var counts = mixedModel.Sample(500, seed: 1).GetColumn<int>("Count").ToArray();
        Assert.IsTrue(counts.All(c => c >= 0 && c <= 20), "Int32 column left the training range");
        var small = mixedModel.Sample(500, seed: 1).GetColumn<byte>("Small").ToArray();
        Assert.IsTrue(small.All(c => c >= 3 && c <= 8), "Byte column left the training range");
    }

    [TestMethod]
    public void MissingValuesComeBackAtTheirObservedRate()
    {
        var ml = new MLContext(seed: 1);
        var random = new Random(4);
        // 30% missing, and missing only where C = "b": the indicator is learned together with the other columns.
        var rows = Enumerable.Range(0, 600).Select(i =>
        {
            bool b = random.NextDouble() < 0.5;
            return new NumberRow { C = b ? "b" : "a", X = b && random.NextDouble() < 0.6 ? float.NaN : (float)(10 + TabularTestData.Gauss(random)) };
        }).ToArray();
        double observed = rows.Count(r => float.IsNaN(r.X)) / (double)rows.Length;
        var data = ml.Data.LoadFromEnumerable(rows);
        using var model = ml.Generative().TabularSynthesizer(TabularTestData.Small(200)).Fit(data);
        var x = model.Sample(3000, seed: 2).GetColumn<float>("X").ToArray();
        double rate = x.Count(float.IsNaN) / (double)x.Length;
        Assert.AreEqual(observed, rate, 0.05, $"missing rate {rate:F3} vs {observed:F3} in training");

        var conditioned = model.Sample(500, new Dictionary<string, object> { ["C"] = "a" }, seed: 2).GetColumn<float>("X").ToArray();
        Assert.IsTrue(conditioned.Count(float.IsNaN) < 25, $"{conditioned.Count(float.IsNaN)} of 500 rows with C = a are missing; training had none");
    }

    [TestMethod]
    public void CategoriesComeOnlyFromTheTrainingSet()
    {
        var ml = new MLContext(seed: 1);
        var penguins = TabularTestData.Penguins(ml);
        using var model = ml.Generative().TabularSynthesizer(TabularTestData.Small(5)).Fit(penguins);
        var sample = model.Sample(2000, seed: 9);
        foreach (var name in new[] { "Species", "Island", "Sex" })
        {
            var known = penguins.GetColumn<ReadOnlyMemory<char>>(name).Select(v => v.ToString()).ToHashSet();
            var seen = sample.GetColumn<ReadOnlyMemory<char>>(name).Select(v => v.ToString()).ToHashSet();
            Assert.IsTrue(seen.IsSubsetOf(known), $"{name}: {string.Join(", ", seen.Except(known))} never occurred in training");
        }
        CollectionAssert.AreEquivalent(new[] { "Adelie", "Chinstrap", "Gentoo" }, model.Categories["Species"].ToArray());
        // The empty Sex of 10 penguins is a category of its own.
        CollectionAssert.Contains(model.Categories["Sex"].ToArray(), "");

        var keyed = MixedWithKey(ml, 200);
        using var keyModel = ml.Generative().TabularSynthesizer(TabularTestData.Small(3)).Fit(keyed);
        var keys = keyModel.Sample(500, seed: 1).GetColumn<uint>("ColorKey").ToArray();
        Assert.IsTrue(keys.All(k => k >= 1 && k <= 3), "a key outside the training keys");
    }

    [TestMethod]
    public void ConditionalSamplingReturnsOnlyTheAskedValues()
    {
        var ml = new MLContext(seed: 1);
        var penguins = TabularTestData.Penguins(ml);
        using var model = ml.Generative().TabularSynthesizer(TabularTestData.Small(100)).Fit(penguins);
        var gentoo = model.Sample(200, new Dictionary<string, object> { ["Species"] = "Gentoo" }, seed: 7);
        var species = gentoo.GetColumn<ReadOnlyMemory<char>>("Species").Select(v => v.ToString()).ToArray();
        Assert.AreEqual(200, species.Length);
        Assert.IsTrue(species.All(s => s == "Gentoo"));
        // Gentoo penguins are heavy in the data (mean ≈ 5,076 g vs 3,700 g for Adelie): the rows are not merely relabelled.
        double mass = gentoo.GetColumn<float>("BodyMass").Where(v => !float.IsNaN(v)).Average();
        Assert.IsTrue(mass > 4500, $"mean body mass of conditioned Gentoo rows {mass:F0} g");

        var two = model.Sample(100, new Dictionary<string, object> { ["Species"] = "Adelie", ["Sex"] = "FEMALE" }, seed: 1);
        Assert.IsTrue(two.GetColumn<ReadOnlyMemory<char>>("Species").All(v => v.ToString() == "Adelie"));
        Assert.IsTrue(two.GetColumn<ReadOnlyMemory<char>>("Sex").All(v => v.ToString() == "FEMALE"));

        // Booleans and keys, by value and by key text.
        var keyed = MixedWithKey(ml, 300);
        using var keyModel = ml.Generative().TabularSynthesizer(TabularTestData.Small(5)).Fit(keyed);
        Assert.IsTrue(keyModel.Sample(50, new Dictionary<string, object> { ["Flag"] = true }, seed: 1).GetColumn<bool>("Flag").All(f => f));
        Assert.IsTrue(keyModel.Sample(50, new Dictionary<string, object> { ["ColorKey"] = "blue" }, seed: 1).GetColumn<uint>("ColorKey")
            .All(k => k == keyModel.Categories["ColorKey"].ToList().IndexOf("blue") + 1));
    }

    [TestMethod]
    public void ABimodalColumnGetsTwoModesAndAUnimodalOneGetsOne()
    {
        var random = new Random(2);
        var bimodal = Enumerable.Range(0, 2000).Select(i => (i % 2 == 0 ? -5.0 : 5.0) + 0.5 * TabularTestData.Gauss(random)).ToArray();
        var mixture = GaussianMixture.Fit(bimodal, maxModes: 10, weightThreshold: 0.005);
        Assert.AreEqual(2, mixture.Count, $"means {string.Join(", ", mixture.Means)}");
        Assert.AreEqual(-5, mixture.Means[0], 0.1);
        Assert.AreEqual(5, mixture.Means[1], 0.1);
        Assert.AreEqual(0.5, mixture.StandardDeviations[0], 0.05);
        Assert.AreEqual(0.5, mixture.Weights[0], 0.03);

        var unimodal = Enumerable.Range(0, 2000).Select(_ => 3 + 2 * TabularTestData.Gauss(random)).ToArray();
        Assert.AreEqual(1, GaussianMixture.Fit(unimodal, 10, 0.005).Count);
        var constant = GaussianMixture.Fit(Enumerable.Repeat(4.0, 50).ToArray(), 10, 0.005);
        Assert.AreEqual(1, constant.Count);
        Assert.AreEqual(4.0, constant.Means[0]);
        Assert.IsTrue(constant.StandardDeviations[0] > 0);

        // Through the synthesizer: the bimodal column of the mixed table, and the samples keep both modes.
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(TabularTestData.Mixed(600));
        using var model = ml.Generative().TabularSynthesizer(TabularTestData.Small(40)).Fit(data);
        Assert.AreEqual(2, model.ModeCounts["Real"]);
        var real = model.Sample(2000, seed: 1).GetColumn<float>("Real").ToArray();
        double low = real.Count(v => v < 0) / (double)real.Length;
        Assert.AreEqual(0.5, low, 0.1, "share of the low mode");
        Assert.IsTrue(real.Count(v => Math.Abs(v) < 2) < 0.05 * real.Length, "mass between the modes");
    }

    [TestMethod]
    public void SameSeedSameModelAndSameRows()
    {
        string Run(int sampleSeed)
        {
            var ml = new MLContext(seed: 11);
            using var model = ml.Generative().TabularSynthesizer(TabularTestData.Small(5)).Fit(TabularTestData.Penguins(ml));
            return TabularTestData.AsText(ml, model.Sample(100, seed: sampleSeed));
        }
        string a = Run(3), b = Run(3);
        Assert.AreEqual(a, b);
        Assert.AreNotEqual(a, Run(4));
    }

    [TestMethod]
    public void SavedSynthesizerLoadsInANewProcessAndSamplesTheSameRows()
    {
        var ml = new MLContext(seed: 1);
        var penguins = TabularTestData.Penguins(ml);
        using var model = ml.Generative().TabularSynthesizer(TabularTestData.Small(5)).Fit(penguins);
        TabularTestData.SaveAndReloadAreIdentical(ml, model, penguins);
    }

    [TestMethod]
    public void FitAndSampleLeaveNoLiveTensors()
    {
        var ml = new MLContext(seed: 1);
        var data = MixedWithKey(ml, 200);
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        var model = ml.Generative().TabularSynthesizer(TabularTestData.Small(3)).Fit(data);
        long weights = Network(model).state_dict().Count;
        long afterFit = DisposeScopeManager.Statistics.ThreadTotalLiveCount - before - weights;
        model.Sample(300, seed: 1).GetColumn<float>("Real").Count();
        model.Sample(30, new Dictionary<string, object> { ["Color"] = "red" }, seed: 1).GetColumn<float>("Real").Count();
        long afterSampling = DisposeScopeManager.Statistics.ThreadTotalLiveCount - before - weights;
        Assert.AreEqual(0, afterFit, "tensors left by Fit beyond the model's weights");
        Assert.AreEqual(0, afterSampling, "tensors left by sampling");
        model.Dispose();
    }

    private static Microsoft.ML.Generative.Vae.VaeNetwork Network(TabularSynthesizerTransformer model) => model.Network;

    [TestMethod]
    public void TvaeLikelihoodMatchesAnIndependentComputation()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(TabularTestData.Mixed(100));
        using var model = ml.Generative().TabularSynthesizer(TabularTestData.Small(1)).Fit(data);
        var encoder = model.Encoder;
        int d = encoder.Dimension;
        var random = new Random(3);
        var decoded = Enumerable.Range(0, 2 * d).Select(_ => (float)TabularTestData.Gauss(random)).ToArray();
        var x = new float[2 * d];
        // Valid targets: a scalar in (−1, 1) and one class per group.
        foreach (var span in encoder.Spans)
            for (int r = 0; r < 2; r++)
            {
                if (span.IsCategorical)
                    x[r * d + span.Offset + random.Next(span.Width)] = 1;
                else
                    x[r * d + span.Offset] = (float)(random.NextDouble() * 1.8 - 0.9);
            }
        var network = Network(model);
        double[] expected = new double[2];
        var logVar = network.OutputLogVar!.data<float>().ToArray();
        for (int r = 0; r < 2; r++)
            foreach (var span in encoder.Spans)
            {
                if (!span.IsCategorical)
                {
                    double lv = Math.Max(logVar[span.Offset], Math.Log(1e-4));
                    double diff = x[r * d + span.Offset] - decoded[r * d + span.Offset];
                    expected[r] += 0.5 * (Math.Log(2 * Math.PI) + lv + diff * diff / Math.Exp(lv));
                    continue;
                }
                var logits = Enumerable.Range(span.Offset, span.Width).Select(i => (double)decoded[r * d + i]).ToArray();
                double max = logits.Max(), lse = max + Math.Log(logits.Sum(l => Math.Exp(l - max)));
                int hot = Enumerable.Range(0, span.Width).Single(i => x[r * d + span.Offset + i] == 1);
                expected[r] += lse - logits[hot];
            }
        using var likelihood = new TvaeLikelihood(encoder);
        using var decodedTensor = torch.tensor(decoded).view(2, d);
        using var xTensor = torch.tensor(x).view(2, d);
        using var nll = likelihood.Nll(network, decodedTensor, xTensor);
        var actual = nll.data<float>().ToArray();
        for (int r = 0; r < 2; r++)
            Assert.AreEqual(expected[r], actual[r], 1e-4 * Math.Max(1, Math.Abs(expected[r])));
    }

    [TestMethod]
    public void AWideTableOfManyCategoricalColumnsTrainsToFiniteLossesAndValidRows()
    {
        // 40 discrete columns plus 5 continuous ones (the synthcity/tab-ddpm failure: NaN with many categorical columns).
        var ml = new MLContext(seed: 1);
        var random = new Random(1);
        var lines = Enumerable.Range(0, 300).Select(_ => string.Join(",",
            Enumerable.Range(0, 40).Select(c => $"v{random.Next(2 + c % 7)}")
                .Concat(Enumerable.Range(0, 5).Select(c => (c * 100 + TabularTestData.Gauss(random)).ToString("R", CultureInfo.InvariantCulture)))));
        string csv = TempFile("wide.csv");
        File.WriteAllLines(csv, lines);
        var columns = Enumerable.Range(0, 40).Select(c => new TextLoader.Column($"C{c}", DataKind.String, c))
            .Concat(Enumerable.Range(0, 5).Select(c => new TextLoader.Column($"X{c}", DataKind.Single, 40 + c))).ToArray();
        var data = ml.Data.LoadFromTextFile(csv, columns, separatorChar: ',');
        using var model = ml.Generative().TabularSynthesizer(TabularTestData.Small(10)).Fit(data);
        Assert.IsTrue(model.TrainingHistory.All(e => double.IsFinite(e.TrainingLosses["Loss"])));
        var sample = model.Sample(200, seed: 1);
        for (int c = 0; c < 5; c++)
        {
            var values = sample.GetColumn<float>($"X{c}").ToArray();
            Assert.IsTrue(values.All(float.IsFinite), $"X{c} has a non-finite value");
        }
        File.Delete(csv);
    }
}
