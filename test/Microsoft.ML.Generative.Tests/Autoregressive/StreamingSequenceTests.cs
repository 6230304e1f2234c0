using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Autoregressive;
using Microsoft.ML.Generative.Data;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Tests.Autoregressive;

/// <summary>
/// Sequences above <c>MaxCachedMegabytes</c> are streamed: read again every epoch, cut into windows, shuffled
/// through a bounded buffer. The same windows as the cached path, every one once per epoch, seeded.
/// </summary>
[TestClass]
public sealed class StreamingSequenceTests
{
    private static readonly Vocabulary Letters = new(SequenceInputKind.Text, Tokenization.Characters,
        Enumerable.Range('a', 26).Select(c => ((char)c).ToString()).ToArray(), Array.Empty<ulong>(), "");

    private static Func<DataViewRow, Func<int[]>> Reader(int index) => row =>
    {
        var column = new SequenceColumn(row, index);
        var ids = new List<int>();
        return () =>
        {
            ids.Clear();
            ids.Add(Vocabulary.Boundary);
            column.Encode(Letters, ids);
            ids.Add(Vocabulary.Boundary);
            return ids.ToArray();
        };
    };

    /// <summary>Each batch row as "inputs|targets" (padding dropped).</summary>
    private static List<string> Windows(BatchSource<SequenceBatch> source, bool shuffle, int epoch, int batchSize, out int batches)
    {
        var windows = new List<string>();
        batches = 0;
        using var g = new Generator(5);
        foreach (var batch in source.Batches(batchSize, shuffle, g, epoch))
        {
            using var scope = NewDisposeScope();
            batches++;
            var inputs = batch.Inputs.data<long>().ToArray();
            var targets = batch.Targets.data<long>().ToArray();
            int t = (int)batch.Inputs.shape[1];
            long counted = 0;
            for (int r = 0; r < batch.Rows; r++)
            {
                var keep = Enumerable.Range(r * t, t).Where(i => targets[i] != SequenceBatch.IgnoreIndex).ToArray();
                counted += keep.Length;
                windows.Add(string.Join(",", keep.Select(i => inputs[i])) + "|" + string.Join(",", keep.Select(i => targets[i])));
            }
            Assert.AreEqual(batch.TokenCount, counted);
            batch.Inputs.Dispose();
            batch.Targets.Dispose();
        }
        return windows;
    }

    [TestMethod]
    public void StreamedEpochsServeTheCachedWindowsOnceEachInSeededOrder()
    {
        var ml = new MLContext(seed: 1);
        // Lengths 0 … 20 characters with a context of 6: short rows, and rows cut into several windows.
        var rows = Enumerable.Range(0, 150).Select(i => new TextRow { Text = new string(Enumerable.Range(0, i % 21).Select(j => (char)('a' + (i + j) % 26)).ToArray()) }).ToArray();
        var data = ml.Data.LoadFromEnumerable(rows);
        int index = data.Schema["Text"].Index;
        var encoded = rows.Select(r => { var ids = new List<int> { 0 }; Letters.EncodeText(r.Text, ids); ids.Add(0); return ids.ToArray(); }).ToList();
        using var cached = new SequenceBatchSource(encoded, contextLength: 6);
        var counts = StreamingSequenceBatchSource.Count(MLContextHost(ml), data, index, Reader(index), _ => 0, 1, 6)[0];
        Assert.AreEqual(150, counts.Sequences);
        Assert.AreEqual(cached.Rows, counts.Windows);
        Assert.AreEqual(cached.TokenCount, counts.Tokens);
        using var streamed = new StreamingSequenceBatchSource(MLContextHost(ml), data, index, Reader(index), _ => true, 6, bufferWindows: 40, seed: 3, counts.Windows, counts.Tokens);

        var expected = Windows(cached, shuffle: false, 0, 8, out _).OrderBy(w => w, StringComparer.Ordinal).ToList();
        var first = Windows(streamed, shuffle: true, 1, 8, out int batches);
        var again = Windows(streamed, shuffle: true, 1, 8, out _);
        var second = Windows(streamed, shuffle: true, 2, 8, out _);
        var evaluation = Windows(streamed, shuffle: false, 0, 8, out int evaluationBatches);
        CollectionAssert.AreEqual(expected, first.OrderBy(w => w, StringComparer.Ordinal).ToList(), "every window once per shuffled epoch");
        CollectionAssert.AreEqual(expected, evaluation.OrderBy(w => w, StringComparer.Ordinal).ToList(), "every window once per evaluation pass");
        Assert.AreEqual((counts.Windows + 7) / 8, batches, "⌈windows / B⌉ batches: only the last is partial");
        Assert.AreEqual((counts.Windows + 7) / 8, evaluationBatches);
        CollectionAssert.AreEqual(first, again, "same seed and epoch, same order");
        CollectionAssert.AreNotEqual(first, second, "each epoch is shuffled anew");
        CollectionAssert.AreNotEqual(first, Windows(streamed, shuffle: false, 0, 8, out _), "shuffled, not read order");
    }

    [TestMethod]
    public void StreamedTrainingLearnsLikeCachedTrainingAndIsDeterministic()
    {
        var rows = SequenceTestData.Names(300);
        AutoregressiveModelOptions Options(int cap)
        {
            var o = AutoregressiveTests.Small(SequenceArchitecture.Gru, 3);
            o.MaxCachedMegabytes = cap;   // 0: always stream
            o.ValidationFraction = 0.2;
            return o;
        }
        var cached = AutoregressiveTests.Train(Options(1024), rows, out _, out var ml);
        var streamed = AutoregressiveTests.Train(Options(0), rows, out _, out _);
        var again = AutoregressiveTests.Train(Options(0), rows, out _, out _);
        var c = cached.TrainingHistory[^1];
        var s = streamed.TrainingHistory[^1];
        Assert.IsNotNull(s.ValidationLosses, "the streamed hold-out is evaluated");
        // The streamed hold-out is a seeded hash of the row IDs (about 20%, not exactly 60 rows).
        Assert.IsTrue(s.Rows is > 200 and < 280, $"streamed training windows: {s.Rows}");
        Assert.AreEqual(240, c.Rows);
        double cachedNll = c.ValidationLosses!["Nll"], streamedNll = s.ValidationLosses!["Nll"];
        Assert.IsTrue(streamedNll < Math.Log(cached.VocabularySize) - 0.3, $"streamed validation NLL {streamedNll} (cached {cachedNll}) well below a uniform model's {Math.Log(cached.VocabularySize)}");
        Assert.IsTrue(Math.Abs(streamedNll - cachedNll) < 0.15, $"streamed {streamedNll} vs cached {cachedNll} nats/token");

        var probe = ml.Data.LoadFromEnumerable(new[] { new TextRow { Text = "marina" }, new TextRow { Text = "zzq" } });
        CollectionAssert.AreEqual(streamed.Transform(probe).GetColumn<float>("LogLikelihood").ToArray(),
            again.Transform(probe).GetColumn<float>("LogLikelihood").ToArray(), "same seed, same streamed model");
    }

    [TestMethod]
    public void StreamedValidationDataAndEmptyDataBehaveAsCached()
    {
        var ml = new MLContext(seed: 1);
        var options = AutoregressiveTests.Small(SequenceArchitecture.Transformer, 1);
        options.MaxCachedMegabytes = 0;
        var est = ml.Generative().AutoregressiveModel(options);
        var model = est.Fit(ml.Data.LoadFromEnumerable(SequenceTestData.Names(120)), ml.Data.LoadFromEnumerable(SequenceTestData.Names(40, seed: 9)));
        Assert.IsNotNull(model.TrainingHistory[^1].ValidationLosses);
        Assert.AreEqual(120, model.TrainingHistory[^1].Rows);

        var empty = Assert.Throws<InvalidOperationException>(() => est.Fit(ml.Data.LoadFromEnumerable(Array.Empty<TextRow>())));
        StringAssert.Contains(empty.Message, "empty");
        var blank = Assert.Throws<InvalidOperationException>(() => est.Fit(ml.Data.LoadFromEnumerable(new[] { new TextRow { Text = "" }, new TextRow { Text = null } })));
        StringAssert.Contains(blank.Message, "All 2 training sequences");
    }

    private static Microsoft.ML.Runtime.IHost MLContextHost(MLContext ml) => ((Microsoft.ML.Runtime.IHostEnvironment)ml).Register("test");
}
