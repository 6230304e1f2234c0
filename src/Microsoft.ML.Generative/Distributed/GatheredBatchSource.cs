using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Generative.Data;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Distributed;

/// <summary>
/// Sharded data-parallel training: every rank's shard, read in rank order as if it were one data set, on every rank.
/// A family's pass over the training data before training (a flow's standardization statistics, a GAN's output map)
/// reads it through this source, so that data-dependent state is computed over all shards exactly as one process
/// would compute it over their concatenation, never from one rank's shard alone. Only unshuffled passes.
/// </summary>
/// <remarks>
/// Protocol per batch: the owning rank broadcasts the batch's row count, then its rows; 0 ends its shard, −1 says it
/// failed to read (every rank then throws, so nobody waits in a broadcast). Each pass sends the whole data set to
/// every rank once, in batches; memory stays one batch.
/// </remarks>
internal sealed class GatheredBatchSource : BatchSource
{
    private readonly BatchSource _local;
    private readonly Communicator _comm;

    /// <summary>Collective: every rank constructs it at the same point.</summary>
    public GatheredBatchSource(BatchSource local, Communicator comm)
    {
        _local = local;
        _comm = comm;
        // A conditional model's rows carry the encoded condition after the features: both widths must agree.
        var sizes = new long[] { local.Rows, local.Dimension, -local.Dimension, local.ConditionWidth, -local.ConditionWidth };
        comm.AllReduce(sizes.AsSpan(0, 1));
        comm.AllReduce(sizes.AsSpan(1, 4), MpiOp.Max);
        if (sizes[1] != -sizes[2])
            throw Communicator.MarkAgreed(new InvalidOperationException(
                $"The ranks' shards have different feature widths (from {-sizes[2]} to {sizes[1]} values per row): every shard must have the same feature column."));
        if (sizes[3] != -sizes[4])
            throw Communicator.MarkAgreed(new InvalidOperationException(
                $"The ranks' shards have different condition widths (from {-sizes[4]} to {sizes[3]} values per row): every shard must have the same condition column, with the same key values."));
        Rows = sizes[0];
    }

    public override long Rows { get; }

    public override int Dimension => _local.Dimension;

    public override int ConditionWidth => _local.ConditionWidth;

    public override IEnumerable<Tensor> Batches(int batchSize, bool shuffle, Generator generator, int epoch)
    {
        if (shuffle)
            throw new NotSupportedException("The gathered shards are for passes in order only.");
        int d = Dimension + ConditionWidth;   // values per row: features, then the encoded condition
        for (int owner = 0; owner < _comm.Size; owner++)
        {
            if (owner == _comm.Rank)
            {
                using var batches = _local.Batches(batchSize, shuffle: false, generator, epoch).GetEnumerator();
                while (true)
                {
                    bool more;
                    try
                    {
                        more = batches.MoveNext();
                    }
                    catch
                    {
                        SendCount(-1);
                        throw;
                    }
                    if (!more)
                        break;
                    var batch = batches.Current;
                    using (var contiguous = batch.contiguous())
                    {
                        var values = contiguous.data<float>().ToArray();
                        SendCount(batch.shape[0]);
                        _comm.Broadcast(values.AsSpan(), owner);
                    }
                    yield return batch;
                }
                SendCount(0);
            }
            else
            {
                while (true)
                {
                    long count = ReceiveCount(owner);
                    if (count == 0)
                        break;
                    if (count < 0)
                        throw new InvalidOperationException($"Rank {owner} of {_comm.Size} failed while reading its shard of the training data.");
                    var values = new float[count * d];
                    _comm.Broadcast(values.AsSpan(), owner);
                    using var flat = frombuffer(values, ScalarType.Float32);
                    yield return flat.view(count, d);
                }
            }
        }
    }

    private void SendCount(long count) => _comm.Broadcast(new Span<long>(ref count), _comm.Rank);

    private long ReceiveCount(int owner)
    {
        long count = 0;
        _comm.Broadcast(new Span<long>(ref count), owner);
        return count;
    }

    /// <summary>The local shard stays owned by the caller.</summary>
    public override void Dispose()
    {
    }
}
