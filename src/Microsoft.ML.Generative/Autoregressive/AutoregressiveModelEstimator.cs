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
        var vocabulary = LearnVocabulary(input, index, kind, options);
        var sequences = Encode(input, vocabulary);
        if (sequences.Count == 0)
        {
            throw Host.Except(ShardedCommunicator is { } shards
                ? $"Rank {shards.Rank} of {shards.Size}: this rank's shard of the training data is empty (column '{options.InputColumnName}' has no rows; ShardedData = true). "
                  + "The autoregressive model needs at least one sequence in every shard: give this rank rows, or launch fewer ranks."
                : $"Training data is empty: column '{options.InputColumnName}' has no rows.");
        }
        if (sequences.All(s => s.Length <= 2))
            throw Host.Except($"All {sequences.Count} training sequences in column '{options.InputColumnName}' are empty (or missing): there is nothing to learn but the end token.");

        List<int[]>? validation = null;
        if (validationData is not null)
        {
            SequenceColumn.Check(Host, validationData.Schema, options.InputColumnName, out var vKind);
            Host.CheckParam(vKind == kind, nameof(validationData), $"Validation column '{options.InputColumnName}' must have the same kind ({kind}) as the training column; got {vKind}.");
            validation = Encode(validationData, vocabulary);
            Host.CheckParam(validation.Count > 0, nameof(validationData), "Validation data has no rows.");
        }
        else if (options.ValidationFraction > 0)
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

        using var train = new SequenceBatchSource(sequences, options.ContextLength, options.BucketByLength);
        using var valid = validation is null ? null : new SequenceBatchSource(validation, options.ContextLength);
        var architecture = new SequenceNetworkArchitecture(options.Architecture, vocabulary.Size, options.EmbeddingDimension,
            options.HiddenSize, options.NumberOfLayers, options.NumberOfHeads, options.ContextLength, options.Dropout, options.TieWeights);
        var network = TorchRandom.Build(Seed, () => SequenceNetwork.Create(architecture));
        return Train(ch, train, valid, network,
            () => $"a {Describe(architecture)} ({architecture.ParameterCount} parameters, vocabulary {vocabulary.Size}) on {sequences.Count} sequences ({train.Rows} windows, {train.TokenCount} tokens)",
            (_, _) => new AutoregressiveObjective(network, options),
            history => new AutoregressiveModelTransformer(Host, network, vocabulary, options.InputColumnName,
                options.LogLikelihoodColumnName, options.TokenCountColumnName, options.PerplexityColumnName, history));
    }

    internal static string Describe(SequenceNetworkArchitecture a)
        => a.Kind == SequenceArchitecture.Transformer
            ? $"{a.NumberOfLayers}-block causal Transformer (d = {a.EmbeddingDimension}, {a.NumberOfHeads} heads, MLP {a.HiddenSize}, context {a.ContextLength})"
            : $"{a.NumberOfLayers}-layer {a.Kind.ToString().ToUpperInvariant()} (embedding {a.EmbeddingDimension}, hidden {a.HiddenSize})";

    /// <summary>First pass: counts the tokens and keeps those seen at least MinimumTokenFrequency times.</summary>
    private Vocabulary LearnVocabulary(IDataView data, int index, SequenceInputKind kind, AutoregressiveModelOptions options)
    {
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
                foreach (ulong k in column.ReadKeys())
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
                foreach (char c in column.ReadText().Span) counts[c]++;
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
        var column = new SequenceColumn(cursor, index);
        var result = new List<int[]>();
        var ids = new List<int>();
        while (cursor.MoveNext())
        {
            if ((result.Count & 1023) == 0) Host.CheckAlive();
            ids.Clear();
            ids.Add(Vocabulary.Boundary);
            column.Encode(vocabulary, ids);
            ids.Add(Vocabulary.Boundary);
            result.Add(ids.ToArray());
        }
        return result;
    }
}
