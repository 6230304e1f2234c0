using System;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Gan;
using Microsoft.ML.Generative.Vae;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Generative.Tests.Conditional;

/// <summary>Every wrong condition gives a clear, specific error: at Fit, at Transform, at Sample.</summary>
[TestClass]
public sealed class ConditionalBadInputTests
{
    private sealed class FloatLabelRow
    {
        [VectorType(4)]
        public float[] Features { get; set; } = Array.Empty<float>();

        public float Label { get; set; }
    }

    private sealed class OtherKeyRow
    {
        [VectorType(4)]
        public float[] Features { get; set; } = Array.Empty<float>();

        [KeyType(5)]
        public uint Class { get; set; }

        [VectorType(3)]
        public float[] Context { get; set; } = Array.Empty<float>();
    }

    // SchemaShape.Create is internal to ML.NET (its estimators' tests use it the same way).
    private static SchemaShape Shape(DataViewSchema schema)
        => (SchemaShape)typeof(SchemaShape).GetMethod("Create", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!
            .Invoke(null, new object[] { schema })!;

    private static IDataView Data(MLContext ml, int rows = 120) => ml.Data.LoadFromEnumerable(ConditionalTestData.Classes(rows));

    [TestMethod]
    public void MissingOrWrongTypedConditionColumnFailsFitAndGetOutputSchema()
    {
        var ml = new MLContext(seed: 1);
        var data = Data(ml);
        var missing = Assert.Throws<ArgumentException>(() => ml.Generative().VariationalAutoencoder(ConditionalTests.Vae("Label")).Fit(data));
        StringAssert.Contains(missing.Message, "Condition column 'Label' was not found");
        StringAssert.Contains(missing.Message, "'Class'");
        Assert.Throws<ArgumentException>(() => ml.Generative().GenerativeAdversarialNetwork(ConditionalTests.Gan("Label")).GetOutputSchema(Shape(data.Schema)));

        // A float label is not a category: the error says how to make it one.
        var floats = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 50).Select(i => new FloatLabelRow { Features = new float[4], Label = i % 2 }));
        var scalar = Assert.Throws<ArgumentException>(() => ml.Generative().GenerativeAdversarialNetwork(ConditionalTests.Gan("Label")).Fit(floats));
        StringAssert.Contains(scalar.Message, "expected a key or a known-size vector of Single");
        StringAssert.Contains(scalar.Message, "MapValueToKey");
        var text = Assert.Throws<ArgumentException>(() => ml.Generative().VariationalAutoencoder(ConditionalTests.Vae("Species")).Fit(data));
        StringAssert.Contains(text.Message, "MapValueToKey");
        Assert.Throws<ArgumentException>(() => ml.Generative().VariationalAutoencoder(ConditionalTests.Vae("Species")).GetOutputSchema(Shape(data.Schema)));

        // The condition cannot be the features themselves.
        var same = Assert.Throws<ArgumentException>(() => ml.Generative().VariationalAutoencoder(ConditionalTests.Vae("Features")));
        StringAssert.Contains(same.Message, "Must differ from FeatureColumnName");
        Assert.Throws<ArgumentException>(() => ml.Generative().GenerativeAdversarialNetwork(ConditionalTests.Gan(" ")));
    }

    [TestMethod]
    public void MissingKeyInATrainingRowFailsWithTheRowOrIsSkipped()
    {
        var ml = new MLContext(seed: 1);
        var rows = ConditionalTestData.Classes(60);
        rows[7].Class = 99;   // beyond the key's 3 values: read as ML.NET's missing key (raw 0)
        var data = ml.Data.LoadFromEnumerable(rows);
        var e = Assert.Throws<InvalidOperationException>(() => ml.Generative().VariationalAutoencoder(ConditionalTests.Vae("Class", epochs: 1)).Fit(data));
        StringAssert.Contains(e.Message, "condition column 'Class' has a missing key value");
        StringAssert.Contains(e.Message, "at row 7 (0-based)");
        var skip = ConditionalTests.Vae("Class", epochs: 1);
        skip.SkipRowsWithNonFiniteValues = true;
        var model = ml.Generative().VariationalAutoencoder(skip).Fit(data);
        Assert.AreEqual(59, model.TrainingHistory[0].Rows);
        // At Transform, a row with a missing key gets NaN outputs (like a NaN feature), its neighbours are unaffected.
        var scores = model.Transform(data).GetColumn<float>("Score").ToArray();
        Assert.IsTrue(float.IsNaN(scores[7]) && scores.Where((s, i) => i != 7).All(float.IsFinite));

        // A NaN in a vector condition is treated like a NaN feature.
        rows = ConditionalTestData.Classes(60);
        rows[3].Context[1] = float.NaN;
        var nan = Assert.Throws<InvalidOperationException>(() => ml.Generative().GenerativeAdversarialNetwork(ConditionalTests.Gan("Context", 1)).Fit(ml.Data.LoadFromEnumerable(rows)));
        StringAssert.Contains(nan.Message, "condition column 'Context' has a non-finite value at slot 1 at row 3");
    }

    [TestMethod]
    public void ScoringDataWithoutTheConditionOrWithAnotherOneFails()
    {
        var ml = new MLContext(seed: 1);
        var data = Data(ml);
        var vae = ml.Generative().VariationalAutoencoder(ConditionalTests.Vae("Class", epochs: 1)).Fit(data);
        var gan = ml.Generative().GenerativeAdversarialNetwork(ConditionalTests.Gan("Context", epochs: 1)).Fit(data);
        var featuresOnly = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 5).Select(_ => new FloatLabelRow { Features = new float[4] }));
        var missing = Assert.Throws<ArgumentException>(() => vae.Transform(featuresOnly));
        StringAssert.Contains(missing.Message, "Condition column 'Class' was not found in the scored data");
        Assert.Throws<ArgumentException>(() => gan.GetOutputSchema(featuresOnly.Schema));
        Assert.Throws<ArgumentException>(() => ml.Model.CreatePredictionEngine<FloatLabelRow, ConditionalTests.VaeScore>(vae));

        // A key of another cardinality, a vector of another size.
        var other = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 5).Select(_ => new OtherKeyRow { Features = new float[4], Class = 1, Context = new float[3] }));
        var cardinality = Assert.Throws<ArgumentException>(() => vae.Transform(other));
        StringAssert.Contains(cardinality.Message, "trained on a key with 3 values, got 5");
        var size = Assert.Throws<ArgumentException>(() => gan.Transform(other));
        StringAssert.Contains(size.Message, "trained on vectors of 2 values");

        // Key values that differ from the training data's (another mapping).
        var mapped = ml.Transforms.Conversion.MapValueToKey("SpeciesKey", "Species")
            .Append(ml.Generative().VariationalAutoencoder(ConditionalTests.Vae("SpeciesKey", 1))).Fit(data).LastTransformer;
        var reversed = ml.Transforms.Conversion.MapValueToKey("SpeciesKey", "Species", keyOrdinality: Transforms.ValueToKeyMappingEstimator.KeyOrdinality.ByValue);
        var rows = ConditionalTestData.Classes(6).Reverse().ToArray();   // Gentoo first
        var remapped = reversed.Fit(ml.Data.LoadFromEnumerable(rows.Select(r => new ClassRow { Features = r.Features, Class = r.Class, Context = r.Context, Species = r.Species == "Adelie" ? "Zebra" : r.Species })));
        var e = Assert.Throws<ArgumentException>(() => mapped.Transform(remapped.Transform(ml.Data.LoadFromEnumerable(rows))));
        StringAssert.Contains(e.Message, "key values differ");
    }

    [TestMethod]
    public void SampleNamesTheKnownValuesAndTheRightOverload()
    {
        var ml = new MLContext(seed: 1);
        var data = Data(ml);
        var vae = ml.Transforms.Conversion.MapValueToKey("SpeciesKey", "Species")
            .Append(ml.Generative().VariationalAutoencoder(ConditionalTests.Vae("SpeciesKey", 1))).Fit(data).LastTransformer;
        var unknown = Assert.Throws<ArgumentException>(() => vae.Sample(10, "Emperor", seed: 1));
        StringAssert.Contains(unknown.Message, "Unknown condition value 'Emperor'");
        StringAssert.Contains(unknown.Message, "'Adelie', 'Chinstrap', 'Gentoo'");
        Assert.Throws<ArgumentException>(() => vae.Sample(10, 4u, seed: 1));     // raw keys are 1 … 3
        Assert.Throws<ArgumentException>(() => vae.Sample(10, 0u, seed: 1));
        Assert.Throws<ArgumentException>(() => vae.Sample(10, new[] { 1f, 2f }, seed: 1));   // a key model takes a value, not a vector
        // Sample(count, seed) draws the conditions (ConditionalSampleTests); Encode and Decode need them.
        // Each names what to use instead (a review found Encode pointing to a Sample overload).
        StringAssert.Contains(Assert.Throws<InvalidOperationException>(() => vae.Encode(new[] { new float[4] })).Message, "Transform");
        StringAssert.Contains(Assert.Throws<InvalidOperationException>(() => vae.Decode(new[] { new float[2] })).Message, "Decode(latentCodes, condition)");
        Assert.Throws<ArgumentException>(() => vae.Sample(0, "Gentoo", seed: 1));

        // A key without key values takes raw keys (any integer type), and says so.
        var gan = ml.Generative().GenerativeAdversarialNetwork(ConditionalTests.Gan("Class", 1)).Fit(data);
        Assert.AreEqual(5, gan.Sample(5, 2, seed: 1).GetColumn<float[]>("Features").Count());
        var text = Assert.Throws<ArgumentException>(() => gan.Sample(5, "Gentoo", seed: 1));
        StringAssert.Contains(text.Message, "raw key, a uint from 1 to 3");
        StringAssert.Contains(Assert.Throws<InvalidOperationException>(() => gan.Generate(new[] { new float[4] })).Message, "Generate(latentCodes, condition)");
        Assert.Throws<ArgumentException>(() => gan.Generate(new[] { new float[4] }, 7u));
        Assert.Throws<ArgumentException>(() => vae.Decode(new[] { new float[2] }, "Emperor"));

        // Vector conditions: the size and finiteness are checked.
        var vector = ml.Generative().GenerativeAdversarialNetwork(ConditionalTests.Gan("Context", 1)).Fit(data);
        var size = Assert.Throws<ArgumentException>(() => vector.Sample(5, new[] { 1f, 2f, 3f }, seed: 1));
        StringAssert.Contains(size.Message, "3 values; the model was trained on condition column 'Context' with 2");
        Assert.Throws<ArgumentException>(() => vector.Sample(5, new[] { 1f, float.NaN }, seed: 1));
        Assert.Throws<ArgumentException>(() => vector.Sample(5, "Gentoo", seed: 1));

        // An unconditional model refuses a condition.
        var plain = ml.Generative().VariationalAutoencoder(new VariationalAutoencoderOptions { NumberOfEpochs = 1, Likelihood = VaeLikelihood.GaussianLearnedVariance }).Fit(data);
        Assert.IsNull(plain.ConditionColumnName);
        var none = Assert.Throws<ArgumentException>(() => plain.Sample(5, "Gentoo", seed: 1));
        StringAssert.Contains(none.Message, "unconditional");
    }
}
