using System;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Flows;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Generative.Tests.Flows;

[TestClass]
public sealed class FlowBadInputTests
{
    private static NormalizingFlowOptions Options(Action<NormalizingFlowOptions> change)
    {
        var o = FlowTests.Small(FlowArchitecture.NeuralSpline, epochs: 1);
        change(o);
        return o;
    }

    [TestMethod]
    public void InvalidOptionsNameTheOption()
    {
        var ml = new MLContext(seed: 1);
        var cases = new (Action<NormalizingFlowOptions> Change, string Name)[]
        {
            (o => o.NumberOfLayers = 0, nameof(NormalizingFlowOptions.NumberOfLayers)),
            (o => o.Architecture = (FlowArchitecture)17, nameof(NormalizingFlowOptions.Architecture)),
            (o => o.HiddenLayerSizes = null!, nameof(NormalizingFlowOptions.HiddenLayerSizes)),
            (o => o.HiddenLayerSizes = new[] { 8, 0 }, nameof(NormalizingFlowOptions.HiddenLayerSizes)),
            (o => o.NumberOfBins = 1, nameof(NormalizingFlowOptions.NumberOfBins)),
            (o => o.SplineTailBound = 0, nameof(NormalizingFlowOptions.SplineTailBound)),
            (o => o.SplineTailBound = double.NaN, nameof(NormalizingFlowOptions.SplineTailBound)),
            (o => o.DequantizationSamples = 0, nameof(NormalizingFlowOptions.DequantizationSamples)),
            (o => o.NumberOfLevels = 1, nameof(NormalizingFlowOptions.NumberOfLevels)),
            (o => o.LogitAlpha = 0, nameof(NormalizingFlowOptions.LogitAlpha)),
            (o => o.LogitAlpha = 0.5, nameof(NormalizingFlowOptions.LogitAlpha)),
            (o => o.LatentColumnName = "Score", nameof(NormalizingFlowOptions.LogLikelihoodColumnName)),
            (o => o.ScoreColumnName = " ", nameof(NormalizingFlowOptions.ScoreColumnName)),
            (o => o.LearningRate = -1, nameof(NormalizingFlowOptions.LearningRate)),
            (o => o.BatchSize = 0, nameof(NormalizingFlowOptions.BatchSize)),
        };
        foreach (var (change, name) in cases)
        {
            var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Generative().NormalizingFlow(Options(change)), name);
            Assert.AreEqual(name, e.ParamName);
        }
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Generative().NormalizingFlow(numberOfLayers: -1));
    }

    [TestMethod]
    public void MissingWrongTypeEmptyAndNonFiniteDataAreReported()
    {
        var ml = new MLContext(seed: 1);
        var flow = ml.Generative().NormalizingFlow(Options(_ => { }));
        var points = ml.Data.LoadFromEnumerable(FlowTestData.TwoMoons(20));
        var missing = Assert.Throws<Exception>(() => flow.Fit(points));
        StringAssert.Contains(missing.Message, "'Features' was not found");
        var wrongType = Assert.Throws<Exception>(() => ml.Generative().NormalizingFlow(Options(o => o.FeatureColumnName = "X")).Fit(points));
        StringAssert.Contains(wrongType.Message, "known-size vector of Single");
        var empty = Assert.Throws<Exception>(() => flow.Fit(ml.Data.LoadFromEnumerable(Array.Empty<TwoFeatureRow>())));
        StringAssert.Contains(empty.Message, "empty");
        var rows = FlowTestData.Moons2(50);
        rows[9].Features[1] = float.NaN;
        var nan = Assert.Throws<Exception>(() => flow.Fit(ml.Data.LoadFromEnumerable(rows)));
        StringAssert.Contains(nan.Message, "row 9");
        StringAssert.Contains(nan.Message, "slot 1");
        // Skipping them is the documented alternative.
        var skip = ml.Generative().NormalizingFlow(Options(o => o.SkipRowsWithNonFiniteValues = true)).Fit(ml.Data.LoadFromEnumerable(rows));
        Assert.IsTrue(skip.TrainingHistory[0].Rows == 49);
        // Scoring data of another width.
        var wrongWidth = Assert.Throws<Exception>(() => skip.Transform(ml.Data.LoadFromEnumerable(FlowTestData.Counts(3))));
        StringAssert.Contains(wrongWidth.Message, "2 values");
    }

    [TestMethod]
    public void ConstantFeatureNamesItsSlot()
    {
        var ml = new MLContext(seed: 1);
        var rows = FlowTestData.Counts(100).Select(r => new ThreeFeatureRow { Features = new[] { r.Features[0], 4f, r.Features[2] } }).ToArray();
        var e = Assert.Throws<InvalidOperationException>(() => ml.Generative().NormalizingFlow(Options(_ => { })).Fit(ml.Data.LoadFromEnumerable(rows)));
        StringAssert.Contains(e.Message, "Slot 1");
        StringAssert.Contains(e.Message, "same value (4)");
        // Integer data may be dequantized instead: the noise makes the slot a uniform density on [4, 5).
        var model = ml.Generative().NormalizingFlow(Options(o => o.Dequantize = true)).Fit(ml.Data.LoadFromEnumerable(rows));
        Assert.IsTrue(model.Transform(ml.Data.LoadFromEnumerable(rows)).GetColumn<float>("Score").All(float.IsFinite));
        // Without standardization, the constant is simply modelled.
        var raw = ml.Generative().NormalizingFlow(Options(o => o.Standardize = false)).Fit(ml.Data.LoadFromEnumerable(rows));
        Assert.IsTrue(raw.Transform(ml.Data.LoadFromEnumerable(rows)).GetColumn<float>("Score").All(float.IsFinite));
    }

    [TestMethod]
    public void DequantizeOnNonIntegerDataNamesRowAndSlot()
    {
        var ml = new MLContext(seed: 1);
        var rows = FlowTestData.Counts(100);
        rows[42].Features[2] = 2.5f;
        var e = Assert.Throws<Exception>(() => ml.Generative().NormalizingFlow(Options(o => o.Dequantize = true)).Fit(ml.Data.LoadFromEnumerable(rows)));
        StringAssert.Contains(e.Message, "row 42");
        StringAssert.Contains(e.Message, "slot 2");
        StringAssert.Contains(e.Message, "not an integer");
        // Logit with levels given: values above L − 1 are named too.
        rows[42].Features[2] = 3;
        var levels = Assert.Throws<Exception>(() => ml.Generative().NormalizingFlow(Options(o => { o.Dequantize = true; o.LogitTransform = true; o.NumberOfLevels = 4; }))
            .Fit(ml.Data.LoadFromEnumerable(rows)));
        StringAssert.Contains(levels.Message, "outside [0, 3]");
    }
}
