using System;
using System.Collections.Generic;
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
        int rows = windows.Length, t = 0;
        foreach (int w in windows) t = Math.Max(t, _lengths[w]);
        var inputs = new long[rows * t];
        var targets = new long[rows * t];
        Array.Fill(inputs, SequenceBatch.PaddingInput);
        Array.Fill(targets, SequenceBatch.IgnoreIndex);
        long tokens = 0;
        for (int r = 0; r < rows; r++)
        {
            int w = windows[r], len = _lengths[w];
            long o = _offsets[w];
            for (int j = 0; j < len; j++)
            {
                inputs[r * t + j] = _tokens[o + j];
                targets[r * t + j] = _tokens[o + j + 1];
            }
            tokens += len;
        }
        return new SequenceBatch(tensor(inputs, new long[] { rows, t }), tensor(targets, new long[] { rows, t }), rows, tokens);
    }

    public override void Dispose()
    {
    }
}
