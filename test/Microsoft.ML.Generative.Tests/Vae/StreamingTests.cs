using System;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Vae;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Generative.Tests.Vae;

/// <summary>Data above MaxCachedMegabytes is streamed through a shuffle buffer instead of cached.</summary>
[TestClass]
public sealed class StreamingTests
{
    private static VariationalAutoencoderOptions Streaming(int epochs) => new()
    {
        LatentDimension = 2,
        HiddenLayerSizes = new[] { 32 },
        NumberOfEpochs = epochs,
        BatchSize = 32,
        LearningRate = 1e-2,
        MaxCachedMegabytes = 0,     // always stream
        ShuffleBufferRows = 100,
    };

    [TestMethod]
    public void StreamedTrainingLearnsAsWellAsCachedTraining()
    {
        var ml = new MLContext(seed: 1);
        var streamed = ml.Generative().VariationalAutoencoder(Streaming(20)).Fit(TestData.Load(ml, TestData.BinaryPrototypes(512)));
        var data = TestData.Load(ml, TestData.BinaryPrototypes(512));
        Assert.AreEqual(512, streamed.TrainingHistory[0].Rows);
        Assert.IsTrue(streamed.TrainingHistory[^1].TrainingLoss < 7.0, $"streamed final loss {streamed.TrainingHistory[^1].TrainingLoss}");

        var ml2 = new MLContext(seed: 1);
        var again = ml2.Generative().VariationalAutoencoder(Streaming(20)).Fit(TestData.Load(ml2, TestData.BinaryPrototypes(512)));
        CollectionAssert.AreEqual(streamed.Transform(data).GetColumn<float>("Score").ToArray(),
            again.Transform(data).GetColumn<float>("Score").ToArray(), "streaming is deterministic too");
    }

    [TestMethod]
    public void StreamedHoldOutAndValidationDataWork()
    {
        var ml = new MLContext(seed: 1);
        var data = TestData.Load(ml, TestData.BinaryPrototypes(1000));
        var options = Streaming(2);
        options.ValidationFraction = 0.2;
        var model = ml.Generative().VariationalAutoencoder(options).Fit(data);
        long trainRows = model.TrainingHistory[0].Rows;
        Assert.IsTrue(trainRows > 740 && trainRows < 860, $"about 80% of 1000 rows train: {trainRows}");
        Assert.IsTrue(model.TrainingHistory.All(h => h.ValidationLoss.HasValue));

        var withValidation = ml.Generative().VariationalAutoencoder(Streaming(1)).Fit(data, TestData.Load(ml, TestData.BinaryPrototypes(50, seed: 3)));
        Assert.IsTrue(withValidation.TrainingHistory[0].ValidationLoss.HasValue);
    }

    [TestMethod]
    public void StreamedBadRowsFailBeforeTrainingWithTheRow()
    {
        var rows = TestData.BinaryPrototypes(300);
        rows[250].Features[1] = float.NaN;
        var ml = new MLContext(seed: 1);
        int epochs = 0;
        var options = Streaming(3);
        options.Progress = new Progress(() => epochs++);
        var e = Assert.Throws<Exception>(() => ml.Generative().VariationalAutoencoder(options).Fit(TestData.Load(ml, rows)));
        StringAssert.Contains(e.Message, "row 250");
        Assert.AreEqual(0, epochs, "the checking pass fails before any epoch");

        options.SkipRowsWithNonFiniteValues = true;
        var model = ml.Generative().VariationalAutoencoder(options).Fit(TestData.Load(ml, rows));
        Assert.AreEqual(299, model.TrainingHistory[0].Rows);
    }

    private sealed class Progress(Action onEpoch) : IProgress<Training.EpochSummary>
    {
        public void Report(Training.EpochSummary value) => onEpoch();
    }
}
