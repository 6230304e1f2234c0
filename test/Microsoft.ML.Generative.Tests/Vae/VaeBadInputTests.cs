using System;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Vae;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Generative.Tests.Vae;

[TestClass]
public sealed class VaeBadInputTests
{
    private static VariationalAutoencoderOptions Options() => new()
    {
        LatentDimension = 2,
        HiddenLayerSizes = new[] { 8 },
        NumberOfEpochs = 1,
        BatchSize = 16,
    };

    private static Exception FitFails<T>(T[] rows, VariationalAutoencoderOptions? options = null) where T : class
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(rows);
        return Assert.Throws<Exception>(() => ml.Generative().VariationalAutoencoder(options ?? Options()).Fit(data));
    }

    public sealed class DoubleRow
    {
        [VectorType(4)] public double[] Features { get; set; } = new double[4];
    }

    public sealed class VariableRow
    {
        public float[] Features { get; set; } = Array.Empty<float>();
    }

    public sealed class Row4
    {
        [VectorType(4)] public float[] Features { get; set; } = new float[4];
    }

    [TestMethod]
    public void ADisposedModelSaysSo()
    {
        // Found by a new-user review (of the tabular synthesizer): after Dispose, TorchSharp's "Tensor invalid -- empty
        // handle" or a saved file that cannot be loaded; now every family's scoring base throws ObjectDisposedException.
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(TestData.BinaryPrototypes(32));
        var model = ml.Generative().VariationalAutoencoder(Options()).Fit(data);
        model.Dispose();
        Assert.ThrowsExactly<ObjectDisposedException>(() => model.Sample(3, seed: 1));
        Assert.ThrowsExactly<ObjectDisposedException>(() => model.Transform(data));
        Assert.ThrowsExactly<ObjectDisposedException>(() => model.Encode(new[] { new float[16] }));
        Assert.ThrowsExactly<ObjectDisposedException>(() => ml.Model.CreatePredictionEngine<Row16, VaeScore>(model));
        var path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"disposed-vae-{Guid.NewGuid():N}.zip");
        Assert.ThrowsExactly<ObjectDisposedException>(() => ml.Model.Save(model, data.Schema, path));
        if (System.IO.File.Exists(path))
            System.IO.File.Delete(path);
    }

    public sealed class VaeScore
    {
        public float Score { get; set; }
    }

    [TestMethod]
    public void ValidationDataOfAnotherWidthIsNamedWithBothWidths()
    {
        // Found by a new-user review: the message was lost (the sizes were read after the source was disposed).
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(TestData.BinaryPrototypes(32));
        var validation = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 8).Select(_ => new Row4()).ToArray());
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Generative().VariationalAutoencoder(Options()).Fit(train, validation));
        StringAssert.Contains(e.Message, "has 4 values per row");
        StringAssert.Contains(e.Message, $"the training data has {Row16.Size}");
    }

    [TestMethod]
    public void SampleCountsBeyondTheInMemoryCapAreRefusedClearly()
    {
        var ml = new MLContext(seed: 1);
        using var model = ml.Generative().VariationalAutoencoder(Options()).Fit(ml.Data.LoadFromEnumerable(TestData.BinaryPrototypes(32)));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => model.Sample(int.MaxValue, seed: 1));
        StringAssert.Contains(e.Message, "several calls");
        Assert.Throws<ArgumentOutOfRangeException>(() => model.Sample(0, seed: 1));
    }

    [TestMethod]
    public void MissingColumnIsNamed()
    {
        var e = FitFails(TestData.BinaryPrototypes(10), new VariationalAutoencoderOptions { FeatureColumnName = "Pixels" });
        StringAssert.Contains(e.Message, "'Pixels' was not found");
        StringAssert.Contains(e.Message, "'Features'");
    }

    [TestMethod]
    public void WrongTypeNamesColumnAndBothTypes()
    {
        var e = FitFails(Enumerable.Range(0, 10).Select(_ => new DoubleRow()).ToArray());
        StringAssert.Contains(e.Message, "'Features'");
        StringAssert.Contains(e.Message, "known-size vector of Single");
        StringAssert.Contains(e.Message, "Double");
        StringAssert.Contains(e.Message, "ConvertType");
    }

    [TestMethod]
    public void VariableSizeVectorIsRejected()
    {
        var e = FitFails(Enumerable.Range(0, 10).Select(_ => new VariableRow { Features = new float[4] }).ToArray());
        StringAssert.Contains(e.Message, "size must be known");
    }

    [TestMethod]
    public void EmptyTrainingDataIsRejected()
    {
        var e = FitFails(Array.Empty<Row16>());
        StringAssert.Contains(e.Message, "empty");
        StringAssert.Contains(e.Message, "'Features'");
    }

    [TestMethod]
    public void NonFiniteValuesNameColumnAndRowOrAreSkippedOnRequest()
    {
        var rows = TestData.BinaryPrototypes(40);
        rows[17].Features[5] = float.NaN;
        rows[30].Features[0] = float.PositiveInfinity;
        var e = FitFails(rows);
        StringAssert.Contains(e.Message, "'Features'");
        StringAssert.Contains(e.Message, "row 17");
        StringAssert.Contains(e.Message, "slot 5");
        StringAssert.Contains(e.Message, "SkipRowsWithNonFiniteValues");

        var ml = new MLContext(seed: 1);
        var options = Options();
        options.SkipRowsWithNonFiniteValues = true;
        var model = ml.Generative().VariationalAutoencoder(options).Fit(ml.Data.LoadFromEnumerable(rows));
        Assert.AreEqual(38, model.TrainingHistory[0].Rows);
    }

    [TestMethod]
    public void BernoulliNeedsUnitIntervalAndSaysWhatToDo()
    {
        var rows = TestData.BinaryPrototypes(20);
        rows[3].Features[2] = 2.5f;
        var e = FitFails(rows);
        StringAssert.Contains(e.Message, "row 3");
        StringAssert.Contains(e.Message, "outside [0, 1]");
        StringAssert.Contains(e.Message, "NormalizeMinMax");
        StringAssert.Contains(e.Message, "fixZero: false");
        StringAssert.Contains(e.Message, "GaussianLearnedVariance");
    }

    [TestMethod]
    public void InvalidOptionsAreRejectedWithTheOptionName()
    {
        var ml = new MLContext(seed: 1);
        void Rejects(string option, Action<VariationalAutoencoderOptions> change)
        {
            var options = Options();
            change(options);
            var e = Assert.Throws<ArgumentException>(() => ml.Generative().VariationalAutoencoder(options));
            StringAssert.Contains(e.Message, option);
        }
        Rejects("LatentDimension", o => o.LatentDimension = 0);
        Rejects("HiddenLayerSizes", o => o.HiddenLayerSizes = new[] { 8, 0 });
        Rejects("HiddenLayerSizes", o => o.HiddenLayerSizes = null!);
        Rejects("NumberOfEpochs", o => o.NumberOfEpochs = 0);
        Rejects("BatchSize", o => o.BatchSize = -1);
        Rejects("LearningRate", o => o.LearningRate = 0);
        Rejects("LearningRate", o => o.LearningRate = double.NaN);
        Rejects("Beta", o => o.Beta = -1);
        Rejects("FreeBits", o => o.FreeBits = -0.5);
        Rejects("ValidationFraction", o => o.ValidationFraction = 1);
        Rejects("FixedStandardDeviation", o => o.FixedStandardDeviation = 0);
        Rejects("GradientClipNorm", o => o.GradientClipNorm = -1);
        Rejects("Likelihood", o => o.Likelihood = (VaeLikelihood)42);
        Rejects("LatentColumnName", o => o.ScoreColumnName = o.LatentColumnName);
        Assert.Throws<ArgumentException>(() => ml.Generative().VariationalAutoencoder(latentDimension: -3));
    }

    [TestMethod]
    public void DivergingLossFailsWithEpochBatchAndAdvice()
    {
        // Finite but enormous features overflow the Gaussian NLL in float32: training must stop, not return a NaN model.
        var rows = TestData.BinaryPrototypes(40);
        foreach (var r in rows)
            r.Features[0] = 3e20f;
        var options = Options();
        options.Likelihood = VaeLikelihood.GaussianFixedVariance;
        var e = FitFails(rows, options);
        Assert.IsInstanceOfType<InvalidOperationException>(e);
        StringAssert.Contains(e.Message, "epoch 1, batch 1");
        StringAssert.Contains(e.Message, "LearningRate");
        StringAssert.Contains(e.Message, "normalize");
    }

    [TestMethod]
    public void ScoringDataOfAnotherWidthIsRejected()
    {
        var ml = new MLContext(seed: 1);
        var model = ml.Generative().VariationalAutoencoder(Options()).Fit(ml.Data.LoadFromEnumerable(TestData.BinaryPrototypes(20)));
        var other = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 5).Select(_ => new DoubleRow()).ToArray());
        var narrow = ml.Transforms.Conversion.ConvertType("Features", outputKind: DataKind.Single).Fit(other).Transform(other);
        var e = Assert.Throws<ArgumentException>(() => model.Transform(narrow));
        StringAssert.Contains(e.Message, "trained on vectors of 16 values, got 4");
    }
}
