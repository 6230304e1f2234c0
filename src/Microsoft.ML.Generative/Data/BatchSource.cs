using System;
using System.Collections.Generic;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Data;

/// <summary>
/// Mini-batches for the training engine, of any batch type: a float matrix (<see cref="BatchSource"/>) or a set of
/// named tensors (<see cref="SequenceBatchSource"/>). Each batch's tensors are created when the enumerator moves to
/// it, inside the caller's dispose scope, and are valid until the next move.
/// </summary>
internal abstract class BatchSource<TBatch> : IDisposable
{
    /// <summary>Rows (examples) per epoch.</summary>
    public abstract long Rows { get; }

    /// <summary>One epoch of batches; shuffled with <paramref name="generator"/> when <paramref name="shuffle"/> is set.</summary>
    public abstract IEnumerable<TBatch> Batches(int batchSize, bool shuffle, Generator generator, int epoch);

    public abstract void Dispose();
}

/// <summary>Mini-batches of feature rows, <c>[B, D]</c> float32: the float-vector families' batches.</summary>
internal abstract class BatchSource : BatchSource<Tensor>
{
    /// <summary>Features per row (D).</summary>
    public abstract int Dimension { get; }

    /// <summary>
    /// Floats of the encoded condition after the features in each row (C; 0 for an unconditional model): batches are
    /// <c>[B, D + C]</c>, the features first (see <see cref="ConditionEncoding"/>).
    /// </summary>
    public virtual int ConditionWidth => 0;
}

/// <summary>
/// Rows of one <c>[N, D]</c> tensor, all of them or the subset named by a row index (a hold-out split shares the
/// cached tensor instead of copying it); batches are random index sets drawn without replacement.
/// </summary>
internal sealed class InMemoryBatchSource : BatchSource
{
    private readonly Tensor _data;
    private readonly Tensor? _rows;
    private readonly int _conditionWidth;

    /// <param name="data">Rows <c>[N, D + C]</c>; the source owns and disposes this handle (pass an alias to share).</param>
    /// <param name="rows">Int64 indices of the rows to use, or null for all; owned likewise.</param>
    /// <param name="conditionWidth">C, the trailing condition columns of each row (0: none).</param>
    public InMemoryBatchSource(Tensor data, Tensor? rows = null, int conditionWidth = 0)
    {
        _data = data;
        _rows = rows;
        _conditionWidth = conditionWidth;
    }

    public override long Rows => _rows?.shape[0] ?? _data.shape[0];

    public override int Dimension => (int)_data.shape[1] - _conditionWidth;

    public override int ConditionWidth => _conditionWidth;

    internal Tensor Data => _data;

    public override IEnumerable<Tensor> Batches(int batchSize, bool shuffle, Generator generator, int epoch)
    {
        long rows = Rows;
        // Created on the first move, inside the first step's scope: detach it so that it lives for the whole epoch.
        var order = shuffle ? randperm(rows, generator: generator).DetachFromDisposeScope() : null;
        try
        {
            for (long start = 0; start < rows; start += batchSize)
            {
                long count = Math.Min(batchSize, rows - start);
                if (order is null && _rows is null)
                {
                    yield return _data.narrow(0, start, count);
                    continue;
                }
                using var positions = order is null ? _rows!.narrow(0, start, count) : order.narrow(0, start, count);
                if (_rows is null || order is null)
                {
                    yield return _data.index_select(0, positions);
                }
                else
                {
                    using var index = _rows.index_select(0, positions);
                    yield return _data.index_select(0, index);
                }
            }
        }
        finally
        {
            order?.Dispose();
        }
    }

    public override void Dispose()
    {
        _data.Dispose();
        _rows?.Dispose();
    }
}

/// <summary>
/// Rows read from the <see cref="IDataView"/> again every epoch, for data larger than the cache cap. Memory stays
/// bounded by the shuffle buffer: rows enter a buffer of fixed size and leave it in random order (the data view's
/// own shuffling, where it has one, is used as well). Rows are checked as they are read, every epoch.
/// </summary>
internal sealed class StreamingBatchSource : BatchSource
{
    private readonly IHost _host;
    private readonly IDataView _data;
    private readonly string _column;
    private readonly string _role;
    private readonly bool _skipNonFinite;
    private readonly Func<ReadOnlySpan<float>, string?>? _rowCheck;
    private readonly Func<DataViewRowId, bool> _include;
    private readonly int _bufferRows;
    private readonly int _seed;
    private readonly ConditionEncoding? _condition;

    public StreamingBatchSource(IHost host, IDataView data, string column, string role, bool skipNonFinite,
        Func<ReadOnlySpan<float>, string?>? rowCheck, Func<DataViewRowId, bool> include, int bufferRows, int seed, int dimension, long rows,
        ConditionEncoding? condition = null)
    {
        _condition = condition;
        _host = host;
        _data = data;
        _column = column;
        _role = role;
        _skipNonFinite = skipNonFinite;
        _rowCheck = rowCheck;
        _include = include;
        _bufferRows = bufferRows;
        _seed = seed;
        Dimension = dimension;
        Rows = rows;
    }

    public override long Rows { get; }

    public override int Dimension { get; }

    public override int ConditionWidth => _condition?.Width ?? 0;

    public override IEnumerable<Tensor> Batches(int batchSize, bool shuffle, Generator generator, int epoch)
    {
        int d = Dimension + ConditionWidth;   // floats per row: features, then the encoded condition
        var batch = new float[(long)batchSize * d];
        using var reader = new FeatureRowReader(_host, _data, _column, _role, _skipNonFinite, _rowCheck,
            shuffle && _data.CanShuffle ? new Random(unchecked(_seed * 17 + epoch)) : null, _condition);
        int inBatch = 0;

        if (!shuffle)
        {
            while (reader.TryRead(batch.AsSpan(inBatch * d, d), out var id))
            {
                if (!_include(id))
                    continue;
                if (++inBatch == batchSize)
                {
                    yield return Wrap(batch, inBatch, d);
                    inBatch = 0;
                }
            }
        }
        else
        {
            // A shuffle buffer: rows enter it in the order read and leave it in random order.
            int capacity = Math.Max(_bufferRows, batchSize);   // already bounded by the memory cap (TrainingData)
            var buffer = new float[(long)capacity * d];
            var random = new Random(unchecked(_seed * 31 + epoch));
            int filled = 0;
            bool more = true;
            while (true)
            {
                while (more && filled < capacity)
                {
                    if (!reader.TryRead(buffer.AsSpan(filled * d, d), out var id))
                        more = false;
                    else if (_include(id))
                        filled++;
                }
                if (filled == 0)
                    break;
                int pick = random.Next(filled);
                buffer.AsSpan(pick * d, d).CopyTo(batch.AsSpan(inBatch * d, d));
                filled--;
                buffer.AsSpan(filled * d, d).CopyTo(buffer.AsSpan(pick * d, d)); // the last row fills the hole
                if (++inBatch == batchSize)
                {
                    yield return Wrap(batch, inBatch, d);
                    inBatch = 0;
                }
            }
        }
        if (inBatch > 0)
            yield return Wrap(batch, inBatch, d);
    }

    private static Tensor Wrap(float[] values, int rows, int d)
    {
        // Shares the array (pinned while the tensor lives); the array is refilled only after the step's scope ends.
        using var flat = frombuffer(values, ScalarType.Float32, (long)rows * d);
        return flat.view(rows, d);
    }

    public override void Dispose()
    {
    }
}
