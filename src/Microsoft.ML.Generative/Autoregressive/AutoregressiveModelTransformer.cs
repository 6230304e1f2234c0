using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Autoregressive;
using Microsoft.ML.Generative.Persistence;
using Microsoft.ML.Generative.Scoring;
using Microsoft.ML.Generative.Training;
using Microsoft.ML.Runtime;
using TorchSharp;
using static TorchSharp.torch;

[assembly: LoadableClass(typeof(AutoregressiveModelTransformer), null, typeof(SignatureLoadModel),
    "Autoregressive Model", AutoregressiveModelTransformer.LoaderSignature)]
[assembly: LoadableClass(typeof(IRowMapper), typeof(AutoregressiveModelTransformer), null, typeof(SignatureLoadRowMapper),
    "Autoregressive Model", AutoregressiveModelTransformer.LoaderSignature)]

namespace Microsoft.ML.Generative.Autoregressive;

/// <summary>
/// A trained next-token model. <see cref="GenerativeTransformerCore.Transform"/> adds three <see cref="float"/>
/// columns per sequence: <c>LogLikelihood</c> (log p(x) in nats, the end of the sequence included), <c>TokenCount</c>
/// (n + 1 for n tokens: the end token is predicted too) and <c>Perplexity</c> = exp(−LogLikelihood / TokenCount), a
/// length-normalized anomaly score. It also generates (<see cref="Generate"/>) and completes (<see cref="Complete"/>)
/// sequences.
/// </summary>
/// <remarks>
/// <para>log p(x) = Σ_{t=1}^{n+1} log softmax(f(⟨s⟩, x₁ … x_{t−1}))[x_t] with x_{n+1} = ⟨s⟩ (the end): the exact
/// log-probability of the whole sequence, its length included, for sequences of at most ContextLength + 1 tokens
/// with the Transformer and for any length with a GRU/LSTM (run over the whole sequence, state carried).</para>
/// <para>Longer sequences with the Transformer are scored with a sliding window (an approximation): the first
/// ContextLength targets as usual, then blocks of S = ⌈ContextLength / 2⌉ targets, each conditioned on the
/// ContextLength tokens before its end, so every token sees at least ContextLength − S previous tokens.</para>
/// <para>Tokens never seen in training (and missing keys) are scored as the unknown token ⟨unk⟩, with the probability
/// the model gives ⟨unk⟩: learned when <see cref="AutoregressiveModelOptions.MinimumTokenFrequency"/> &gt; 1 maps rare
/// training tokens to it, otherwise (never a training target) small, so the row gets a low but finite likelihood.
/// Generation never emits ⟨unk⟩.</para>
/// <para>Batched scoring (<c>Transform</c>) and one-row scoring (<c>PredictionEngine</c>) agree to float rounding
/// (libtorch's matrix kernels depend on the batch shape), not bit for bit.</para>
/// </remarks>
public sealed class AutoregressiveModelTransformer : GenerativeTransformerCore, IDisposable
{
    internal const string LoaderSignature = "GenerativeArTransformer";
    private const string ModelName = AutoregressiveModelEstimator.Name;
    private const int WindowsPerPass = 256;

    private readonly SequenceNetwork _network;
    private readonly Vocabulary _vocabulary;
    private readonly string _inputColumnName;
    private readonly ScoringColumn[] _columns;

    internal AutoregressiveModelTransformer(IHostEnvironment env, SequenceNetwork network, Vocabulary vocabulary, string inputColumnName,
        string logLikelihoodColumnName, string tokenCountColumnName, string perplexityColumnName, IReadOnlyList<EpochSummary> history)
        : base(Contracts.CheckRef(env, nameof(env)).Register(nameof(AutoregressiveModelTransformer)))
    {
        _network = network;
        _network.eval();
        _vocabulary = vocabulary;
        _inputColumnName = inputColumnName;
        LogLikelihoodColumnName = logLikelihoodColumnName;
        TokenCountColumnName = tokenCountColumnName;
        PerplexityColumnName = perplexityColumnName;
        TrainingHistory = history;
        _columns = new[]
        {
            new ScoringColumn(logLikelihoodColumnName, 0),
            new ScoringColumn(tokenCountColumnName, 0),
            new ScoringColumn(perplexityColumnName, 0),
        };
    }

    /// <summary>The input column: text, or a vector of keys, as in training.</summary>
    public string InputColumn => _inputColumnName;

    /// <summary>The network.</summary>
    public SequenceArchitecture Architecture => _network.Architecture.Kind;

    /// <summary>The longest window the model was trained on (the Transformer's number of positions).</summary>
    public int ContextLength => _network.Architecture.ContextLength;

    /// <summary>Vocabulary size V, the boundary token ⟨s⟩ (id 0) and unknown token ⟨unk⟩ (id 1) included.</summary>
    public int VocabularySize => _vocabulary.Size;

    /// <summary>The text of token ids 2 … V − 1 (characters, words, or key values' texts), in id order.</summary>
    public IReadOnlyList<string> Tokens => _vocabulary.Symbols;

    /// <summary>For key input, the raw key value of token ids 2 … V − 1 (the compacted vocabulary); otherwise empty.</summary>
    public IReadOnlyList<ulong> KeyValues => _vocabulary.Keys;

    /// <summary>Number of weights.</summary>
    public long ParameterCount => _network.Architecture.ParameterCount;

    /// <summary>Name of the log-likelihood output column.</summary>
    public string LogLikelihoodColumnName { get; }

    /// <summary>Name of the token-count output column.</summary>
    public string TokenCountColumnName { get; }

    /// <summary>Name of the perplexity output column.</summary>
    public string PerplexityColumnName { get; }

    /// <summary>Per-epoch training (and validation) losses (<c>Loss</c>, <c>Nll</c> in nats per token), saved with the model.</summary>
    public IReadOnlyList<EpochSummary> TrainingHistory { get; }

    internal SequenceNetwork Network => _network;

    internal Vocabulary Vocabulary => _vocabulary;

    internal override ScoringColumn[] ScoringColumns => _columns;

    internal override string InputColumnName => _inputColumnName;

    internal override int ScoringCapacity => 256;

    internal override int CheckInput(DataViewSchema schema)
    {
        int index = SequenceColumn.Check(Host, schema, _inputColumnName, out var kind);
        if (kind != _vocabulary.Kind)
            throw Host.ExceptParam(nameof(schema),
                $"Schema mismatch for input column '{_inputColumnName}': the model was trained on {(_vocabulary.Kind == SequenceInputKind.Text ? "text" : "a vector of keys")}, got {schema[index].Type}.");
        return index;
    }

    internal override ScoringInput CreateScoringInput(DataViewRow row, int inputIndex, int capacity)
        => new SequenceInput(this, new SequenceColumn(row, inputIndex), capacity);

    private sealed class SequenceInput : ScoringInput
    {
        private readonly AutoregressiveModelTransformer _model;
        private readonly SequenceColumn _column;
        private readonly List<int>[] _ids;
        private readonly double[] _logLikelihood;

        public SequenceInput(AutoregressiveModelTransformer model, SequenceColumn column, int capacity)
        {
            _model = model;
            _column = column;
            _ids = Enumerable.Range(0, capacity).Select(_ => new List<int>()).ToArray();
            _logLikelihood = new double[capacity];
        }

        public override void Capture(int slot)
        {
            var ids = _ids[slot];
            ids.Clear();
            ids.Add(Vocabulary.Boundary);
            _column.Encode(_model._vocabulary, ids);
            ids.Add(Vocabulary.Boundary);
        }

        public override void Score(int count, float[]?[] outputs)
        {
            _model.LogLikelihoods(_ids, count, _logLikelihood);
            for (int i = 0; i < count; i++)
            {
                int tokens = _ids[i].Count - 1;
                if (outputs[0] is float[] ll) ll[i] = (float)_logLikelihood[i];
                if (outputs[1] is float[] tc) tc[i] = tokens;
                // exp overflows to +∞ for a huge per-token NLL: the column says so, nothing throws.
                if (outputs[2] is float[] ppl) ppl[i] = (float)Math.Exp(-_logLikelihood[i] / tokens);
            }
        }
    }

    /// <summary>
    /// log p of each framed sequence ⟨s⟩ x₁ … xₙ ⟨s⟩ in <paramref name="sequences"/>[0 … count − 1], in nats. Every
    /// window's log-probabilities are summed in float64.
    /// </summary>
    internal void LogLikelihoods(IReadOnlyList<List<int>> sequences, int count, double[] result)
    {
        // A window: inputs seq[a … a + len), targets seq[a + 1 … a + len + 1), of which targets from `from` on count.
        var windows = new List<(int Row, int Start, int Length, int From)>();
        int c = ContextLength;
        bool recurrent = Architecture != SequenceArchitecture.Transformer;
        for (int r = 0; r < count; r++)
        {
            result[r] = 0;
            int targets = sequences[r].Count - 1;
            if (recurrent || targets <= c)
            {
                windows.Add((r, 0, targets, 0));
                continue;
            }
            windows.Add((r, 0, c, 0));
            int stride = (c + 1) / 2;
            for (int p = c; p < targets; p += stride)
            {
                int end = Math.Min(p + stride, targets);
                windows.Add((r, end - c, c, p - (end - c)));
            }
        }
        // Similar lengths together: less padding (padding never changes a row's score, only the cost).
        windows.Sort((x, y) => x.Length.CompareTo(y.Length));
        for (int w0 = 0; w0 < windows.Count; w0 += WindowsPerPass)
        {
            int n = Math.Min(WindowsPerPass, windows.Count - w0);
            int t = 0;
            for (int i = 0; i < n; i++) t = Math.Max(t, windows[w0 + i].Length);
            var inputs = new long[n * t];
            var targets = new long[n * t];
            Array.Fill(targets, Data.SequenceBatch.IgnoreIndex);
            for (int i = 0; i < n; i++)
            {
                var (row, start, length, from) = windows[w0 + i];
                var seq = sequences[row];
                for (int j = 0; j < length; j++)
                {
                    inputs[i * t + j] = seq[start + j];
                    if (j >= from) targets[i * t + j] = seq[start + j + 1];
                }
            }
            double[] sums;
            using (var scope = NewDisposeScope())
            using (var inference = inference_mode())
            {
                var x = tensor(inputs, new long[] { n, t });
                var y = tensor(targets, new long[] { n, t });
                var logProbs = _network.forward(x).log_softmax(-1);                     // [n, t, V]
                var mask = y.ne(Data.SequenceBatch.IgnoreIndex);
                var picked = logProbs.gather(-1, y.clamp_min(0).unsqueeze(-1)).squeeze(-1);   // [n, t]
                sums = picked.masked_fill(mask.logical_not(), 0).to_type(ScalarType.Float64).sum(1).data<double>().ToArray();
            }
            for (int i = 0; i < n; i++)
                result[windows[w0 + i].Row] += sums[i];
        }
    }

    /// <summary>
    /// The model's next-token distributions along <paramref name="text"/>: row t (t = 0 … n) is p(· | ⟨s⟩, x₁ … x_t)
    /// over the V token ids (id 0 is the end token ⟨s⟩, id 1 ⟨unk⟩, then <see cref="Tokens"/>), so row n gives the
    /// probability that the sequence ends there. Useful for heat maps and for explaining a score.
    /// </summary>
    /// <param name="text">Tokens the model knows (as for a prompt); at most ContextLength tokens for the Transformer.</param>
    /// <returns>n + 1 arrays of V probabilities.</returns>
    public float[][] NextTokenProbabilities(string text)
    {
        var ids = EncodePrompt(text);
        Host.CheckParam(Architecture != SequenceArchitecture.Transformer || ids.Length < ContextLength, nameof(text),
            $"Must hold fewer than ContextLength = {ContextLength} tokens; got {ids.Length}.");
        using var scope = NewDisposeScope();
        using var inference = inference_mode();
        var input = tensor(new long[] { Vocabulary.Boundary }.Concat(ids.Select(i => (long)i)).ToArray()).unsqueeze(0);   // [1, n + 1]
        var probs = _network.forward(input)[0].softmax(-1);                                                                  // [n + 1, V]
        var flat = probs.data<float>().ToArray();
        int v = VocabularySize;
        return Enumerable.Range(0, ids.Length + 1).Select(r => flat.AsSpan(r * v, v).ToArray()).ToArray();
    }

    /// <summary>
    /// Generates <paramref name="count"/> sequences (in one batch), each starting with <paramref name="prompt"/> and
    /// continued token by token until the end token or <paramref name="maxTokens"/> new tokens. Returns one text
    /// column, named like the input column for text input and <c>"Text"</c> for key input; each row holds the prompt
    /// followed by its continuation.
    /// </summary>
    /// <param name="count">Sequences to generate; positive.</param>
    /// <param name="prompt">The start of every sequence ("" for none); every token must be in the vocabulary.</param>
    /// <param name="temperature">Divides the logits; &gt; 0. Below 1 sharpens, above 1 flattens the distribution.</param>
    /// <param name="topK">Sample among the k most likely tokens only; 0 = all.</param>
    /// <param name="topP">Nucleus sampling (Holtzman et al., 2020): sample among the most likely tokens whose
    /// probabilities sum to at least p; in (0, 1], 1 = all.</param>
    /// <param name="maxTokens">The most new tokens per sequence (the end token not counted); positive.</param>
    /// <param name="seed">Seed of the draw: the same seed gives the same sequences.</param>
    /// <remarks>
    /// The Transformer keeps a key/value cache, so each new token costs one position's attention over the cached ones
    /// (O(n) steps for n tokens, not O(n²)); once a sequence outgrows ContextLength, each token is predicted from the
    /// last ContextLength tokens (a sliding window, recomputed). GRU/LSTM carry their state. Sampling draws from
    /// softmax(logits / temperature) restricted by top-k, then top-p; ⟨unk⟩ is never drawn.
    /// </remarks>
    public IDataView Generate(int count, string prompt = "", double temperature = 1.0, int topK = 0, double topP = 1.0,
        int maxTokens = 64, int seed = 0)
    {
        Host.CheckParam(count > 0, nameof(count), $"Must be positive; got {count}.");
        var texts = GenerateText(count, prompt, temperature, topK, topP, maxTokens, seed);
        var builder = new ArrayDataViewBuilder(Host);
        builder.AddColumn(_vocabulary.Kind == SequenceInputKind.Text ? _inputColumnName : "Text", texts);
        return builder.GetDataView();
    }

    /// <summary>
    /// Continues <paramref name="prefix"/> until the end token or <paramref name="maxTokens"/> new tokens; returns the
    /// prefix followed by the continuation. Parameters as in <see cref="Generate"/>.
    /// </summary>
    public string Complete(string prefix, double temperature = 1.0, int topK = 0, double topP = 1.0, int maxTokens = 64, int seed = 0)
        => GenerateText(1, prefix, temperature, topK, topP, maxTokens, seed)[0];

    /// <summary>The texts of <see cref="Generate"/>.</summary>
    public string[] GenerateText(int count, string prompt = "", double temperature = 1.0, int topK = 0, double topP = 1.0,
        int maxTokens = 64, int seed = 0)
    {
        ThrowIfDisposed();
        var promptIds = EncodePrompt(prompt);
        var ids = GenerateIds(count, promptIds, temperature, topK, topP, maxTokens, seed, useCache: true);
        return ids.Select(s => _vocabulary.Decode(promptIds.Concat(s))).ToArray();
    }

    internal int[] EncodePrompt(string prompt)
    {
        Host.CheckValue(prompt, nameof(prompt));
        var ids = new List<int>();
        var unknown = _vocabulary.EncodePrompt(prompt, ids);
        if (unknown.Count > 0)
            throw Host.ExceptParam(nameof(prompt),
                $"The prompt holds {unknown.Count} token(s) the model never saw in training: {string.Join(", ", unknown.Distinct().Take(10).Select(u => $"'{u}'"))}. "
                + "Generation can only continue from known tokens; remove or replace them (the model's tokens are listed by Tokens).");
        return ids.ToArray();
    }

    /// <summary>The new token ids of each generated sequence (without the prompt and the end token).</summary>
    internal List<int>[] GenerateIds(int count, int[] prompt, double temperature, int topK, double topP, int maxTokens, int seed, bool useCache)
    {
        Host.CheckParam(count > 0, nameof(count), $"Must be positive; got {count}.");
        Host.CheckParam(temperature > 0 && double.IsFinite(temperature), nameof(temperature), $"Must be a positive finite number; got {temperature}.");
        Host.CheckParam(topK >= 0, nameof(topK), $"Must be non-negative (0 = off); got {topK}.");
        Host.CheckParam(topP > 0 && topP <= 1, nameof(topP), $"Must be in (0, 1] (1 = off); got {topP}.");
        Host.CheckParam(maxTokens > 0, nameof(maxTokens), $"Must be positive; got {maxTokens}.");
        var result = Enumerable.Range(0, count).Select(_ => new List<int>()).ToArray();
        var done = new bool[count];
        int v = _vocabulary.Size;
        using var generator = new Generator((ulong)seed);
        using var inference = inference_mode();
        using var state = _network.Start(count, useCache);
        var first = new long[count * (prompt.Length + 1)];
        for (int r = 0; r < count; r++)
        {
            first[r * (prompt.Length + 1)] = Vocabulary.Boundary;
            for (int j = 0; j < prompt.Length; j++) first[r * (prompt.Length + 1) + 1 + j] = prompt[j];
        }
        long[] next = first;
        int width = prompt.Length + 1;
        for (int step = 0; step < maxTokens; step++)
        {
            using var scope = NewDisposeScope();
            var tokens = tensor(next, new long[] { count, width });
            var logits = _network.Step(tokens, state).to_type(ScalarType.Float32);     // [N, V]
            var sampled = Sample(logits, temperature, topK, topP, generator).data<long>().ToArray();
            bool all = true;
            next = new long[count];
            width = 1;
            for (int r = 0; r < count; r++)
            {
                next[r] = sampled[r];
                if (done[r]) continue;
                if (sampled[r] == Vocabulary.Boundary) done[r] = true;
                else result[r].Add((int)sampled[r]);
                all &= done[r];
            }
            if (all) break;
        }
        return result;
    }

    /// <summary>One draw per row from softmax(logits / T), restricted to the top k, then to the top-p nucleus; ⟨unk⟩ excluded.</summary>
    internal static Tensor Sample(Tensor logits, double temperature, int topK, double topP, Generator generator)
    {
        long v = logits.shape[1];
        var z = logits.div(temperature);
        z.select(1, Vocabulary.Unknown).fill_(float.NegativeInfinity);
        if (topK > 0 && topK < v)
        {
            var kth = z.topk(topK, 1).values.narrow(1, topK - 1, 1);                  // [N, 1]
            z = z.masked_fill(z.lt(kth), float.NegativeInfinity);
        }
        if (topP < 1)
        {
            var (sorted, order) = z.sort(1, descending: true);
            var probs = sorted.softmax(1);
            // Drop a token when the tokens before it already hold p of the mass (the most likely one always stays).
            var drop = probs.cumsum(1).sub(probs).ge(topP);
            sorted = sorted.masked_fill(drop, float.NegativeInfinity);
            z = full_like(z, float.NegativeInfinity).scatter(1, order, sorted);
        }
        return z.softmax(1).multinomial(1, generator: generator).squeeze(1);            // [N]
    }

    /// <summary>Releases the network's native memory.</summary>
    public void Dispose()
    {
        MarkDisposed();
        _network.Dispose();
    }

    private static VersionInfo GetVersionInfo()
        => new(modelSignature: "GENARTRF",
            verWrittenCur: 0x00010001, // initial
            verReadableCur: 0x00010001,
            verWeCanReadBack: 0x00010001,
            loaderSignature: LoaderSignature,
            loaderAssemblyName: typeof(AutoregressiveModelTransformer).Assembly.FullName);

    // Binary format (version 0x00010001), in write order:
    //   string   input column name
    //   vocab    Vocabulary.Save (kind, tokenization, separator, symbols, key values)
    //   int32    architecture (SequenceArchitecture), vocabulary size V, embedding dimension, hidden size,
    //            layers, heads, context length
    //   double   dropout
    //   bool     tied weights
    //   string   log-likelihood, token-count and perplexity column names
    //   history  ModelPersistence.SaveHistory
    //   entry    "TorchWeights": ModelPersistence.SaveWeights
    private protected override void SaveModel(ModelSaveContext ctx)
    {
        Host.CheckValue(ctx, nameof(ctx));
        ctx.CheckAtModel();
        ctx.SetVersionInfo(GetVersionInfo());
        var a = _network.Architecture;
        ctx.SaveNonEmptyString(_inputColumnName);
        _vocabulary.Save(ctx.Writer);
        ctx.Writer.Write((int)a.Kind);
        ctx.Writer.Write(a.VocabularySize);
        ctx.Writer.Write(a.EmbeddingDimension);
        ctx.Writer.Write(a.HiddenSize);
        ctx.Writer.Write(a.NumberOfLayers);
        ctx.Writer.Write(a.NumberOfHeads);
        ctx.Writer.Write(a.ContextLength);
        ctx.Writer.Write(a.Dropout);
        ctx.Writer.Write(a.TieWeights);
        ctx.SaveNonEmptyString(LogLikelihoodColumnName);
        ctx.SaveNonEmptyString(TokenCountColumnName);
        ctx.SaveNonEmptyString(PerplexityColumnName);
        ModelPersistence.SaveHistory(ctx.Writer, AutoregressiveObjective.Names, TrainingHistory);
        ModelPersistence.SaveWeights(ctx, _network);
    }

    // Reads the format written by SaveModel.
    private static AutoregressiveModelTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        Contracts.CheckValue(env, nameof(env));
        env.CheckValue(ctx, nameof(ctx));
        ctx.CheckAtModel(GetVersionInfo());
        try
        {
            string input = ctx.LoadNonEmptyString();
            var vocabulary = Vocabulary.Load(ctx.Reader, ModelName);
            var kind = (SequenceArchitecture)ctx.Reader.ReadInt32();
            if (!Enum.IsDefined(kind))
                throw ModelPersistence.Corrupt(ModelName, $"unknown architecture ({(int)kind})");
            int v = ModelPersistence.ReadInt32InRange(ctx.Reader, ModelName, "vocabulary size");
            if (v != vocabulary.Size)
                throw ModelPersistence.Corrupt(ModelName, $"the network's vocabulary size ({v}) differs from the vocabulary's ({vocabulary.Size})");
            int e = ModelPersistence.ReadInt32InRange(ctx.Reader, ModelName, "embedding dimension");
            int h = ModelPersistence.ReadInt32InRange(ctx.Reader, ModelName, "hidden size");
            int l = ModelPersistence.ReadInt32InRange(ctx.Reader, ModelName, "number of layers");
            int heads = ModelPersistence.ReadInt32InRange(ctx.Reader, ModelName, "number of heads");
            int c = ModelPersistence.ReadInt32InRange(ctx.Reader, ModelName, "context length");
            double dropout = ctx.Reader.ReadDouble();
            bool tie = ctx.Reader.ReadBoolean();
            if (!(dropout >= 0 && dropout < 1) || e % heads != 0)
                throw ModelPersistence.Corrupt(ModelName, $"impossible dropout ({dropout}) or heads ({heads} for width {e})");
            string ll = ctx.LoadNonEmptyString();
            string tc = ctx.LoadNonEmptyString();
            string ppl = ctx.LoadNonEmptyString();
            var history = ModelPersistence.LoadHistory(ctx.Reader, ModelName);

            var architecture = new SequenceNetworkArchitecture(kind, v, e, h, l, heads, c, dropout, tie);
            var network = ModelPersistence.LoadNetwork(ctx, architecture.ParameterCount, () => SequenceNetwork.Create(architecture), ModelName);
            return new AutoregressiveModelTransformer(env, network, vocabulary, input, ll, tc, ppl, history);
        }
        catch (EndOfStreamException ex)
        {
            throw ModelPersistence.Corrupt(ModelName, "the model's settings end early", ex);
        }
    }

    private static IRowMapper Create(IHostEnvironment env, ModelLoadContext ctx, DataViewSchema inputSchema)
        => Create(env, ctx).MakeRowMapper(inputSchema);

}
