using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Tabular;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Generative.Tests.Tabular;

[TestClass]
public sealed class TabularBadInputTests
{
    private static TabularSynthesizerTransformer? _penguinModel;

    private static TabularSynthesizerTransformer PenguinModel()
    {
        if (_penguinModel is null)
        {
            var ml = new MLContext(seed: 1);
            _penguinModel = ml.Generative().TabularSynthesizer(TabularTestData.Small(2)).Fit(TabularTestData.Penguins(ml));
        }
        return _penguinModel;
    }

    [ClassCleanup]
    public static void Cleanup() => _penguinModel?.Dispose();

    private static ArgumentException FitFails(IDataView data, TabularSynthesizerOptions? options = null)
    {
        var ml = new MLContext(seed: 1);
        return Assert.Throws<ArgumentException>(() => ml.Generative().TabularSynthesizer(options ?? TabularTestData.Small(1)).Fit(data));
    }

    [TestMethod]
    public void AColumnTypeItCannotModelIsNamedWithTheReason()
    {
        var ml = new MLContext(seed: 1);
        var dates = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 10).Select(i => new DateRow { X = i, When = new DateTime(2020, 1, 1).AddDays(i) }));
        var e = FitFails(dates);
        StringAssert.Contains(e.Message, "'When'");
        StringAssert.Contains(e.Message, "date or time");

        var vectors = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 10).Select(i => new VectorRow { X = i, V = new float[] { i, 1, 2 } }));
        e = FitFails(vectors);
        StringAssert.Contains(e.Message, "'V'");
        StringAssert.Contains(e.Message, "vector");
        // ... and leaving it out works.
        using var model = ml.Generative().TabularSynthesizer(new TabularSynthesizerOptions { Columns = new[] { "X" }, NumberOfEpochs = 1, MinimumTrainingSteps = 0, HiddenLayerSizes = new[] { 8 }, LatentDimension = 2 }).Fit(vectors);
        Assert.AreEqual(1, model.Sample(3, seed: 1).Schema.Count);

        e = FitFails(vectors, new TabularSynthesizerOptions { Columns = new[] { "Missing" } });
        StringAssert.Contains(e.Message, "'Missing' was not found");
    }

    [TestMethod]
    public void ATableWithOneRowIsRefused()
    {
        var ml = new MLContext(seed: 1);
        var e = FitFails(ml.Data.LoadFromEnumerable(TabularTestData.Mixed(1)));
        StringAssert.Contains(e.Message, "1 row");
        StringAssert.Contains(e.Message, "at least 2 rows");
    }

    [TestMethod]
    public void ACategoricalColumnAboveTheCapIsNamed()
    {
        var ml = new MLContext(seed: 1);
        var ids = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 50).Select(i => new NumberRow { X = i, C = $"id{i}" }));
        var e = FitFails(ids, new TabularSynthesizerOptions { MaximumCategories = 20 });
        StringAssert.Contains(e.Message, "'C'");
        StringAssert.Contains(e.Message, "more than 20 distinct values");
        StringAssert.Contains(e.Message, "MaximumCategories");
    }

    [TestMethod]
    public void AnAllMissingColumnIsNamed()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 20).Select(i => new NumberRow { X = float.NaN, C = "a" }));
        var e = FitFails(data);
        StringAssert.Contains(e.Message, "'X'");
        StringAssert.Contains(e.Message, "all 20 are missing");
    }

    [TestMethod]
    public void InfiniteValuesAreRefusedWithTheRow()
    {
        var ml = new MLContext(seed: 1);
        var rows = Enumerable.Range(0, 20).Select(i => new NumberRow { X = i == 7 ? float.PositiveInfinity : i, C = "a" });
        var e = FitFails(ml.Data.LoadFromEnumerable(rows));
        StringAssert.Contains(e.Message, "'X'");
        StringAssert.Contains(e.Message, "row 7");
    }

    [TestMethod]
    public void AConditionOnAContinuousColumnIsRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => PenguinModel().Sample(5, new Dictionary<string, object> { ["BodyMass"] = 4000f }, seed: 1));
        StringAssert.Contains(e.Message, "'BodyMass' is continuous");
    }

    [TestMethod]
    public void AnUnseenConditionValueListsTheKnownOnes()
    {
        var e = Assert.Throws<ArgumentException>(() => PenguinModel().Sample(5, new Dictionary<string, object> { ["Species"] = "Emperor" }, seed: 1));
        StringAssert.Contains(e.Message, "never held 'Emperor'");
        StringAssert.Contains(e.Message, "'Adelie', 'Chinstrap', 'Gentoo'");
    }

    [TestMethod]
    public void AConditionThatDoesNotMatchTheTrainingSchemaIsRefused()
    {
        // A column the model does not have.
        var e = Assert.Throws<ArgumentException>(() => PenguinModel().Sample(5, new Dictionary<string, object> { ["Colony"] = "x" }, seed: 1));
        StringAssert.Contains(e.Message, "'Colony' is not one of the synthesizer's columns");
        // A value of another type than the column's.
        e = Assert.Throws<ArgumentException>(() => PenguinModel().Sample(5, new Dictionary<string, object> { ["Species"] = 3 }, seed: 1));
        StringAssert.Contains(e.Message, "expects a string");
        e = Assert.Throws<ArgumentException>(() => PenguinModel().Sample(5, new Dictionary<string, object>(), seed: 1));
        StringAssert.Contains(e.Message, "condition is empty");
    }

    [TestMethod]
    public void BadCountsAndOptionsNameTheArgument()
    {
        var ml = new MLContext(seed: 1);
        Assert.Throws<ArgumentException>(() => PenguinModel().Sample(0, seed: 1));
        foreach (var options in new[]
        {
            new TabularSynthesizerOptions { NumberOfEpochs = 0 },
            new TabularSynthesizerOptions { MaximumCategories = 1 },
            new TabularSynthesizerOptions { Columns = new[] { "A", "A" } },
            new TabularSynthesizerOptions { ModeWeightThreshold = 1 },
            new TabularSynthesizerOptions { HiddenLayerSizes = new[] { 0 } },
            new TabularSynthesizerOptions { MinimumTrainingSteps = -1 },
        })
            Assert.Throws<ArgumentOutOfRangeException>(() => ml.Generative().TabularSynthesizer(options));
    }

    [TestMethod]
    public void AConditionTooRareForRejectionSamplingFailsWithTheAcceptanceRate()
    {
        var ml = new MLContext(seed: 1);
        var random = new Random(1);
        // "rare" is 1 row in 400: an untrained-enough model gives it little probability; allow only 2 draws per row.
        var rows = Enumerable.Range(0, 400).Select(i => new NumberRow { X = (float)random.NextDouble(), C = i == 0 ? "rare" : "common" }).ToArray();
        var options = TabularTestData.Small(30);
        options.MaximumRejectionDraws = 2;
        using var model = ml.Generative().TabularSynthesizer(options).Fit(ml.Data.LoadFromEnumerable(rows));
        var e = Assert.Throws<InvalidOperationException>(() => model.Sample(500, new Dictionary<string, object> { ["C"] = "rare" }, seed: 1));
        StringAssert.Contains(e.Message, "acceptance rate");
        StringAssert.Contains(e.Message, "MaximumRejectionDraws");
    }
}
