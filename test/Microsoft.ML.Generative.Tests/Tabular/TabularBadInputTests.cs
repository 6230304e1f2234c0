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
    // Each bad input is tried on both models (their column handling and sampling checks are shared, their networks are not).
    private static readonly Dictionary<TabularModel, TabularSynthesizerTransformer> _penguinModels = new();

    private static TabularSynthesizerTransformer PenguinModel(TabularModel model)
    {
        lock (_penguinModels)
        {
            if (!_penguinModels.TryGetValue(model, out var fitted))
            {
                var ml = new MLContext(seed: 1);
                fitted = ml.Generative().TabularSynthesizer(TabularTestData.Small(2, model)).Fit(TabularTestData.Penguins(ml));
                _penguinModels[model] = fitted;
            }
            return fitted;
        }
    }

    [ClassCleanup]
    public static void Cleanup()
    {
        foreach (var m in _penguinModels.Values)
            m.Dispose();
    }

    private static ArgumentException FitFails(TabularModel model, IDataView data, TabularSynthesizerOptions? options = null)
    {
        var ml = new MLContext(seed: 1);
        options ??= TabularTestData.Small(1, model);
        options.Model = model;
        return Assert.Throws<ArgumentException>(() => ml.Generative().TabularSynthesizer(options).Fit(data));
    }

    [TestMethod]
    [DataRow(TabularModel.Tvae)]
    [DataRow(TabularModel.Ctgan)]
    public void AColumnTypeItCannotModelIsNamedWithTheReason(TabularModel model)
    {
        var ml = new MLContext(seed: 1);
        var dates = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 10).Select(i => new DateRow { X = i, When = new DateTime(2020, 1, 1).AddDays(i) }));
        var e = FitFails(model, dates);
        StringAssert.Contains(e.Message, "'When'");
        StringAssert.Contains(e.Message, "date or time");

        var vectors = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 10).Select(i => new VectorRow { X = i, V = new float[] { i, 1, 2 } }));
        e = FitFails(model, vectors);
        StringAssert.Contains(e.Message, "'V'");
        StringAssert.Contains(e.Message, "vector");
        // ... and leaving it out works.
        using var fitted = ml.Generative().TabularSynthesizer(new TabularSynthesizerOptions { Model = model, Columns = new[] { "X" }, NumberOfEpochs = 1, MinimumTrainingSteps = 0, HiddenLayerSizes = new[] { 8 }, LatentDimension = 2 }).Fit(vectors);
        Assert.AreEqual(1, fitted.Sample(3, seed: 1).Schema.Count);

        e = FitFails(model, vectors, new TabularSynthesizerOptions { Columns = new[] { "Missing" } });
        StringAssert.Contains(e.Message, "'Missing' was not found");
    }

    [TestMethod]
    [DataRow(TabularModel.Tvae)]
    [DataRow(TabularModel.Ctgan)]
    public void ATableWithOneRowIsRefused(TabularModel model)
    {
        var ml = new MLContext(seed: 1);
        var e = FitFails(model, ml.Data.LoadFromEnumerable(TabularTestData.Mixed(1)));
        StringAssert.Contains(e.Message, "1 row");
        StringAssert.Contains(e.Message, "at least 2 rows");
        Assert.AreEqual("input", e.ParamName);   // the argument of Fit(input)
    }

    [TestMethod]
    [DataRow(TabularModel.Tvae)]
    [DataRow(TabularModel.Ctgan)]
    public void ACategoricalColumnAboveTheCapIsNamed(TabularModel model)
    {
        var ml = new MLContext(seed: 1);
        var ids = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 50).Select(i => new NumberRow { X = i, C = $"id{i}" }));
        var e = FitFails(model, ids, new TabularSynthesizerOptions { MaximumCategories = 20 });
        StringAssert.Contains(e.Message, "'C'");
        StringAssert.Contains(e.Message, "more than 20 distinct values");
        StringAssert.Contains(e.Message, "MaximumCategories");
    }

    [TestMethod]
    [DataRow(TabularModel.Tvae)]
    [DataRow(TabularModel.Ctgan)]
    public void AnAllMissingColumnIsNamed(TabularModel model)
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 20).Select(i => new NumberRow { X = float.NaN, C = "a" }));
        var e = FitFails(model, data);
        StringAssert.Contains(e.Message, "'X'");
        StringAssert.Contains(e.Message, "all 20 are missing");
    }

    [TestMethod]
    [DataRow(TabularModel.Tvae)]
    [DataRow(TabularModel.Ctgan)]
    public void InfiniteValuesAreRefusedWithTheRow(TabularModel model)
    {
        var ml = new MLContext(seed: 1);
        var rows = Enumerable.Range(0, 20).Select(i => new NumberRow { X = i == 7 ? float.PositiveInfinity : i, C = "a" });
        var e = FitFails(model, ml.Data.LoadFromEnumerable(rows));
        StringAssert.Contains(e.Message, "'X'");
        StringAssert.Contains(e.Message, "row 7");
    }

    [TestMethod]
    [DataRow(TabularModel.Tvae)]
    [DataRow(TabularModel.Ctgan)]
    public void HugeMagnitudesAreRefusedWithTheColumnNotANullReference(TabularModel model)
    {
        // Squared deviations of values near 1e160 overflow float64: the mixture fit had no finite likelihood and
        // failed with a NullReferenceException. Now the column is named with what to do.
        var ml = new MLContext(seed: 1);
        var rows = Enumerable.Range(0, 40).Select(i => new DoubleRow { X = i * 1e160, C = "a" + i % 3 });
        var e = FitFails(model, ml.Data.LoadFromEnumerable(rows));
        StringAssert.Contains(e.Message, "'X'");
        StringAssert.Contains(e.Message, "Rescale");
        // Up to the documented magnitude the column is modelled.
        var ok = Enumerable.Range(0, 40).Select(i => new DoubleRow { X = (i % 2 == 0 ? -1 : 1) * (1e149 + i * 1e147), C = "a" + i % 3 }).ToArray();
        var options = TabularTestData.Small(1, model);
        options.Model = model;
        using var fitted = ml.Generative().TabularSynthesizer(options).Fit(ml.Data.LoadFromEnumerable(ok));
        var sample = fitted.Sample(50, seed: 1).GetColumn<double>("X").ToArray();
        Assert.IsTrue(sample.All(v => double.IsFinite(v) && Math.Abs(v) <= 1.05e149 + 40 * 1e147), "finite values within the observed range");
    }

    private sealed class DoubleRow
    {
        public double X { get; set; }
        public string C { get; set; } = "";
    }

    [TestMethod]
    [DataRow(TabularModel.Tvae)]
    [DataRow(TabularModel.Ctgan)]
    public void AConditionOnAContinuousColumnIsRefused(TabularModel model)
    {
        var e = Assert.Throws<ArgumentException>(() => PenguinModel(model).Sample(5, new Dictionary<string, object> { ["BodyMass"] = 4000f }, seed: 1));
        StringAssert.Contains(e.Message, "'BodyMass' is continuous");
    }

    [TestMethod]
    [DataRow(TabularModel.Tvae)]
    [DataRow(TabularModel.Ctgan)]
    public void AnUnseenConditionValueListsTheKnownOnes(TabularModel model)
    {
        var e = Assert.Throws<ArgumentException>(() => PenguinModel(model).Sample(5, new Dictionary<string, object> { ["Species"] = "Emperor" }, seed: 1));
        StringAssert.Contains(e.Message, "never held 'Emperor'");
        StringAssert.Contains(e.Message, "'Adelie', 'Chinstrap', 'Gentoo'");
    }

    [TestMethod]
    [DataRow(TabularModel.Tvae)]
    [DataRow(TabularModel.Ctgan)]
    public void AConditionThatDoesNotMatchTheTrainingSchemaIsRefused(TabularModel model)
    {
        // A column the model does not have.
        var e = Assert.Throws<ArgumentException>(() => PenguinModel(model).Sample(5, new Dictionary<string, object> { ["Colony"] = "x" }, seed: 1));
        StringAssert.Contains(e.Message, "'Colony' is not one of the synthesizer's columns");
        // A value of another type than the column's.
        e = Assert.Throws<ArgumentException>(() => PenguinModel(model).Sample(5, new Dictionary<string, object> { ["Species"] = 3 }, seed: 1));
        StringAssert.Contains(e.Message, "expects a string");
        e = Assert.Throws<ArgumentException>(() => PenguinModel(model).Sample(5, new Dictionary<string, object>(), seed: 1));
        StringAssert.Contains(e.Message, "condition is empty");
    }

    [TestMethod]
    [DataRow(TabularModel.Tvae)]
    [DataRow(TabularModel.Ctgan)]
    public void BadCountsAndOptionsNameTheArgument(TabularModel model)
    {
        var ml = new MLContext(seed: 1);
        Assert.Throws<ArgumentException>(() => PenguinModel(model).Sample(0, seed: 1));
        foreach (var options in new[]
        {
            new TabularSynthesizerOptions { NumberOfEpochs = 0 },
            new TabularSynthesizerOptions { MaximumCategories = 1 },
            new TabularSynthesizerOptions { Columns = new[] { "A", "A" } },
            new TabularSynthesizerOptions { ModeWeightThreshold = 1 },
            new TabularSynthesizerOptions { HiddenLayerSizes = new[] { 0 } },
            new TabularSynthesizerOptions { MinimumTrainingSteps = -1 },
            new TabularSynthesizerOptions { Pac = 0 },
            new TabularSynthesizerOptions { DiscriminatorHiddenLayerSizes = new[] { 0 } },
            new TabularSynthesizerOptions { LearningRate = double.NaN },
        })
            Assert.Throws<ArgumentOutOfRangeException>(() => ml.Generative().TabularSynthesizer(options));
        // CTGAN packs Pac rows for its critic: the batch must be made of whole packs.
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Generative().TabularSynthesizer(new TabularSynthesizerOptions { Model = TabularModel.Ctgan, BatchSize = 64 }));
        StringAssert.Contains(e.Message, "multiple of 10");
        // Batch normalization over one row is undefined (libtorch would throw or learn NaN running statistics).
        var one = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Generative().TabularSynthesizer(new TabularSynthesizerOptions { Model = TabularModel.Ctgan, BatchSize = 1, Pac = 1 }));
        StringAssert.Contains(one.Message, "at least 2 rows");
    }

    // TVAE only: CTGAN generates with the conditional vector of the asked value, which makes a rare category common
    // (CtganTests.ARareCategoryIsReachedThroughTheConditionalVector).
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
        // A budget that cannot be met is seen after the first 100,000 draws, not after all of them.
        // (100,000 rows × 3 = 300,000 draws allowed: the rate would have to exceed ~1/3 to be met.)
        options.MaximumRejectionDraws = 3;
        using var patient = ml.Generative().TabularSynthesizer(options).Fit(ml.Data.LoadFromEnumerable(rows));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var early = Assert.Throws<InvalidOperationException>(() => patient.Sample(100_000, new Dictionary<string, object> { ["C"] = "rare" }, seed: 1));
        StringAssert.Contains(early.Message, "still missing");
        StringAssert.Contains(early.Message, "MaximumRejectionDraws");
        Assert.IsTrue(clock.Elapsed.TotalSeconds < 60, $"the early failure took {clock.Elapsed.TotalSeconds:F0} s");
    }

    [TestMethod]
    public void ADisposedSynthesizerSaysSo()
    {
        foreach (var kind in new[] { TabularModel.Tvae, TabularModel.Ctgan })
        {
            var ml = new MLContext(seed: 1);
            var penguins = TabularTestData.Penguins(ml);
            var model = ml.Generative().TabularSynthesizer(TabularTestData.Small(1, kind)).Fit(penguins);
            model.Dispose();
            Assert.ThrowsExactly<ObjectDisposedException>(() => model.Sample(5, seed: 1), kind.ToString());
            Assert.ThrowsExactly<ObjectDisposedException>(() => model.Sample(5, new Dictionary<string, object> { ["Species"] = "Gentoo" }, seed: 1), kind.ToString());
            var path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"disposed-{kind}-{Guid.NewGuid():N}.zip");
            Assert.ThrowsExactly<ObjectDisposedException>(() => ml.Model.Save(model, penguins.Schema, path), kind.ToString());
            if (System.IO.File.Exists(path))
                System.IO.File.Delete(path);
            model.Dispose();   // twice is harmless
        }
    }

    [TestMethod]
    public void DivergedTrainingGivesTheSynthesizersAdvice()
    {
        foreach (var kind in new[] { TabularModel.Tvae, TabularModel.Ctgan })
        {
            var ml = new MLContext(seed: 1);
            // Adam's steps are about the learning rate in size: weights of 1e12 overflow float32 within a few steps.
            var options = TabularTestData.Small(5, kind);
            options.LearningRate = 1e12;
            var e = Assert.ThrowsExactly<InvalidOperationException>(() => ml.Generative().TabularSynthesizer(options).Fit(TabularTestData.Penguins(ml)), kind.ToString());
            StringAssert.Contains(e.Message, "diverged");
            StringAssert.Contains(e.Message, "lower LearningRate (now 1000000000000)");
            Assert.IsFalse(e.Message.Contains("GradientClipNorm"), e.Message);      // not an option of the synthesizer
            Assert.IsFalse(e.Message.Contains("'Features'"), e.Message);            // an internal column
        }
    }
}
