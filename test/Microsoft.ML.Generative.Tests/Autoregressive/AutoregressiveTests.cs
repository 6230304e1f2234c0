using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Autoregressive;
using Microsoft.ML.Generative.Data;
using Microsoft.ML.Generative.Training;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Tests.Autoregressive;

[TestClass]
public sealed class AutoregressiveTests
{
    internal static AutoregressiveModelOptions Small(SequenceArchitecture architecture, int epochs = 2) => new()
    {
        Architecture = architecture,
        EmbeddingDimension = 16,
        HiddenSize = 32,
        NumberOfLayers = 2,
        NumberOfHeads = 2,
        ContextLength = 8,
        NumberOfEpochs = epochs,
        BatchSize = 16,
        WarmupSteps = 5,
        Seed = 1,
    };

    internal static AutoregressiveModelTransformer Train(AutoregressiveModelOptions options, TextRow[] rows, out IDataView data, out MLContext ml)
    {
        ml = new MLContext(seed: 1);
        data = ml.Data.LoadFromEnumerable(rows);
        return ml.Generative().AutoregressiveModel(options).Fit(data);
    }

    private static double[] Scores(AutoregressiveModelTransformer model, MLContext ml, IEnumerable<string?> texts)
        => model.Transform(ml.Data.LoadFromEnumerable(texts.Select(t => new TextRow { Text = t }).ToArray()))
            .GetColumn<float>("LogLikelihood").Select(v => (double)v).ToArray();

    /// <summary>log p(x) computed one prefix at a time, with a fresh forward pass per step, in float64.</summary>
    private static double IndependentLogLikelihood(AutoregressiveModelTransformer model, string text)
    {
        var ids = new List<int> { Vocabulary.Boundary };
        model.Vocabulary.EncodeText(text, ids);
        ids.Add(Vocabulary.Boundary);
        double sum = 0;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        for (int t = 1; t < ids.Count; t++)
        {
            int start = model.Architecture == SequenceArchitecture.Transformer ? Math.Max(0, t - model.ContextLength) : 0;
            var prefix = tensor(ids.Skip(start).Take(t - start).Select(i => (long)i).ToArray()).unsqueeze(0);   // [1, t]
            var logits = model.Network.forward(prefix)[0, -1].to_type(ScalarType.Float64);                    // [V]
            sum += logits.log_softmax(0)[ids[t]].item<double>();
        }
        return sum;
    }

    [TestMethod]
    [DataRow(SequenceArchitecture.Transformer)]
    [DataRow(SequenceArchitecture.Gru)]
    [DataRow(SequenceArchitecture.Lstm)]
    public void LearnsADeterministicPatternToNearZeroNll(SequenceArchitecture architecture)
    {
        var options = Small(architecture, epochs: 10);
        options.ContextLength = 12;
        options.BatchSize = 32;
        options.LearningRate = 1e-2;
        options.WarmupSteps = 10;
        var model = Train(options, SequenceTestData.TwoPatterns(512), out _, out var ml);
        double nll = model.TrainingHistory[^1].TrainingLosses["Nll"];
        // A perfect model pays log 2 / 11 = 0.063 nats per token; a uniform one log V = 1.9.
        Assert.IsTrue(nll < 0.12, $"final training NLL {nll}");
        var ll = Scores(model, ml, new[] { "abcabcabca", "xyzxyzxyzx", "abcabcabcx" });
        Assert.AreEqual(-Math.Log(2), ll[0], 0.15);
        Assert.AreEqual(-Math.Log(2), ll[1], 0.15);
        Assert.IsTrue(ll[2] < ll[0] - 3, $"a broken pattern must be far less likely: {ll[2]} vs {ll[0]}");
    }

    [TestMethod]
    [DataRow(SequenceArchitecture.Transformer)]
    [DataRow(SequenceArchitecture.Gru)]
    public void LogLikelihoodIsTheSumOfIndependentPerStepLogSoftmax(SequenceArchitecture architecture)
    {
        var model = Train(Small(architecture), SequenceTestData.Names(200), out _, out var ml);
        // Short ones (exact for both) and, for the GRU, one longer than the context (state carried: still exact).
        var texts = new List<string> { "", "ma", "marianna", "jonelika" };
        if (architecture == SequenceArchitecture.Gru)
            texts.Add("marianajoselikatorane");
        var scores = Scores(model, ml, texts);
        for (int i = 0; i < texts.Count; i++)
        {
            double expected = IndependentLogLikelihood(model, texts[i]);
            Assert.AreEqual(expected, scores[i], 1e-4 * Math.Max(1, Math.Abs(expected)), texts[i]);
        }
        var counts = model.Transform(ml.Data.LoadFromEnumerable(texts.Select(t => new TextRow { Text = t })))
            .GetColumn<float>("TokenCount").ToArray();
        CollectionAssert.AreEqual(texts.Select(t => (float)(t.Length + 1)).ToArray(), counts);
    }

    [TestMethod]
    public void TransformerScoresLongSequencesWithASlidingWindow()
    {
        var model = Train(Small(SequenceArchitecture.Transformer), SequenceTestData.Names(200), out _, out var ml);
        // 21 characters, 22 targets, context 8: windows, each target conditioned on ≥ 4 previous tokens.
        string text = "marianajoselikatorane";
        var ids = new List<int> { Vocabulary.Boundary };
        model.Vocabulary.EncodeText(text, ids);
        ids.Add(Vocabulary.Boundary);
        int c = model.ContextLength, stride = (c + 1) / 2;
        double expected = 0;
        using (var scope = NewDisposeScope())
        using (var noGrad = no_grad())
        {
            int targets = ids.Count - 1;
            void Window(int a, int from)
            {
                var x = tensor(ids.Skip(a).Take(c).Select(i => (long)i).ToArray()).unsqueeze(0);
                var lp = model.Network.forward(x)[0].to_type(ScalarType.Float64).log_softmax(-1);
                for (int j = from; j < c; j++) expected += lp[j, ids[a + j + 1]].item<double>();
            }
            Window(0, 0);
            for (int p = c; p < targets; p += stride)
            {
                int end = Math.Min(p + stride, targets);
                Window(end - c, p - (end - c));
            }
        }
        double score = Scores(model, ml, new[] { text })[0];
        Assert.AreEqual(expected, score, 1e-4 * Math.Abs(expected));
        Assert.IsTrue(double.IsFinite(score));
    }

    [TestMethod]
    [DataRow(SequenceArchitecture.Transformer)]
    [DataRow(SequenceArchitecture.Lstm)]
    public void PaddingDoesNotChangeARowsScore(SequenceArchitecture architecture)
    {
        var model = Train(Small(architecture), SequenceTestData.Names(200), out _, out var ml);
        double alone = Scores(model, ml, new[] { "ma" })[0];
        var batch = Scores(model, ml, new[] { "ma", "marianna", "elijo", "ma", "karatone" });
        Assert.AreEqual(alone, batch[0], 1e-5 * Math.Max(1, Math.Abs(alone)));
        Assert.AreEqual(alone, batch[3], 1e-5 * Math.Max(1, Math.Abs(alone)));
    }

    [TestMethod]
    public void CausalMaskHidesLaterTokens()
    {
        var model = Train(Small(SequenceArchitecture.Transformer, epochs: 1), SequenceTestData.Names(64), out _, out _);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var a = tensor(new long[] { 0, 2, 3, 4, 5, 6, 7 }).unsqueeze(0);
        for (int t = 0; t < 6; t++)
        {
            var b = a.clone();
            b[0, t + 1] = tensor(2L + (a[0, t + 1].item<long>() + 1 - 2) % (model.VocabularySize - 2));
            var la = model.Network.forward(a);
            var lb = model.Network.forward(b);
            Assert.IsTrue(la.narrow(1, 0, t + 1).allclose(lb.narrow(1, 0, t + 1), rtol: 0, atol: 1e-6), $"position {t} saw token {t + 1}");
            Assert.IsFalse(la[0, t + 1].allclose(lb[0, t + 1]), $"position {t + 1} must see its own token");
        }
    }

    [TestMethod]
    [DataRow(SequenceArchitecture.Transformer)]
    [DataRow(SequenceArchitecture.Gru)]
    public void KvCachedGenerationEqualsUncachedTokenForToken(SequenceArchitecture architecture)
    {
        var model = Train(Small(architecture), SequenceTestData.Names(200), out _, out _);
        var prompt = model.EncodePrompt("ma");
        // 30 tokens: beyond the context of 8, so the sliding part is compared as well.
        var cached = model.GenerateIds(16, prompt, temperature: 1.5, topK: 0, topP: 1, maxTokens: 30, seed: 5, useCache: true);
        var uncached = model.GenerateIds(16, prompt, temperature: 1.5, topK: 0, topP: 1, maxTokens: 30, seed: 5, useCache: false);
        for (int i = 0; i < cached.Length; i++)
            CollectionAssert.AreEqual(uncached[i], cached[i], $"sequence {i}");
        Assert.IsTrue(cached.Any(s => s.Count > model.ContextLength), "some sequence should outgrow the context at temperature 1.5");
    }

    [TestMethod]
    public void CachedStepLogitsEqualAFullForwardPass()
    {
        var model = Train(Small(SequenceArchitecture.Transformer, epochs: 1), SequenceTestData.Names(64), out _, out _);
        using var scope = NewDisposeScope();
        using var inference = inference_mode();
        var ids = new long[] { 0, 2, 5, 3, 7, 4, 2, 6 };
        var full = model.Network.forward(tensor(ids).unsqueeze(0))[0];                       // [8, V]
        using var state = model.Network.Start(1);
        var first = model.Network.Step(tensor(ids.Take(3).ToArray()).unsqueeze(0), state);    // after token 2
        Assert.IsTrue(first[0].allclose(full[2], rtol: 1e-4, atol: 1e-5));
        for (int t = 3; t < ids.Length; t++)
        {
            var step = model.Network.Step(tensor(new[] { ids[t] }).unsqueeze(0), state);
            Assert.IsTrue(step[0].allclose(full[t], rtol: 1e-4, atol: 1e-5), $"position {t}");
        }
    }

    [TestMethod]
    public void GenerationIsSeededAndRespectsItsLimits()
    {
        var model = Train(Small(SequenceArchitecture.Transformer, epochs: 3), SequenceTestData.Names(300), out _, out var ml);
        var a = model.GenerateText(20, "", temperature: 0.8, topK: 0, topP: 0.95, maxTokens: 12, seed: 7);
        var b = model.GenerateText(20, "", temperature: 0.8, topK: 0, topP: 0.95, maxTokens: 12, seed: 7);
        var c = model.GenerateText(20, "", temperature: 0.8, topK: 0, topP: 0.95, maxTokens: 12, seed: 8);
        CollectionAssert.AreEqual(a, b);
        CollectionAssert.AreNotEqual(a, c);
        Assert.IsTrue(a.All(s => s.Length <= 12));
        Assert.IsTrue(a.All(s => s.All(ch => model.Tokens.Contains(ch.ToString()))));

        // top-k = 1 is greedy: every sequence is the same, whatever the seed.
        var greedy = model.GenerateText(5, "ma", topK: 1, seed: 1).Concat(model.GenerateText(5, "ma", topK: 1, seed: 2)).Distinct().ToArray();
        Assert.HasCount(1, greedy);
        StringAssert.StartsWith(greedy[0], "ma");
        Assert.AreEqual(greedy[0], model.Complete("ma", topK: 1, seed: 9));

        var view = model.Generate(4, "jo", seed: 3);
        var texts = view.GetColumn<string>("Text").ToArray();
        Assert.HasCount(4, texts);
        Assert.IsTrue(texts.All(t => t.StartsWith("jo", StringComparison.Ordinal)));
    }

    [TestMethod]
    public void NucleusSamplingKeepsOnlyTheSmallestSetHoldingP()
    {
        using var scope = NewDisposeScope();
        // probabilities 0.5, 0.3, 0.15, 0.05 at ids 2..5 (ids 0 and 1 impossible)
        var logits = tensor(new[] { float.NegativeInfinity, 0f, MathF.Log(0.5f), MathF.Log(0.3f), MathF.Log(0.15f), MathF.Log(0.05f) }).unsqueeze(0).repeat(20000, 1);
        using var g = new Generator(1);
        var drawn = AutoregressiveModelTransformer.Sample(logits, 1.0, 0, 0.8, g).data<long>().ToArray();
        // 0.5 + 0.3 = 0.8 ≥ p: only ids 2 and 3 remain, renormalized to 0.625 / 0.375.
        CollectionAssert.AreEquivalent(new long[] { 2, 3 }, drawn.Distinct().ToArray());
        Assert.AreEqual(0.625, drawn.Count(d => d == 2) / 20000.0, 0.015);
        var topK = AutoregressiveModelTransformer.Sample(logits, 1.0, 3, 1.0, g).data<long>().ToArray();
        CollectionAssert.AreEquivalent(new long[] { 2, 3, 4 }, topK.Distinct().ToArray());
    }

    [TestMethod]
    public void SameSeedTrainsTheSameModel()
    {
        var rows = SequenceTestData.Names(100);
        var a = Train(Small(SequenceArchitecture.Transformer, 1), rows, out _, out var ml);
        var b = Train(Small(SequenceArchitecture.Transformer, 1), rows, out _, out _);
        CollectionAssert.AreEqual(Scores(a, ml, new[] { "mari", "kato" }), Scores(b, ml, new[] { "mari", "kato" }));
    }

    [TestMethod]
    public void NullAndUnknownTextAreScoredNotRejected()
    {
        var model = Train(Small(SequenceArchitecture.Transformer), SequenceTestData.Names(200), out _, out var ml);
        var scored = model.Transform(ml.Data.LoadFromEnumerable(new[] { new TextRow { Text = null }, new TextRow { Text = "" }, new TextRow { Text = "maQ" }, new TextRow { Text = "mar" } }));
        var ll = scored.GetColumn<float>("LogLikelihood").ToArray();
        var count = scored.GetColumn<float>("TokenCount").ToArray();
        var ppl = scored.GetColumn<float>("Perplexity").ToArray();
        Assert.AreEqual(ll[0], ll[1]);   // null = empty: only the end token
        Assert.AreEqual(1f, count[0]);
        Assert.IsTrue(float.IsFinite(ll[2]) && ll[2] < ll[3], $"an unseen character gets a low, finite likelihood: {ll[2]} vs {ll[3]}");
        Assert.AreEqual(Math.Exp(-ll[3] / 4.0), ppl[3], 1e-3 * ppl[3]);
    }

    [TestMethod]
    public void EpochLossesArePerTokenAndValidationIsReported()
    {
        var options = Small(SequenceArchitecture.Gru, 2);
        options.ValidationFraction = 0.2;
        options.LabelSmoothing = 0.1;
        var model = Train(options, SequenceTestData.Names(200), out _, out _);
        var last = model.TrainingHistory[^1];
        Assert.IsNotNull(last.ValidationLosses);
        Assert.IsTrue(last.TrainingLosses["Loss"] > last.TrainingLosses["Nll"], "label smoothing adds to the loss");
        Assert.IsTrue(last.ValidationLosses!["Nll"] < Math.Log(model.VocabularySize), "validation NLL below a uniform model's");
        Assert.AreEqual(160, last.Rows);
    }

    [TestMethod]
    public void WarmupCosineScheduleFollowsItsFormula()
    {
        var settings = new TrainingSettings(1, 1, 0, null, default) { Schedule = LearningRateSchedule.WarmupCosine, WarmupSteps = 10, MinimumLearningRateFraction = 0.1 };
        Assert.AreEqual(0.1, settings.LearningRateFactor(1, 110)!.Value, 1e-12);
        Assert.AreEqual(1.0, settings.LearningRateFactor(10, 110)!.Value, 1e-12);
        Assert.AreEqual(0.55, settings.LearningRateFactor(60, 110)!.Value, 1e-12);   // halfway: m + (1 − m)/2
        Assert.AreEqual(0.1, settings.LearningRateFactor(110, 110)!.Value, 1e-12);
        Assert.IsNull((settings with { Schedule = LearningRateSchedule.Constant }).LearningRateFactor(5, 110));
    }

    [TestMethod]
    public void ScheduleChangesTheTrainedModelOnlyWhenOn()
    {
        var rows = SequenceTestData.Names(64);
        var constant = Small(SequenceArchitecture.Gru, 1);
        constant.LearningRateSchedule = LearningRateSchedule.Constant;
        var scheduled = Small(SequenceArchitecture.Gru, 1);
        var a = Train(constant, rows, out _, out var ml);
        var b = Train(scheduled, rows, out _, out _);
        Assert.AreNotEqual(Scores(a, ml, new[] { "mari" })[0], Scores(b, ml, new[] { "mari" })[0]);
    }

    [TestMethod]
    public void ParameterCountMatchesTheBuiltNetwork()
    {
        foreach (var kind in new[] { SequenceArchitecture.Gru, SequenceArchitecture.Lstm, SequenceArchitecture.Transformer })
        foreach (bool tie in new[] { false, true })
        {
            if (tie && kind != SequenceArchitecture.Transformer) continue;
            var a = new SequenceNetworkArchitecture(kind, 27, 16, 32, 2, 4, 12, 0, tie);
            using var net = SequenceNetwork.Create(a);
            Assert.AreEqual(net.parameters().Sum(p => p.numel()), a.ParameterCount, $"{kind} tie={tie}");
        }
        // The anchor sizes: GRU 66.6k, Transformer 104k (context 16).
        Assert.AreEqual(66_555, new SequenceNetworkArchitecture(SequenceArchitecture.Gru, 27, 32, 128, 1, 1, 16, 0, false).ParameterCount);
    }

    [TestMethod]
    public void SequenceBatchesAreBucketedPaddedAndComplete()
    {
        var sequences = Enumerable.Range(0, 100).Select(i => Enumerable.Range(0, 2 + i % 13).ToArray()).ToList();
        using var source = new SequenceBatchSource(sequences, contextLength: 5, bucketShuffled: true);
        using var g = new Generator(3);
        long tokens = 0, rows = 0, batches = 0, padding = 0;
        foreach (var batch in source.Batches(8, shuffle: true, g, 1))
        {
            padding += batch.Rows * batch.Inputs.shape[1] - batch.TokenCount;
            using var scope = NewDisposeScope();
            batches++;
            rows += batch.Rows;
            tokens += batch.TokenCount;
            Assert.AreEqual(batch.TokenCount, batch.Targets.ne(SequenceBatch.IgnoreIndex).sum().item<long>());
            Assert.IsTrue(batch.Inputs.shape[1] <= 5);
            batch.Inputs.Dispose();
            batch.Targets.Dispose();
        }
        Assert.AreEqual(source.Rows, rows);
        Assert.AreEqual(source.TokenCount, tokens);
        Assert.AreEqual(sequences.Sum(s => s.Length - 1), tokens);
        Assert.AreEqual((source.Rows + 7) / 8, batches);
        // Bucketed: almost no padding (windows of 1 … 5 targets, sorted in chunks of 32 batches).
        Assert.IsTrue(padding < tokens / 10, $"padding {padding} for {tokens} tokens");
    }

    [TestMethod]
    [DataRow(SequenceArchitecture.Transformer)]
    [DataRow(SequenceArchitecture.Lstm)]
    public void NoTensorOutlivesFitScoringOrGeneration(SequenceArchitecture architecture)
    {
        var rows = SequenceTestData.Names(100);
        Train(Small(architecture, 1), rows, out _, out _).Dispose();   // warm-up: lazily created native state
        var stats = TorchSharp.DisposeScopeManager.Statistics;
        long before = stats.ThreadTotalLiveCount;
        var model = Train(Small(architecture, 1), rows, out _, out var ml);
        long afterFit = stats.ThreadTotalLiveCount;
        Scores(model, ml, new[] { "", "mari", "marianajoselikatorane" });
        model.GenerateText(4, "ma", maxTokens: 20, seed: 1);
        model.GenerateIds(4, model.EncodePrompt(""), 1, 0, 1, 20, 1, useCache: false);
        model.NextTokenProbabilities("mar");
        Assert.AreEqual(afterFit, stats.ThreadTotalLiveCount, "scoring or generation left tensors alive");
        model.Dispose();
        Assert.AreEqual(before, stats.ThreadTotalLiveCount, "Fit left tensors alive beyond the model's weights");
    }
}
