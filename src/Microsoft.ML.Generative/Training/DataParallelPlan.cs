using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.InteropServices;
using Microsoft.ML.Generative.Data;
using Microsoft.ML.Generative.Distributed;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Training;

/// <summary>
/// How one data-parallel <see cref="TrainingEngine.Run"/> splits the work: the epoch's length every rank agreed on,
/// and which rows of each global batch this rank trains on.
/// </summary>
/// <remarks>
/// <para>Replicated data (the default): every rank holds all rows, shuffles them with the same generator, and takes rows
/// ⌊g·r/n⌋ … ⌊g·(r+1)/n⌋ − 1 of each global batch of g rows. A rank left without rows (g &lt; n, at the end of an
/// epoch) trains on a stand-in row with weight 0, so that it joins the same collectives and adds nothing.</para>
/// <para>Sharded data: every rank holds its own shard of N_r rows; an epoch is ⌈ΣN / B⌉ steps; rank r contributes
/// b_r rows to each global batch (B split in proportion to the shards' sizes by the largest-remainder method, at
/// least 1 each), from its own shard, reshuffled when it runs out. A rank whose shard is empty contributes no rows:
/// it trains every step on a stand-in row (the first row of the first non-empty shard, broadcast once) with weight
/// 0, so that it joins the same collectives and adds nothing.</para>
/// </remarks>
internal sealed class DataParallelPlan
{
    private readonly Communicator _comm;
    private readonly int _localBatch;
    private readonly long _localOffset;
    private readonly int _globalBatch;
    // A Func<TBatch> making the stand-in batch of an empty shard, or null.
    private readonly object? _standIn;

    private DataParallelPlan(Communicator comm, bool sharded, long totalRows, int steps, int globalBatch, int localBatch, long localOffset,
        object? standIn = null)
    {
        _standIn = standIn;
        _comm = comm;
        Sharded = sharded;
        TotalRows = totalRows;
        Steps = steps;
        _globalBatch = globalBatch;
        _localBatch = localBatch;
        _localOffset = localOffset;
    }

    public bool Sharded { get; }

    /// <summary>Rows per epoch, all ranks together (replicated: the rows every rank holds).</summary>
    public long TotalRows { get; }

    /// <summary>Steps per epoch, the same on every rank.</summary>
    public int Steps { get; }

    /// <summary>
    /// Checks that every rank built the same model and holds data that fits the mode, broadcasts rank 0's weights and
    /// buffers, and agrees on the epoch's length. Every failure is thrown by every rank together.
    /// </summary>
    public static DataParallelPlan Create<TBatch>(Communicator comm, GenerativeObjective<TBatch> objective, BatchSource<TBatch> train, int batchSize,
        bool sharded)
    {
        long localRows = train.Rows;
        int n = comm.Size;
        var state = objective.Model.state_dict().Values.ToArray();
        long elements = state.Sum(t => t.numel());
        // Element counts and row counts of every rank, in one all-reduce.
        var counts = new long[2 * n];
        counts[comm.Rank] = elements;
        counts[n + comm.Rank] = localRows;
        comm.AllReduce(counts.AsSpan());
        var rankElements = counts.Take(n).ToArray();
        var rankRows = counts.Skip(n).ToArray();
        if (rankElements.Distinct().Count() > 1)
            throw Communicator.MarkAgreed(new InvalidOperationException(
                $"The ranks built models of different sizes ({string.Join(", ", rankElements.Select((e, r) => $"rank {r}: {e} values"))}): "
                + "every rank must run the same program with the same options on data with the same columns."));
        BroadcastState(comm, state);

        if (!sharded)
        {
            if (rankRows.Distinct().Count() > 1)
                throw Communicator.MarkAgreed(new InvalidOperationException(
                    $"The ranks hold different numbers of training rows ({string.Join(", ", rankRows.Select((c, r) => $"rank {r}: {c}"))}). "
                    + "By default every rank must read the same data (each trains on its slice of every global batch); "
                    + "if each rank reads its own part of the data, set ShardedData = true."));
            int steps = checked((int)((localRows + batchSize - 1) / batchSize));
            return new DataParallelPlan(comm, false, localRows, steps, batchSize, 0, 0);
        }

        long total = rankRows.Sum();
        if (total == 0)
            throw Communicator.MarkAgreed(new InvalidOperationException(
                $"Training data is empty on every one of the {n} ranks (ShardedData = true): give the ranks their shards of the data."));
        int active = rankRows.Count(r => r > 0);
        if (batchSize < active)
            throw Communicator.MarkAgreed(new ArgumentException(
                $"BatchSize ({batchSize}) is the global batch and must give every one of the {active} ranks that hold rows at least one row per step with ShardedData = true: "
                + $"set BatchSize to at least {active}.", "BatchSize"));
        var shares = Shares(rankRows, batchSize);
        int stepsPerEpoch = checked((int)((total + batchSize - 1) / batchSize));
        long offset = shares.Take(comm.Rank).Sum();
        // Empty shards train on a stand-in row with weight 0: the first row of the first non-empty shard.
        object? standIn = rankRows.Any(r => r == 0) ? objective.ShareStandIn(comm, Array.FindIndex(rankRows, r => r > 0), train) : null;
        return new DataParallelPlan(comm, true, total, stepsPerEpoch, batchSize, shares[comm.Rank], offset, rankRows[comm.Rank] == 0 ? standIn : null);
    }

    /// <summary>
    /// <paramref name="batchSize"/> split over the ranks in proportion to their rows (largest remainder, ties to the
    /// lower rank), at least 1 for each rank that has rows and 0 for an empty shard; the shares add up to
    /// <paramref name="batchSize"/>.
    /// </summary>
    internal static int[] Shares(long[] rows, int batchSize)
    {
        int n = rows.Length;
        int active = rows.Count(r => r > 0);
        double total = rows.Sum();
        var shares = new int[n];
        var remainders = new double[n];
        for (int r = 0; r < n; r++)
        {
            if (rows[r] == 0)
                continue;
            double exact = 1 + (batchSize - active) * (rows[r] / total);   // one row each, the rest in proportion
            shares[r] = (int)Math.Floor(exact);
            remainders[r] = exact - shares[r];
        }
        int left = batchSize - shares.Sum();
        foreach (int r in Enumerable.Range(0, n).Where(r => rows[r] > 0).OrderByDescending(r => remainders[r]).ThenBy(r => r).Take(left))
            shares[r]++;
        return shares;
    }

    /// <summary>This rank's part of <paramref name="batch"/> (the global batch when replicated, its own when sharded).</summary>
    public (TBatch Batch, StepInfo Info, long Rows) Slice<TBatch>(GenerativeObjective<TBatch> objective, TBatch batch, StepInfo info)
    {
        if (Sharded)
        {
            if (_standIn is not null)
                return (batch, info with { GlobalRows = _globalBatch, RowOffset = 0, Weight = 0 }, 0);   // an empty shard's stand-in
            long rows = objective.RowsOf(batch);
            return (batch, info with { GlobalRows = _globalBatch, RowOffset = _localOffset, Weight = objective.WeightOf(batch) }, rows);
        }
        long g = objective.RowsOf(batch);
        long start = g * _comm.Rank / _comm.Size, end = g * (_comm.Rank + 1) / _comm.Size;
        if (end == start)
        {
            // No rows for this rank in this step: a stand-in row with weight 0 keeps the collectives in step.
            var standIn = objective.SliceRows(batch, 0, 1);
            return (standIn, info with { GlobalRows = g, RowOffset = 0, Weight = 0 }, 0);
        }
        var local = objective.SliceRows(batch, start, end - start);
        return (local, info with { GlobalRows = g, RowOffset = start, Weight = objective.WeightOf(local) }, end - start);
    }

    /// <summary>
    /// Sharded data: exactly <see cref="Steps"/> batches of this rank's share from its own shard, shuffled, starting a
    /// new shuffled pass over the shard when it runs out.
    /// </summary>
    public IEnumerable<TBatch> ShardBatches<TBatch>(BatchSource<TBatch> train, Generator generator, int epoch)
    {
        if (_standIn is Func<TBatch> standIn)
        {
            // An empty shard: the stand-in row, made inside each step's scope.
            for (int step = 0; step < Steps; step++)
                yield return standIn();
            yield break;
        }
        int produced = 0;
        for (int pass = 0; produced < Steps; pass++)
        {
            int before = produced;
            // Each pass of an epoch gets its own stream seed in a streamed source (epoch numbers never repeat).
            foreach (var batch in train.Batches(_localBatch, shuffle: true, generator, epoch + pass * 1_000_003))
            {
                yield return batch;
                if (++produced == Steps)
                    yield break;
            }
            if (produced == before)
                yield break;   // never loop forever (an empty shard has a stand-in above)
        }
    }

    /// <summary>Rank 0's weights and buffers, copied into every other rank's model.</summary>
    private static void BroadcastState(Communicator comm, Tensor[] state)
    {
        using var noGrad = no_grad();
        foreach (var t in state)
        {
            switch (t.dtype)
            {
                case ScalarType.Float32: Broadcast<float>(comm, t); break;
                case ScalarType.Float64: Broadcast<double>(comm, t); break;
                case ScalarType.Int64: Broadcast<long>(comm, t); break;
                case ScalarType.Int32: Broadcast<int>(comm, t); break;
                case ScalarType.Bool: Broadcast<bool>(comm, t); break;
                case ScalarType.Byte: Broadcast<byte>(comm, t); break;
                default: throw new NotSupportedException($"Cannot broadcast a model tensor of type {t.dtype}.");
            }
        }
    }

    private static void Broadcast<T>(Communicator comm, Tensor t) where T : unmanaged
    {
        using var contiguous = t.contiguous();
        var values = contiguous.data<T>().ToArray();
        comm.Broadcast(MemoryMarshal.AsBytes(values.AsSpan()));
        if (comm.IsRoot)
            return;
        using var flat = frombuffer(values, t.dtype);
        using var shaped = flat.view(t.shape);
        t.copy_(shaped);
    }
}
