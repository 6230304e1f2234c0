using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Data;
using Microsoft.ML.Generative.Distributed;
using Microsoft.ML.Generative.Training;
using Microsoft.ML.Runtime;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Autoregressive;

/// <summary>
/// Trains an <see cref="AutoregressiveModelTransformer"/>: a next-token model (GRU, LSTM or causal Transformer) of
/// the sequences in one column. Create it with <c>mlContext.Generative().AutoregressiveModel(...)</c>.
/// </summary>
/// <remarks>
/// <para>Input: a text column (tokenized into characters or words, vocabulary learned here) or a vector of keys
/// (vocabulary compacted to the keys seen here). A missing (null) string is read by ML.NET as the empty string and is
/// treated as an empty sequence: the model learns the probability that a sequence ends at once.</para>
/// <para>Each sequence x₁ … xₙ is framed as ⟨s⟩ x₁ … xₙ ⟨s⟩; the loss is the mean over all real targets of the batch
/// of −log p(x_t | ⟨s⟩, x₁ … x_{t−1}), t = 1 … n + 1 (x_{n+1} = ⟨s⟩, the end), i.e. next-token cross-entropy with
/// padding ignored (Bengio et al., 2003), optionally label-smoothed. Sequences longer than
/// <see cref="AutoregressiveModelOptions.ContextLength"/> targets are cut into consecutive windows, each trained on
/// its own (the state is not carried between windows during training).</para>
/// <para>Memory: the encoded rows (one int32 per token) are cached when they fit in
/// <see cref="GenerativeTrainerOptions.MaxCachedMegabytes"/> (estimated as 8 bytes per token plus 48 per row, the rows
/// being held twice while the windows are built); larger data is streamed: read again and re-encoded every epoch, its
/// windows shuffled through a buffer of <see cref="GenerativeTrainerOptions.ShuffleBufferRows"/> windows (the data
/// view's own shuffling is used too), one counting pass sizing the epochs first. A streamed
/// <see cref="GenerativeTrainerOptions.ValidationFraction"/> holds out the rows whose seeded hash of the row ID falls
/// below the fraction (the fraction on average; cached data holds out exactly that fraction).</para>
/// <para>Output: the input columns plus <c>LogLikelihood</c>, <c>TokenCount</c> and <c>Perplexity</c> (floats).</para>
/// </remarks>
public sealed class AutoregressiveModelEstimator : GenerativeEstimatorCore<AutoregressiveModelTransformer, AutoregressiveModelOptions>
{
    internal AutoregressiveModelEstimator(IHostEnvironment env, AutoregressiveModelOptions options)
        : base(env, options, nameof(AutoregressiveModelEstimator))
    {
    }

    internal const string Name = "autoregressive model";

    private protected override string ModelName => Name;

    private protected override IEnumerable<(string Name, bool IsVector)> OutputColumns => new[]
    {
        (Options.LogLikelihoodColumnName, false),
        (Options.TokenCountColumnName, false),
        (Options.PerplexityColumnName, false),
    };

    private protected override void CheckInputColumn(SchemaShape inputSchema)
        => SequenceColumn.Check(Host, inputSchema, Options.InputColumnName);

    /// <summary>
    /// Learns the vocabulary, encodes the rows as ⟨s⟩ x₁ … xₙ ⟨s⟩ token ids (the validation rows too, or holds a
    /// seeded fraction out), and trains on context windows of them.
    /// </summary>
    private protected override AutoregressiveModelTransformer FitCore(IChannel ch, IDataView input, IDataView? validationData)
    {
        var options = Options;
        int index = SequenceColumn.Check(Host, input.Schema, options.InputColumnName, out var kind);
        var vocabulary = LearnVocabulary(input, index, kind, options, out long tokenCount, out long rowCount);
        SequenceValidation? validationKind = null;
        if (validationData is not null)
        {
            SequenceColumn.Check(Host, validationData.Schema, options.InputColumnName, out var vKind);
            Host.CheckParam(vKind == kind, nameof(validationData), $"Validation column '{options.InputColumnName}' must have the same kind ({kind}) as the training column; got {vKind}.");
            validationKind = SequenceValidation.Data;
        }
        else if (options.ValidationFraction > 0)
        {
            validationKind = SequenceValidation.HoldOut;
        }

        // Cached: every row's ids (int32, boundaries included) held twice while the windows are built, plus
        // per-window bookkeeping. Above MaxCachedMegabytes (or one array's length) the rows are streamed instead.
        long stored = tokenCount + 2 * rowCount;
        long cap = (long)options.MaxCachedMegabytes << 20;
        bool stream = stored > Array.MaxLength || 2L * sizeof(int) * stored + 48 * rowCount > cap;
        var (train, valid, sequenceCount) = stream
            ? StreamSources(ch, input, validationData, validationKind, vocabulary, stored)
            : CacheSources(input, validationData, validationKind, vocabulary);
        using (train)
        using (valid)
        {
            var (windows, targets) = train switch
            {
                SequenceBatchSource c => (c.Rows, c.TokenCount),
                StreamingSequenceBatchSource r => (r.Rows, r.TokenCount),
                _ => (train.Rows, 0L),
            };
            var architecture = new SequenceNetworkArchitecture(options.Architecture, vocabulary.Size, options.EmbeddingDimension,
                options.HiddenSize, options.NumberOfLayers, options.NumberOfHeads, options.ContextLength, options.Dropout, options.TieWeights);
            var network = TorchRandom.Build(Seed, () => SequenceNetwork.Create(architecture));
            return Train(ch, train, valid, network,
                () => $"a {Describe(architecture)} ({architecture.ParameterCount} parameters, vocabulary {vocabulary.Size}) on {sequenceCount} sequences ({windows} windows, {targets} tokens{(stream ? ", streamed" : "")})",
                (_, _) => new AutoregressiveObjective(network, options),
                history => new AutoregressiveModelTransformer(Host, network, vocabulary, options.InputColumnName,
                    options.LogLikelihoodColumnName, options.TokenCountColumnName, options.PerplexityColumnName, history));
        }
    }

    private enum SequenceValidation { Data, HoldOut }

    /// <summary>Encodes every row into memory: an exact seeded hold-out (a permutation of the rows) when asked.</summary>
    private (BatchSource<SequenceBatch> Train, BatchSource<SequenceBatch>? Validation, long Sequences) CacheSources(IDataView input,
        IDataView? validationData, SequenceValidation? validationKind, Vocabulary vocabulary)
    {
        var options = Options;
        var sequences = Encode(input, vocabulary);
        CheckNotEmpty(sequences.Count, sequences.Sum(s => (long)s.Length - 1));
        List<int[]>? validation = null;
        if (validationKind == SequenceValidation.Data)
        {
            validation = Encode(validationData!, vocabulary);
            Host.CheckParam(validation.Count > 0, nameof(validationData), "Validation data has no rows.");
        }
        else if (validationKind == SequenceValidation.HoldOut)
        {
            int holdOut = (int)Math.Round(sequences.Count * options.ValidationFraction);
            Host.CheckUserArg(holdOut >= 1 && holdOut < sequences.Count, nameof(options.ValidationFraction),
                $"Holding out a fraction {options.ValidationFraction} of {sequences.Count} rows leaves no rows for training or none for validation.");
            using var generator = new Generator((ulong)Seed + 2);
            using var order = randperm(sequences.Count, generator: generator);
            var perm = order.data<long>().ToArray();
            validation = perm.Take(holdOut).Select(i => sequences[(int)i]).ToList();
            sequences = perm.Skip(holdOut).Select(i => sequences[(int)i]).ToList();
        }
        var train = new SequenceBatchSource(sequences, options.ContextLength, options.BucketByLength);
        var valid = validation is null ? null : new SequenceBatchSource(validation, options.ContextLength);
        return (train, valid, sequences.Count);
    }

    /// <summary>
    /// Streams the rows every epoch (data above <see cref="GenerativeTrainerOptions.MaxCachedMegabytes"/>): one
    /// counting pass sizes the epochs; a hold-out split takes the rows whose seeded hash of the row ID falls below
    /// the fraction (so its size is the fraction only on average).
    /// </summary>
    private (BatchSource<SequenceBatch> Train, BatchSource<SequenceBatch>? Validation, long Sequences) StreamSources(IChannel ch,
        IDataView input, IDataView? validationData, SequenceValidation? validationKind, Vocabulary vocabulary, long stored)
    {
        var options = Options;
        int index = SequenceColumn.Check(Host, input.Schema, options.InputColumnName, out _);
        var reader = Reader(vocabulary, index);
        int c = options.ContextLength;
        // The shuffle buffer holds ShuffleBufferRows windows, itself bounded by the cap (but at least one batch).
        long capWindows = ((long)options.MaxCachedMegabytes << 20) / (2L * sizeof(int) * (c + 1) + 32);
        int buffer = (int)Math.Max(options.BatchSize, Math.Min(options.ShuffleBufferRows, capWindows));
        ch.Info("Training sequences ({0} tokens with boundaries) need more than MaxCachedMegabytes = {1} in memory: they are read again every epoch, through a shuffle buffer of {2} windows.",
            stored, options.MaxCachedMegabytes, buffer);
        if (validationKind == SequenceValidation.HoldOut)
        {
            double fraction = options.ValidationFraction;
            int seed = Seed;
            bool IsValidation(DataViewRowId id) => TrainingData.Uniform(id, seed) < fraction;
            var counts = StreamingSequenceBatchSource.Count(Host, input, index, reader, id => IsValidation(id) ? 1 : 0, 2, c);
            CheckNotEmpty(counts[0].Sequences + counts[1].Sequences, counts[0].Tokens + counts[1].Tokens);
            Host.CheckUserArg(counts[0].Windows > 0 && counts[1].Windows > 0, nameof(options.ValidationFraction),
                $"Holding out a fraction {fraction} of the rows leaves no rows for training or none for validation.");
            return (new StreamingSequenceBatchSource(Host, input, index, reader, id => !IsValidation(id), c, buffer, Seed, counts[0].Windows, counts[0].Tokens),
                    new StreamingSequenceBatchSource(Host, input, index, reader, IsValidation, c, buffer, Seed, counts[1].Windows, counts[1].Tokens),
                    counts[0].Sequences);
        }
        var all = StreamingSequenceBatchSource.Count(Host, input, index, reader, _ => 0, 1, c)[0];
        CheckNotEmpty(all.Sequences, all.Tokens);
        var train = new StreamingSequenceBatchSource(Host, input, index, reader, _ => true, c, buffer, Seed, all.Windows, all.Tokens);
        if (validationKind != SequenceValidation.Data)
            return (train, null, all.Sequences);
        int vIndex = SequenceColumn.Check(Host, validationData!.Schema, options.InputColumnName, out _);
        var vReader = Reader(vocabulary, vIndex);
        var v = StreamingSequenceBatchSource.Count(Host, validationData, vIndex, vReader, _ => 0, 1, c)[0];
        Host.CheckParam(v.Sequences > 0, nameof(validationData), "Validation data has no rows.");
        return (train, new StreamingSequenceBatchSource(Host, validationData, vIndex, vReader, _ => true, c, buffer, Seed, v.Windows, v.Tokens), all.Sequences);
    }

    /// <summary>Given a cursor, the reader of its current row as ⟨s⟩ x₁ … xₙ ⟨s⟩ token ids.</summary>
    private static Func<DataViewRow, Func<int[]>> Reader(Vocabulary vocabulary, int index) => row =>
    {
        var column = new SequenceColumn(row, index);
        var ids = new List<int>();
        return () =>
        {
            ids.Clear();
            ids.Add(Vocabulary.Boundary);
            column.Encode(vocabulary, ids);
            ids.Add(Vocabulary.Boundary);
            return ids.ToArray();
        };
    };

    private void CheckNotEmpty(long sequences, long targets)
    {
        if (sequences == 0)
        {
            throw Host.Except(ShardedCommunicator is { } shards
                ? $"Rank {shards.Rank} of {shards.Size}: this rank's shard of the training data is empty (column '{Options.InputColumnName}' has no rows; ShardedData = true). "
                  + "The autoregressive model needs at least one sequence in every shard: give this rank rows, or launch fewer ranks."
                : $"Training data is empty: column '{Options.InputColumnName}' has no rows.");
        }
        // A row with no token still has one target (the end token after the start token).
        if (targets == sequences)
            throw Host.Except($"All {sequences} training sequences in column '{Options.InputColumnName}' are empty (or missing): there is nothing to learn but the end token.");
    }

    internal static string Describe(SequenceNetworkArchitecture a)
        => a.Kind == SequenceArchitecture.Transformer
            ? $"{a.NumberOfLayers}-block causal Transformer (d = {a.EmbeddingDimension}, {a.NumberOfHeads} heads, MLP {a.HiddenSize}, context {a.ContextLength})"
            : $"{a.NumberOfLayers}-layer {a.Kind.ToString().ToUpperInvariant()} (embedding {a.EmbeddingDimension}, hidden {a.HiddenSize})";

    /// <summary>First pass: counts the tokens and keeps those seen at least MinimumTokenFrequency times.</summary>
    private Vocabulary LearnVocabulary(IDataView data, int index, SequenceInputKind kind, AutoregressiveModelOptions options,
        out long tokenCount, out long rowCount)
    {
        long tokens = 0;
        using var cursor = data.GetRowCursor(new[] { data.Schema[index] });
        var column = new SequenceColumn(cursor, index);
        int min = options.MinimumTokenFrequency;
        string[] symbols;
        ulong[] keys = Array.Empty<ulong>();
        string separator;
        long rows = 0;
        if (kind == SequenceInputKind.Keys)
        {
            var counts = new Dictionary<ulong, long>();
            while (cursor.MoveNext())
            {
                if ((++rows & 1023) == 0) Host.CheckAlive();
                var row = column.ReadKeys();
                tokens += row.Count;
                foreach (ulong k in row)
                    if (k != 0) counts[k] = counts.GetValueOrDefault(k) + 1;
            }
            if (ShardedCommunicator is { } comm)
                ShardCounts.Merge(comm, counts);
            keys = counts.Where(p => p.Value >= min).Select(p => p.Key).OrderBy(k => k).ToArray();
            CheckSize(keys.Length, "keys", options);
            var texts = SequenceColumn.KeyTexts(data.Schema[index]);
            symbols = keys.Select(k => texts is not null && k - 1 < (ulong)texts.Length ? texts[k - 1] : k.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
            separator = symbols.All(s => s.Length == 1) ? "" : " ";
        }
        else if (options.Tokenization == Tokenization.Characters)
        {
            var counts = new long[char.MaxValue + 1];
            while (cursor.MoveNext())
            {
                if ((++rows & 1023) == 0) Host.CheckAlive();
                var text = column.ReadText().Span;
                tokens += text.Length;
                foreach (char c in text) counts[c]++;
            }
            if (ShardedCommunicator is { } comm)
                ShardCounts.Merge(comm, counts);
            symbols = Enumerable.Range(0, counts.Length).Where(c => counts[c] >= min).Select(c => ((char)c).ToString()).ToArray();
            CheckSize(symbols.Length, "characters", options);
            separator = "";
        }
        else
        {
            var counts = new Dictionary<string, long>(StringComparer.Ordinal);
            var lookup = counts.GetAlternateLookup<ReadOnlySpan<char>>();
            while (cursor.MoveNext())
            {
                if ((++rows & 1023) == 0) Host.CheckAlive();
                var text = column.ReadText().Span;
                foreach (var r in Vocabulary.Words(text))
                {
                    var word = text[r];
                    tokens++;
                    lookup[word] = lookup.TryGetValue(word, out long n) ? n + 1 : 1;
                }
                if (counts.Count > 4 * options.MaximumVocabularySize + 1_000_000 && min == 1)
                    CheckSize(counts.Count, "words", options);
            }
            if (ShardedCommunicator is { } comm)
                ShardCounts.Merge(comm, counts);
            symbols = counts.Where(p => p.Value >= min).Select(p => p.Key).OrderBy(s => s, StringComparer.Ordinal).ToArray();
            CheckSize(symbols.Length, "words", options);
            separator = " ";
        }
        tokenCount = tokens;
        rowCount = rows;
        return new Vocabulary(kind, options.Tokenization, symbols, keys, separator);
    }

    /// <summary>Data-parallel training on sharded data: the vocabulary counts every rank's shard (null otherwise).</summary>
    private Communicator? ShardedCommunicator => Options.ShardedData ? Communicator.ForTraining(Options.DistributedTraining) : null;

    private void CheckSize(int symbols, string what, AutoregressiveModelOptions options)
    {
        if (symbols + Vocabulary.FirstSymbol > options.MaximumVocabularySize)
            throw Host.ExceptUserArg(nameof(options.MaximumVocabularySize),
                $"The training data has {symbols} distinct {what} (kept at MinimumTokenFrequency = {options.MinimumTokenFrequency}), "
                + $"which with the 2 special tokens exceeds MaximumVocabularySize = {options.MaximumVocabularySize}. Raise MinimumTokenFrequency "
                + "to map rare tokens to the unknown token, raise MaximumVocabularySize (the output layer has one row per token), "
                + "or use Tokenization.Characters instead of Words.");
    }

    /// <summary>Second pass: each row as ⟨s⟩ x₁ … xₙ ⟨s⟩ token ids.</summary>
    private List<int[]> Encode(IDataView data, Vocabulary vocabulary)
    {
        int index = SequenceColumn.Check(Host, data.Schema, Options.InputColumnName, out _);
        using var cursor = data.GetRowCursor(new[] { data.Schema[index] });
        var read = Reader(vocabulary, index)(cursor);
        var result = new List<int[]>();
        while (cursor.MoveNext())
        {
            if ((result.Count & 1023) == 0) Host.CheckAlive();
            result.Add(read());
        }
        return result;
    }
}
