using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Data;

/// <summary>
/// A mini-batch of token sequences for next-token training: two named tensors, right-padded to the batch's longest
/// window. Position t of <see cref="Inputs"/> predicts <see cref="Targets"/>[:, t]; padded positions hold
/// <see cref="PaddingInput"/> in the inputs and <see cref="IgnoreIndex"/> in the targets, so that they are charged
/// nothing (a causal model never lets them reach an earlier position).
/// </summary>
internal sealed class SequenceBatch
{
    /// <summary>Target value of a padded position (the loss's ignore index).</summary>
    public const long IgnoreIndex = -100;

    /// <summary>Input value of a padded position (any valid id; its outputs are never charged).</summary>
    public const long PaddingInput = 0;

    public SequenceBatch(Tensor inputs, Tensor targets, int rows, long tokenCount)
    {
        Inputs = inputs;
        Targets = targets;
        Rows = rows;
        TokenCount = tokenCount;
    }

    /// <summary>Input token ids, <c>[B, T]</c> int64.</summary>
    public Tensor Inputs { get; }

    /// <summary>Next-token ids, <c>[B, T]</c> int64, <see cref="IgnoreIndex"/> at padding.</summary>
    public Tensor Targets { get; }

    /// <summary>B, the number of windows in the batch.</summary>
    public int Rows { get; }

    /// <summary>Non-padding targets in the batch.</summary>
    public long TokenCount { get; }
}

/// <summary>
/// Variable-length token sequences held in memory (one int32 per token), cut into training windows and served as
/// length-bucketed, padded <see cref="SequenceBatch"/>es. Each stored sequence already carries its boundary tokens
/// (e.g. <c>[BOS, t1 … tn, EOS]</c>): a sequence of L stored tokens has L − 1 targets. Targets are cut into windows of
/// at most <c>contextLength</c>; the window for targets [p, p + c) reads inputs [p, p + c).
/// </summary>
/// <remarks>
/// Bucketing: an epoch's (shuffled) windows are taken in chunks of <see cref="BucketBatches"/> × B, each chunk is
/// sorted by length and cut into batches, and (when shuffling) the batches of a chunk are served in random order. A
/// batch therefore holds windows of similar length (little padding), and the epoch has exactly ⌈windows / B⌉ batches.
/// Evaluation passes (no shuffling) are always bucketed; shuffled (training) passes only when asked: batches of
/// same-length windows are cheaper but correlated, and on the word-list benchmark they cost 0.03–0.04 nats per token
/// at a fixed number of steps (docs/benchmarks.md).
/// </remarks>
internal sealed class SequenceBatchSource : BatchSource<SequenceBatch>
{
    /// <summary>Batches per sorting chunk.</summary>
    public const int BucketBatches = 32;

    private readonly int[] _tokens;
    private readonly long[] _offsets;   // window start in _tokens (the first input)
    private readonly int[] _lengths;    // window length: inputs = targets = _lengths[i]
    private readonly bool _bucketShuffled;

    /// <param name="sequences">Token ids per example, boundaries included; sequences shorter than 2 tokens are skipped.</param>
    /// <param name="contextLength">The longest window, in targets.</param>
    /// <param name="bucketShuffled">Also bucket shuffled (training) passes by length.</param>
    public SequenceBatchSource(IReadOnlyList<int[]> sequences, int contextLength, bool bucketShuffled = false)
    {
        _bucketShuffled = bucketShuffled;
        if (contextLength <= 0)
            throw new ArgumentOutOfRangeException(nameof(contextLength));
        long total = 0, windows = 0;
        foreach (var s in sequences)
        {
            if (s.Length < 2) continue;
            total += s.Length;
            windows += (s.Length - 1 + contextLength - 1) / contextLength;
        }
        if (total > Array.MaxLength)
            throw new ArgumentException($"{total} tokens do not fit in one in-memory array; stream them (StreamingSequenceBatchSource).", nameof(sequences));
        _tokens = new int[total];
        _offsets = new long[windows];
        _lengths = new int[windows];
        long at = 0;
        int w = 0;
        foreach (var s in sequences)
        {
            if (s.Length < 2) continue;
            s.CopyTo(_tokens, at);
            int targets = s.Length - 1;
            for (int p = 0; p < targets; p += contextLength)
            {
                _offsets[w] = at + p;
                _lengths[w] = Math.Min(contextLength, targets - p);
                w++;
            }
            at += s.Length;
            TokenCount += targets;
        }
    }

    /// <summary>Windows per epoch (a sequence longer than the context gives several).</summary>
    public override long Rows => _lengths.LongLength;

    /// <summary>Targets per epoch.</summary>
    public long TokenCount { get; }

    public override IEnumerable<SequenceBatch> Batches(int batchSize, bool shuffle, Generator generator, int epoch)
    {
        int n = _lengths.Length;
        int[] order;
        if (shuffle)
        {
            using var perm = randperm(n, generator: generator);
            order = Array.ConvertAll(perm.data<long>().ToArray(), v => (int)v);
        }
        else
        {
            order = new int[n];
            for (int i = 0; i < n; i++) order[i] = i;
        }

        long chunk = (long)batchSize * BucketBatches;
        for (long start = 0; start < n; start += chunk)
        {
            int count = (int)Math.Min(chunk, n - start);
            var slice = new int[count];
            Array.Copy(order, start, slice, 0, count);
            var keys = new int[count];
            for (int i = 0; i < count; i++) keys[i] = _lengths[slice[i]];
            if (!shuffle || _bucketShuffled)
                Array.Sort(keys, slice); // introsort: deterministic for the same input
            int batches = (count + batchSize - 1) / batchSize;
            int[] batchOrder;
            if (shuffle)
            {
                using var perm = randperm(batches, generator: generator);
                batchOrder = Array.ConvertAll(perm.data<long>().ToArray(), v => (int)v);
            }
            else
            {
                batchOrder = new int[batches];
                for (int i = 0; i < batches; i++) batchOrder[i] = i;
            }
            foreach (int b in batchOrder)
            {
                int from = b * batchSize, rows = Math.Min(batchSize, count - from);
                yield return MakeBatch(slice.AsSpan(from, rows).ToArray());
            }
        }
    }

    private SequenceBatch MakeBatch(int[] windows)
    {
        var spans = new SequenceWindow[windows.Length];
        for (int r = 0; r < windows.Length; r++)
            spans[r] = new SequenceWindow(_tokens, (int)_offsets[windows[r]], _lengths[windows[r]]);
        return Pad(spans);
    }

    /// <summary>
    /// One padded batch from windows: row r's inputs are <c>Tokens[Offset … Offset + Length)</c>, its targets the same
    /// span shifted by one; shorter rows are padded with <see cref="SequenceBatch.PaddingInput"/> /
    /// <see cref="SequenceBatch.IgnoreIndex"/>.
    /// </summary>
    internal static SequenceBatch Pad(ReadOnlySpan<SequenceWindow> windows)
    {
        int rows = windows.Length, t = 0;
        foreach (var w in windows) t = Math.Max(t, w.Length);
        var inputs = new long[rows * t];
        var targets = new long[rows * t];
        Array.Fill(inputs, SequenceBatch.PaddingInput);
        Array.Fill(targets, SequenceBatch.IgnoreIndex);
        long tokens = 0;
        for (int r = 0; r < rows; r++)
        {
            var (source, o, len) = windows[r];
            for (int j = 0; j < len; j++)
            {
                inputs[r * t + j] = source[o + j];
                targets[r * t + j] = source[o + j + 1];
            }
            tokens += len;
        }
        return new SequenceBatch(tensor(inputs, new long[] { rows, t }), tensor(targets, new long[] { rows, t }), rows, tokens);
    }

    public override void Dispose()
    {
    }
}

/// <summary>A training window: inputs <c>Tokens[Offset … Offset + Length)</c>, targets shifted by one.</summary>
internal readonly record struct SequenceWindow(int[] Tokens, int Offset, int Length)
{
    /// <summary>The windows of one sequence (boundaries included): targets cut into runs of at most <paramref name="contextLength"/>.</summary>
    public static IEnumerable<SequenceWindow> Cut(int[] sequence, int contextLength)
    {
        int targets = sequence.Length - 1;
        for (int p = 0; p < targets; p += contextLength)
            yield return new SequenceWindow(sequence, p, Math.Min(contextLength, targets - p));
    }

    /// <summary>Windows of a sequence of <paramref name="tokens"/> stored tokens (0 below 2 tokens).</summary>
    public static long Count(int tokens, int contextLength) => tokens < 2 ? 0 : (tokens - 1 + contextLength - 1) / contextLength;
}

/// <summary>
/// Token sequences read from the <see cref="IDataView"/> again every epoch, for data larger than the cache cap
/// (<see cref="Training.GenerativeTrainerOptions.MaxCachedMegabytes"/>): rows are encoded as they are read, cut into
/// windows, and the windows pass through a shuffle buffer of fixed size (the data view's own shuffling, where it has
/// one, is used as well), so memory stays bounded by the buffer whatever the data size. Evaluation passes read in
/// order and sort chunks of <see cref="SequenceBatchSource.BucketBatches"/> batches by length (little padding).
/// </summary>
internal sealed class StreamingSequenceBatchSource : BatchSource<SequenceBatch>
{
    private readonly IHost _host;
    private readonly IDataView _data;
    private readonly int _column;
    private readonly Func<DataViewRow, Func<int[]>> _reader;
    private readonly Func<DataViewRowId, bool> _include;
    private readonly int _contextLength;
    private readonly int _bufferWindows;
    private readonly int _seed;

    /// <param name="host">Cancellation checks.</param>
    /// <param name="data">The rows; read once per pass.</param>
    /// <param name="column">Index of the sequence column.</param>
    /// <param name="reader">Given a cursor, returns the reader of its current row's token ids (boundaries included).</param>
    /// <param name="include">Which rows belong to this source (a hold-out split streams both sides from one view).</param>
    /// <param name="contextLength">The longest window, in targets.</param>
    /// <param name="bufferWindows">Windows held by the shuffle buffer.</param>
    /// <param name="seed">Seeds the buffer's and the view's shuffling (per epoch).</param>
    /// <param name="windows">Windows per pass (from <see cref="Count"/>).</param>
    /// <param name="tokens">Targets per pass.</param>
    public StreamingSequenceBatchSource(IHost host, IDataView data, int column, Func<DataViewRow, Func<int[]>> reader,
        Func<DataViewRowId, bool> include, int contextLength, int bufferWindows, int seed, long windows, long tokens)
    {
        _host = host;
        _data = data;
        _column = column;
        _reader = reader;
        _include = include;
        _contextLength = contextLength;
        _bufferWindows = bufferWindows;
        _seed = seed;
        Rows = windows;
        TokenCount = tokens;
    }

    /// <summary>Windows per epoch.</summary>
    public override long Rows { get; }

    /// <summary>Targets per epoch.</summary>
    public long TokenCount { get; }

    /// <summary>
    /// One pass over <paramref name="data"/> that counts, for each of <paramref name="sides"/> subsets (a row's subset
    /// from <paramref name="side"/>, −1 = none), its sequences, windows and targets.
    /// </summary>
    public static (long Sequences, long Windows, long Tokens)[] Count(IHost host, IDataView data, int column,
        Func<DataViewRow, Func<int[]>> reader, Func<DataViewRowId, int> side, int sides, int contextLength)
    {
        var counts = new (long Sequences, long Windows, long Tokens)[sides];
        using var cursor = data.GetRowCursor(new[] { data.Schema[column] });
        var read = reader(cursor);
        var id = cursor.GetIdGetter();
        var rowId = default(DataViewRowId);
        long rows = 0;
        while (cursor.MoveNext())
        {
            if ((++rows & 1023) == 0) host.CheckAlive();
            id(ref rowId);
            int s = side(rowId);
            if (s < 0)
                continue;
            var ids = read();
            counts[s].Sequences++;
            if (ids.Length < 2) continue;
            counts[s].Windows += SequenceWindow.Count(ids.Length, contextLength);
            counts[s].Tokens += ids.Length - 1;
        }
        return counts;
    }

    public override IEnumerable<SequenceBatch> Batches(int batchSize, bool shuffle, Generator generator, int epoch)
    {
        var windows = Windows(shuffle, epoch);
        var batch = new SequenceWindow[batchSize];
        int inBatch = 0;
        if (!shuffle)
        {
            // In order, each chunk of BucketBatches batches sorted by length: little padding, deterministic.
            var chunk = new List<SequenceWindow>(batchSize * SequenceBatchSource.BucketBatches);
            foreach (var w in windows.Append(default))
            {
                if (w.Tokens is not null)
                    chunk.Add(w);
                if (chunk.Count == chunk.Capacity || (w.Tokens is null && chunk.Count > 0))
                {
                    var sorted = chunk.OrderBy(x => x.Length).ToArray();   // stable: ties keep the read order
                    for (int from = 0; from < sorted.Length; from += batchSize)
                        yield return SequenceBatchSource.Pad(sorted.AsSpan(from, Math.Min(batchSize, sorted.Length - from)));
                    chunk.Clear();
                }
            }
            yield break;
        }

        // A shuffle buffer: windows enter it in the order read and leave it in random order.
        int capacity = Math.Max(_bufferWindows, batchSize);
        var buffer = new SequenceWindow[capacity];
        var random = new Random(unchecked(_seed * 31 + epoch));
        int filled = 0;
        using var source = windows.GetEnumerator();
        bool more = true;
        while (true)
        {
            while (more && filled < capacity)
            {
                if (source.MoveNext())
                    buffer[filled++] = source.Current;
                else
                    more = false;
            }
            if (filled == 0)
                break;
            int pick = random.Next(filled);
            batch[inBatch] = buffer[pick];
            buffer[pick] = buffer[--filled];   // the last window fills the hole
            buffer[filled] = default;
            if (++inBatch == batchSize)
            {
                yield return SequenceBatchSource.Pad(batch);
                Array.Clear(batch);
                inBatch = 0;
            }
        }
        if (inBatch > 0)
            yield return SequenceBatchSource.Pad(batch.AsSpan(0, inBatch));
    }

    private IEnumerable<SequenceWindow> Windows(bool shuffle, int epoch)
    {
        var columns = new[] { _data.Schema[_column] };
        using var cursor = shuffle && _data.CanShuffle
            ? _data.GetRowCursor(columns, new Random(unchecked(_seed * 17 + epoch)))
            : _data.GetRowCursor(columns);
        var read = _reader(cursor);
        var id = cursor.GetIdGetter();
        var rowId = default(DataViewRowId);
        long rows = 0;
        while (cursor.MoveNext())
        {
            if ((++rows & 1023) == 0) _host.CheckAlive();
            id(ref rowId);
            if (!_include(rowId))
                continue;
            var ids = read();
            if (ids.Length < 2)
                continue;
            foreach (var w in SequenceWindow.Cut(ids, _contextLength))
                yield return w;
        }
    }

    public override void Dispose()
    {
    }
}
