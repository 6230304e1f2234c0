using System;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Autoregressive;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Generative.Tests.Autoregressive;

[TestClass]
public sealed class AutoregressiveInputTests
{
    public sealed class FloatRow
    {
        public float Text { get; set; }
    }

    private static void ExpectArgument(Action action, params string[] fragments)
    {
        var e = Assert.Throws<ArgumentException>(action);
        foreach (var f in fragments)
            StringAssert.Contains(e.Message, f);
    }

    [TestMethod]
    public void CharacterKeysRouteCompactsTheVocabularyAndDecodesGeneratedText()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(SequenceTestData.Names(200));
        var options = AutoregressiveTests.Small(SequenceArchitecture.Transformer);
        options.InputColumnName = "Keys";
        var pipeline = ml.Transforms.Text.TokenizeIntoCharactersAsKeys("Keys", "Text", useMarkerCharacters: false)
            .Append(ml.Generative().AutoregressiveModel(options));
        var model = pipeline.Fit(data);
        var ar = model.LastTransformer;
        // The key type has 65,535 values; the model keeps only the characters of the data (plus ⟨s⟩ and ⟨unk⟩).
        int distinct = SequenceTestData.Names(200).SelectMany(r => r.Text!).Distinct().Count();
        Assert.AreEqual(distinct + 2, ar.VocabularySize);
        Assert.AreEqual(distinct, ar.KeyValues.Count);
        var texts = ar.GenerateText(5, "ma", seed: 2);
        Assert.IsTrue(texts.All(t => t.StartsWith("ma", StringComparison.Ordinal) && t.All(char.IsLetter)), string.Join(",", texts));
        var scored = model.Transform(data);
        var counts = scored.GetColumn<float>("TokenCount").ToArray();
        CollectionAssert.AreEqual(SequenceTestData.Names(200).Select(r => (float)r.Text!.Length + 1).ToArray(), counts);
        Assert.IsTrue(scored.GetColumn<float>("LogLikelihood").All(float.IsFinite));
    }

    [TestMethod]
    public void WordKeysRouteGeneratesWords()
    {
        var ml = new MLContext(seed: 1);
        var rows = Enumerable.Range(0, 120).Select(i => new TextRow { Text = i % 3 == 0 ? "the cat sat" : i % 3 == 1 ? "the dog ran" : "a cat ran" }).ToArray();
        var data = ml.Data.LoadFromEnumerable(rows);
        var options = AutoregressiveTests.Small(SequenceArchitecture.Gru, 4);
        options.InputColumnName = "Keys";
        var model = ml.Transforms.Text.TokenizeIntoWords("Words", "Text")
            .Append(ml.Transforms.Conversion.MapValueToKey("Keys", "Words"))
            .Append(ml.Generative().AutoregressiveModel(options)).Fit(data);
        var ar = model.LastTransformer;
        Assert.AreEqual(6 + 2, ar.VocabularySize);
        var words = new[] { "the", "cat", "sat", "dog", "ran", "a" };
        foreach (var text in ar.GenerateText(10, "the", seed: 1))
            Assert.IsTrue(text.Split(' ').All(words.Contains), text);
    }

    [TestMethod]
    public void WordTokenizationJoinsWithSpaces()
    {
        var options = AutoregressiveTests.Small(SequenceArchitecture.Gru, 3);
        options.Tokenization = Tokenization.Words;
        var rows = Enumerable.Range(0, 90).Select(i => new TextRow { Text = i % 2 == 0 ? "red  apple\tpie" : "green apple" }).ToArray();
        var model = AutoregressiveTests.Train(options, rows, out _, out _);
        Assert.AreEqual(4 + 2, model.VocabularySize);
        StringAssert.StartsWith(model.Complete("green", topK: 1), "green apple");
    }

    [TestMethod]
    public void BadOptionsAreRejectedWithTheOptionNamed()
    {
        var ml = new MLContext(seed: 1);
        void Make(Action<AutoregressiveModelOptions> change)
        {
            var o = AutoregressiveTests.Small(SequenceArchitecture.Transformer);
            change(o);
            ml.Generative().AutoregressiveModel(o);
        }
        ExpectArgument(() => Make(o => o.ContextLength = 0), "ContextLength");
        ExpectArgument(() => Make(o => { o.EmbeddingDimension = 30; o.NumberOfHeads = 4; }), "divisible by NumberOfHeads");
        ExpectArgument(() => Make(o => o.NumberOfHeads = 0), "NumberOfHeads");
        ExpectArgument(() => Make(o => o.Dropout = 1), "Dropout");
        ExpectArgument(() => Make(o => o.LabelSmoothing = -0.1), "LabelSmoothing");
        ExpectArgument(() => Make(o => { o.Architecture = SequenceArchitecture.Gru; o.TieWeights = true; }), "TieWeights");
        ExpectArgument(() => Make(o => o.WarmupSteps = -1), "WarmupSteps");
        ExpectArgument(() => Make(o => o.MinimumTokenFrequency = 0), "MinimumTokenFrequency");
    }

    [TestMethod]
    public void BadDataIsRejectedClearly()
    {
        var ml = new MLContext(seed: 1);
        var est = ml.Generative().AutoregressiveModel(AutoregressiveTests.Small(SequenceArchitecture.Gru, 1));
        // Missing column.
        var other = ml.Data.LoadFromEnumerable(new[] { new { Name = "x" } });
        ExpectArgument(() => est.Fit(other), "'Text' was not found");
        // Wrong type.
        ExpectArgument(() => est.Fit(ml.Data.LoadFromEnumerable(new[] { new FloatRow { Text = 1 } })), "expected a String", "got Single");
        // Empty data, and only empty/missing sequences.
        var empty = Assert.Throws<InvalidOperationException>(() => est.Fit(ml.Data.LoadFromEnumerable(Array.Empty<TextRow>())));
        StringAssert.Contains(empty.Message, "empty");
        var blank = Assert.Throws<InvalidOperationException>(() => est.Fit(ml.Data.LoadFromEnumerable(new[] { new TextRow { Text = "" }, new TextRow { Text = null } })));
        StringAssert.Contains(blank.Message, "All 2 training sequences");
    }

    [TestMethod]
    public void TooLargeAVocabularySaysWhatToDo()
    {
        var options = AutoregressiveTests.Small(SequenceArchitecture.Gru, 1);
        options.Tokenization = Tokenization.Words;
        options.MaximumVocabularySize = 50;
        var rows = Enumerable.Range(0, 100).Select(i => new TextRow { Text = $"w{i % 10} x{i}" }).ToArray();
        ExpectArgument(() => AutoregressiveTests.Train(options, rows, out _, out _), "MaximumVocabularySize = 50", "MinimumTokenFrequency", "Characters");
        options.MinimumTokenFrequency = 2; // rare words → ⟨unk⟩: now it fits
        var model = AutoregressiveTests.Train(options, rows, out _, out _);
        Assert.IsTrue(model.VocabularySize <= 50);
    }

    [TestMethod]
    public void BadGenerationArgumentsAreRejected()
    {
        var model = AutoregressiveTests.Train(AutoregressiveTests.Small(SequenceArchitecture.Gru, 1), SequenceTestData.Names(64), out _, out _);
        ExpectArgument(() => model.Generate(3, temperature: 0), "temperature");
        ExpectArgument(() => model.Generate(3, temperature: -1), "temperature");
        ExpectArgument(() => model.Generate(3, topP: 0), "topP");
        ExpectArgument(() => model.Generate(3, topP: 1.5), "topP");
        ExpectArgument(() => model.Generate(0), "count");
        ExpectArgument(() => model.Generate(3, maxTokens: 0), "maxTokens");
        ExpectArgument(() => model.Generate(3, topK: -1), "topK");
        ExpectArgument(() => model.Complete("maQ!"), "'Q'", "'!'", "never saw");
    }

    [TestMethod]
    public void ScoringTheWrongKindOfColumnIsRejected()
    {
        var model = AutoregressiveTests.Train(AutoregressiveTests.Small(SequenceArchitecture.Gru, 1), SequenceTestData.Names(64), out _, out var ml);
        var keys = ml.Transforms.Text.TokenizeIntoCharactersAsKeys("Text", "Text").Fit(ml.Data.LoadFromEnumerable(SequenceTestData.Names(5)))
            .Transform(ml.Data.LoadFromEnumerable(SequenceTestData.Names(5)));
        ExpectArgument(() => model.Transform(keys), "trained on text");
    }
}
