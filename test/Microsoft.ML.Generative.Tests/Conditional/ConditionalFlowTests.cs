using System;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Flows;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;

namespace Microsoft.ML.Generative.Tests.Conditional;

/// <summary>Conditional normalizing flows p(x | c): every architecture, key and vector conditions, one-feature splines.</summary>
[TestClass]
public sealed class ConditionalFlowTests
{
    public TestContext TestContext { get; set; } = null!;

    private sealed class OneFeatureRow
    {
        [VectorType(1)]
        public float[] Features { get; set; } = Array.Empty<float>();

        [KeyType(2)]
        public uint Class { get; set; }
    }

    internal static NormalizingFlowOptions Flow(string condition, FlowArchitecture architecture, int epochs = 30) => new()
    {
        ConditionColumnName = condition,
        Architecture = architecture,
        NumberOfLayers = 4,
        HiddenLayerSizes = new[] { 32 },
        NumberOfEpochs = epochs,
        BatchSize = 32,
        LearningRate = 3e-3,
    };

    private static float[][] Features(IDataView data) => data.GetColumn<float[]>("Features").ToArray();

    [TestMethod]
    [DataRow(FlowArchitecture.RealNvp)]
    [DataRow(FlowArchitecture.MaskedAutoregressive)]
    [DataRow(FlowArchitecture.NeuralSpline)]
    public void EveryArchitectureLearnsTheConditionalDensity(FlowArchitecture architecture)
    {
        var ml = new MLContext(seed: 1);
        var rows = ConditionalTestData.Classes(600);
        var flow = ml.Generative().NormalizingFlow(Flow("Class", architecture)).Fit(ml.Data.LoadFromEnumerable(rows));
        for (uint k = 1; k <= 3; k++)
        {
            var sample = Features(flow.Sample(300, k, seed: (int)k));
            var means = Enumerable.Range(0, 4).Select(j => sample.Average(r => r[j])).ToArray();
            Assert.IsTrue(means[k - 1] > 2.5 && means.Where((m, j) => j != k - 1).All(m => Math.Abs(m) < 0.5),
                $"{architecture}, class {k}: means {string.Join(", ", means.Select(m => m.ToString("F2")))}");
        }
        // log p(x | c) under the row's own class beats a wrong class by a wide margin (the classes are 10σ apart).
        var test = ConditionalTestData.Classes(60, seed: 4);
        var wrong = test.Select(r => new ClassRow { Features = r.Features, Class = (r.Class + 1) % 3, Context = r.Context, Species = r.Species }).ToArray();
        var right = flow.Transform(ml.Data.LoadFromEnumerable(test)).GetColumn<float>("LogLikelihood").ToArray();
        var bad = flow.Transform(ml.Data.LoadFromEnumerable(wrong)).GetColumn<float>("LogLikelihood").ToArray();
        Assert.IsTrue(right.Zip(bad).All(p => p.First > p.Second + 5), $"log p(x|c): true class {right.Average():F2}, wrong class {bad.Average():F2}");
        // The true class's NLL is near the data's entropy: 4 independent N(·, 0.3²) features, 4·(½ log 2πe + log 0.3) ≈ 0.86 nats.
        Assert.IsTrue(-right.Average() < 2.0, $"NLL given the class {-right.Average():F2} nats");
    }

    [TestMethod]
    public void OneFeatureSplineAndVectorConditions()
    {
        var ml = new MLContext(seed: 1);
        // One feature: N(−2, 0.5²) for class 1, N(3, 0.5²) for class 2.
        var random = new Random(0);
        double Gauss() => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
        var rows = Enumerable.Range(0, 400).Select(i => new OneFeatureRow { Class = (uint)(i % 2), Features = new[] { (float)((i % 2 == 0 ? -2 : 3) + 0.5 * Gauss()) } }).ToArray();
        var flow = ml.Generative().NormalizingFlow(Flow("Class", FlowArchitecture.NeuralSpline)).Fit(ml.Data.LoadFromEnumerable(rows));
        double mean1 = Features(flow.Sample(400, 1u, seed: 1)).Average(r => r[0]);
        double mean2 = Features(flow.Sample(400, 2u, seed: 1)).Average(r => r[0]);
        Assert.AreEqual(-2, mean1, 0.3, "one-feature spline, class 1");
        Assert.AreEqual(3, mean2, 0.3, "one-feature spline, class 2");
        // One feature with MAF: the feature is first in every layer's order, so only the condition's own path
        // (not MADE's masked units) can make its shift and scale depend on the class (a review found it ignored).
        var oneMaf = ml.Generative().NormalizingFlow(Flow("Class", FlowArchitecture.MaskedAutoregressive)).Fit(ml.Data.LoadFromEnumerable(rows));
        Assert.AreEqual(-2, Features(oneMaf.Sample(400, 1u, seed: 1)).Average(r => r[0]), 0.3, "one-feature MAF, class 1");
        Assert.AreEqual(3, Features(oneMaf.Sample(400, 2u, seed: 1)).Average(r => r[0]), 0.3, "one-feature MAF, class 2");

        // A vector condition (MAF: the condition inputs connect to every unit).
        var data = ml.Data.LoadFromEnumerable(ConditionalTestData.Classes(600));
        var maf = ml.Generative().NormalizingFlow(Flow("Context", FlowArchitecture.MaskedAutoregressive)).Fit(data);
        var sample = Features(maf.Sample(300, new[] { 1f, 1f / 3 }, seed: 2));   // class 3's context
        Assert.IsTrue(sample.Average(r => r[2]) > 2.5 && Math.Abs(sample.Average(r => r[0])) < 0.5, "MAF given class 3's context");
    }

    [TestMethod]
    public void ConditionalFlowSavesLoadsAndLeavesNoTensors()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(ConditionalTestData.Classes(300));
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        var options = Flow("SpeciesKey", FlowArchitecture.NeuralSpline, epochs: 2);
        options.ValidationFraction = 0.2;
        var chain = ml.Transforms.Conversion.MapValueToKey("SpeciesKey", "Species").Append(ml.Generative().NormalizingFlow(options)).Fit(data);
        var flow = chain.LastTransformer;
        var scores = chain.Transform(data).GetColumn<float>("LogLikelihood").ToArray();
        var sample = Features(flow.Sample(30, "Chinstrap", seed: 3)).SelectMany(r => r).ToArray();
        var drawn = flow.Sample(30, seed: 4);   // each row's class drawn at its training frequency
        var drawnKeys = drawn.GetColumn<uint>("SpeciesKey").ToArray();
        var drawnRows = Features(drawn).SelectMany(r => r).ToArray();
        string path = Path.Combine(Path.GetTempPath(), $"cflow-{Guid.NewGuid():N}.zip");
        ml.Model.Save(chain, data.Schema, path);
        flow.Dispose();
        Assert.AreEqual(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount, "tensors left by Fit, Transform and Sample");
        var loaded = (TransformerChain<ITransformer>)new MLContext().Model.Load(path, out _);
        var flow2 = (NormalizingFlowTransformer)loaded.LastTransformer;
        CollectionAssert.AreEqual(new[] { "Adelie", "Chinstrap", "Gentoo" }, flow2.ConditionValues!.ToArray());
        CollectionAssert.AreEqual(scores, loaded.Transform(data).GetColumn<float>("LogLikelihood").ToArray());
        CollectionAssert.AreEqual(sample, Features(flow2.Sample(30, "Chinstrap", seed: 3)).SelectMany(r => r).ToArray());
        var drawn2 = flow2.Sample(30, seed: 4);
        CollectionAssert.AreEqual(drawnKeys, drawn2.GetColumn<uint>("SpeciesKey").ToArray());
        CollectionAssert.AreEqual(drawnRows, Features(drawn2).SelectMany(r => r).ToArray());

        // Determinism: the same MLContext seed gives the same conditional flow.
        var ml2 = new MLContext(seed: 1);
        var data2 = ml2.Data.LoadFromEnumerable(ConditionalTestData.Classes(300));
        var again = ml2.Transforms.Conversion.MapValueToKey("SpeciesKey", "Species").Append(ml2.Generative().NormalizingFlow(options)).Fit(data2);
        CollectionAssert.AreEqual(sample, Features(again.LastTransformer.Sample(30, "Chinstrap", seed: 3)).SelectMany(r => r).ToArray());
    }
}
