using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Generative.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Tabular;

/// <summary>
/// CTGAN's conditional vector (Xu et al. 2019, §4.3): one block per discrete column (text, boolean, key), one slot per
/// training category, in column order; a row's vector is the one-hot of one category of one column. The mode
/// indicators of continuous columns are not part of it (as in CTGAN's data sampler).
/// </summary>
internal sealed class ConditionalVectorLayout
{
    public ConditionalVectorLayout(TabularEncoder encoder)
    {
        var columns = new List<int>();
        var offsets = new List<int>();
        int width = 0;
        for (int j = 0; j < encoder.Columns.Count; j++)
        {
            if (encoder.Columns[j].IsContinuous)
                continue;
            columns.Add(j);
            offsets.Add(width);
            width += encoder.Columns[j].ClassCount;
        }
        Encoder = encoder;
        Columns = columns.ToArray();
        Offsets = offsets.ToArray();
        Width = width;
    }

    public TabularEncoder Encoder { get; }

    /// <summary>Indices (in the encoder's columns) of the discrete columns, in order.</summary>
    public int[] Columns { get; }

    /// <summary>Start of each discrete column's block in the conditional vector.</summary>
    public int[] Offsets { get; }

    /// <summary>C, the conditional vector's width: the discrete columns' categories (0: no discrete column).</summary>
    public int Width { get; }

    /// <summary>Position of <paramref name="category"/> of encoder column <paramref name="column"/> in the vector.</summary>
    public int Slot(int column, int category) => Offsets[Array.IndexOf(Columns, column)] + category;

    /// <summary>
    /// (offset in the encoded row, width, offset in the conditional vector) of every discrete column's one-hot group.
    /// </summary>
    public IEnumerable<(int RowOffset, int Width, int VectorOffset)> Groups
        => Columns.Select((j, i) => (Encoder.Columns[j].ClassSpan.Offset, Encoder.Columns[j].ClassCount, Offsets[i]));
}

/// <summary>
/// CTGAN's generator output and condition loss (Xu et al. 2019, §4.2–4.4), the GAN family's hooks
/// (<c>GanTrainingHooks</c>) for the tabular synthesizer.
/// </summary>
internal static class CtganOutput
{
    /// <summary>Gumbel-softmax temperature τ of the one-hot groups (CTGAN's 0.2).</summary>
    public const double Temperature = 0.2;

    /// <summary>
    /// The rows D sees from G's raw output [B, D]: tanh of each continuous column's scalar α, and for each one-hot
    /// group (mode indicator, discrete column) the Gumbel-softmax softmax((ℓ + g)/τ) with g = −log(−log u),
    /// u ~ U(0, 1) from <paramref name="generator"/> (Jang et al. 2017; Maddison et al. 2017). [B, D].
    /// </summary>
    public static Tensor Activate(Tensor raw, IReadOnlyList<TabularSpan> spans, double temperature, Generator? generator)
    {
        using var scope = NewDisposeScope();
        var parts = new Tensor[spans.Count];
        for (int i = 0; i < spans.Count; i++)
        {
            var (offset, width, categorical) = spans[i];
            var part = raw.narrow(1, offset, width);                                    // [B, w]
            if (!categorical)
            {
                parts[i] = part.tanh();
                continue;
            }
            // u in [1e-20, 1 − 1e-7]: g stays finite (float32).
            var u = rand(part.shape, part.dtype, part.device, generator: generator).clamp_(1e-20, 1 - 1e-7);
            var gumbel = u.log_().neg_().log_().neg_();                                 // g = −log(−log u)
            parts[i] = nn.functional.softmax(part.add(gumbel).div_(temperature), 1);
        }
        return cat(parts, 1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// CTGAN's condition loss: the mean over the batch of the cross-entropy −log softmax(ℓ_j)_k of G's raw logits ℓ_j
    /// of the conditioned discrete column j at the conditioned category k. With c one-hot over every discrete
    /// category and zero outside column j's block, −Σ_groups Σ_k c_k·log softmax(ℓ)_k is that cross-entropy, the other
    /// columns contributing 0. A scalar (nats per row).
    /// </summary>
    public static Tensor ConditionLoss(Tensor raw, Tensor c, ConditionalVectorLayout layout)
    {
        using var scope = NewDisposeScope();
        Tensor total = zeros(raw.shape[0], dtype: raw.dtype, device: raw.device);
        foreach (var (rowOffset, width, vectorOffset) in layout.Groups)
        {
            var logProbabilities = nn.functional.log_softmax(raw.narrow(1, rowOffset, width), 1);   // [B, w]
            total = total.sub(logProbabilities.mul(c.narrow(1, vectorOffset, width)).sum(1));
        }
        return total.mean().MoveToOuterDisposeScope();
    }
}

/// <summary>
/// CTGAN's training-by-sampling (Xu et al. 2019, §4.3) as a batch source: each row of a batch picks a discrete
/// column uniformly, a category of it with probability ∝ log(1 + count), and then a real row holding that category
/// uniformly; the row is [x, c] with c the conditional vector's one-hot. An epoch is max(⌊N / B⌋, 1) batches of
/// exactly B rows (drawn with replacement), as CTGAN's. A table without discrete columns gives uniformly drawn rows
/// and C = 0. Unshuffled passes (the GAN's output-map pass) give the rows in order, each with a condition it holds
/// (column r mod J), so that they are deterministic. All draws come from the engine's shuffle generator.
/// </summary>
internal sealed class TrainingBySamplingSource : BatchSource
{
    private readonly Tensor _data;              // [N, D] encoded rows
    private readonly Tensor? _cumulative;       // [J, K_max] per column's cumulative log-frequency probabilities (padded with 1)
    private readonly Tensor? _lastCategory;     // [J] int64: each column's category count − 1
    private readonly Tensor? _columnOffset;     // [J] int64: each column's start in the conditional vector
    private readonly Tensor? _slotStart;        // [C] int64: each category's first position in _rowsBySlot
    private readonly Tensor? _slotCount;        // [C] int64 (≥ 1: only categories seen in training)
    private readonly Tensor? _rowsBySlot;       // [N·J] int64: row indices grouped by category
    private readonly int[][] _rowCategories;    // per discrete column, each row's category
    private readonly int[] _offsets;
    private readonly int _batchSize;
    private readonly long _rows;

    public TrainingBySamplingSource(BatchSource source, ConditionalVectorLayout layout, int batchSize)
    {
        _batchSize = batchSize;
        _offsets = layout.Offsets;
        ConditionWidth = layout.Width;
        Dimension = source.Dimension;
        // The rows, in order (the tabular synthesizer's data is one in-memory matrix already).
        using (var scope = NewDisposeScope())
        using (var generator = new Generator(0))
        {
            var parts = source.Batches(4096, shuffle: false, generator, epoch: 0).Select(b => b.clone()).ToList();
            _data = cat(parts, 0).DetachFromDisposeScope();
        }
        _rows = _data.shape[0];
        int n = (int)_rows, j = layout.Columns.Length;
        var values = _data.data<float>().ToArray();
        _rowCategories = new int[j][];
        if (j == 0)
            return;
        var groups = layout.Groups.ToArray();
        int maxCategories = groups.Max(g => g.Width);
        var cumulative = new float[j * maxCategories];
        var slotRows = Enumerable.Range(0, layout.Width).Select(_ => new List<long>()).ToArray();
        for (int i = 0; i < j; i++)
        {
            var (rowOffset, width, vectorOffset) = groups[i];
            var categories = new int[n];
            for (int r = 0; r < n; r++)
            {
                int k = values.AsSpan(r * Dimension + rowOffset, width).IndexOf(1f);
                categories[r] = k;
                slotRows[vectorOffset + k].Add(r);
            }
            _rowCategories[i] = categories;
            // Log-frequency: p_k ∝ log(1 + count_k), so that rare categories are trained on (CTGAN's log_frequency).
            var weights = Enumerable.Range(0, width).Select(k => Math.Log(1 + slotRows[vectorOffset + k].Count)).ToArray();
            double sum = weights.Sum(), running = 0;
            for (int k = 0; k < maxCategories; k++)
            {
                if (k < width)
                    running += weights[k] / sum;
                cumulative[i * maxCategories + k] = k < width - 1 ? (float)running : 1f;
            }
        }
        _cumulative = tensor(cumulative, new long[] { j, maxCategories }).DetachFromDisposeScope();
        _lastCategory = tensor(groups.Select(g => (long)g.Width - 1).ToArray()).DetachFromDisposeScope();
        _columnOffset = tensor(groups.Select(g => (long)g.VectorOffset).ToArray()).DetachFromDisposeScope();
        _slotCount = tensor(slotRows.Select(s => (long)s.Count).ToArray()).DetachFromDisposeScope();
        var starts = new long[layout.Width];
        for (int s = 1; s < starts.Length; s++)
            starts[s] = starts[s - 1] + slotRows[s - 1].Count;
        _slotStart = tensor(starts).DetachFromDisposeScope();
        _rowsBySlot = tensor(slotRows.SelectMany(s => s).ToArray()).DetachFromDisposeScope();
    }

    /// <summary>Rows drawn per epoch: max(⌊N / B⌋, 1)·B (the engine counts the epoch's steps from it).</summary>
    public override long Rows => Math.Max(_rows / _batchSize, 1) * _batchSize;

    public override int Dimension { get; }

    public override int ConditionWidth { get; }

    public override IEnumerable<Tensor> Batches(int batchSize, bool shuffle, Generator generator, int epoch)
    {
        if (!shuffle)
        {
            for (long start = 0; start < _rows; start += batchSize)
            {
                long count = Math.Min(batchSize, _rows - start);
                var x = _data.narrow(0, start, count);
                if (ConditionWidth == 0)
                {
                    yield return x.alias();
                    continue;
                }
                var c = new float[count * ConditionWidth];
                for (long r = 0; r < count; r++)
                {
                    int i = (int)((start + r) % _rowCategories.Length);
                    c[r * ConditionWidth + _offsets[i] + _rowCategories[i][start + r]] = 1;
                }
                yield return cat(new[] { x, tensor(c, new long[] { count, ConditionWidth }) }, 1);
            }
            yield break;
        }
        long steps = Math.Max(_rows / batchSize, 1);
        for (long step = 0; step < steps; step++)
        {
            if (ConditionWidth == 0)
            {
                yield return _data.index_select(0, randint(_rows, new long[] { batchSize }, generator: generator));
                continue;
            }
            var column = randint(_rowCategories.Length, new long[] { batchSize }, generator: generator);          // [B]
            var u = rand(new long[] { batchSize, 1 }, generator: generator);                                      // [B, 1]
            // Inverse CDF: the category is the number of cumulative probabilities below u.
            var category = _cumulative!.index_select(0, column).lt(u).sum(1).minimum(_lastCategory!.index_select(0, column));
            var slot = _columnOffset!.index_select(0, column).add(category);                                      // [B]
            var count = _slotCount!.index_select(0, slot);
            var within = rand(new long[] { batchSize }, generator: generator).mul(count).floor().to_type(ScalarType.Int64).minimum(count.sub(1));
            var rows = _rowsBySlot!.index_select(0, _slotStart!.index_select(0, slot).add(within));              // [B]
            var x = _data.index_select(0, rows);                                                                   // [B, D]
            var c = nn.functional.one_hot(slot, ConditionWidth).to_type(ScalarType.Float32);                       // [B, C]
            yield return cat(new[] { x, c }, 1);
        }
    }

    public override void Dispose()
    {
        _data.Dispose();
        _cumulative?.Dispose();
        _lastCategory?.Dispose();
        _columnOffset?.Dispose();
        _slotStart?.Dispose();
        _slotCount?.Dispose();
        _rowsBySlot?.Dispose();
    }
}
