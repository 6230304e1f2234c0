using System;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Training;
using Microsoft.ML.Runtime;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Data;

/// <summary>
/// The one path from <see cref="IDataView"/>s to training batches, shared by every family. Data up to
/// <see cref="GenerativeTrainerOptions.MaxCachedMegabytes"/> is read once into a single tensor; larger data is
/// checked in one pass and then streamed every epoch through a shuffle buffer, so memory stays bounded. With a
/// <see cref="ConditionEncoding"/>, every row carries its encoded condition as trailing columns
/// (<c>[B, D + C]</c>; <see cref="BatchSource.ConditionWidth"/> = C) and the family's objective splits it.
/// </summary>
internal static class TrainingData
{
    public static (BatchSource Train, BatchSource? Validation) Load(IHost host, IChannel ch, IDataView input, IDataView? validationData,
        GenerativeTrainerOptions options, Func<ReadOnlySpan<float>, string?>? rowCheck, int seed, ConditionEncoding? condition = null)
    {
        long cap = (long)options.MaxCachedMegabytes << 20;
        if (validationData is not null)
        {
            var train = Open(host, ch, input, "Training", options, rowCheck, cap, seed, _ => true, condition);
            try
            {
                var validation = Open(host, ch, validationData, "Validation", options, rowCheck, cap, seed, _ => true, condition);
                int validationDimension = validation.Dimension;
                if (validationDimension != train.Dimension)
                {
                    // The sizes are read before the source is disposed: a disposed in-memory source has no shape.
                    validation.Dispose();
                    throw host.ExceptParam(nameof(validationData),
                        $"Validation column '{options.FeatureColumnName}' has {validationDimension} values per row; the training data has {train.Dimension}. Pass validation rows with the same features as the training rows.");
                }
                return (train, validation);
            }
            catch
            {
                train.Dispose();
                throw;
            }
        }

        if (options.ValidationFraction <= 0)
            return (Open(host, ch, input, "Training", options, rowCheck, cap, seed, _ => true, condition), null);

        double fraction = options.ValidationFraction;
        var cached = TryCache(host, ch, input, "Training", options, rowCheck, cap, _ => true, condition);
        if (cached is not null)
        {
            // Exact hold-out: a seeded permutation of the cached rows.
            using (cached)
            {
                long rows = cached.Rows;
                long holdOut = (long)Math.Round(rows * fraction);
                host.CheckUserArg(holdOut >= 1 && holdOut < rows, nameof(options.ValidationFraction),
                    $"Holding out a fraction {fraction} of {rows} rows leaves no rows for training or none for validation.");
                using var generator = new Generator((ulong)seed + 2);
                using var order = randperm(rows, generator: generator);
                using var trainRows = order.narrow(0, holdOut, rows - holdOut);
                using var validationRows = order.narrow(0, 0, holdOut);
                // Both sides index the one cached tensor (aliases share its storage): no copy of the data.
                return (new InMemoryBatchSource(cached.Data.alias(), trainRows.clone(), cached.ConditionWidth),
                        new InMemoryBatchSource(cached.Data.alias(), validationRows.clone(), cached.ConditionWidth));
            }
        }

        // Streaming hold-out: a row belongs to the validation set when a seeded hash of its row ID falls below the fraction.
        bool IsValidation(DataViewRowId id) => Uniform(id, seed) < fraction;
        var (trainStream, validationStream) = StreamHoldOut(host, ch, input, options, rowCheck, seed, IsValidation, condition);
        host.CheckUserArg(trainStream.Rows > 0 && validationStream.Rows > 0, nameof(options.ValidationFraction),
            $"Holding out a fraction {fraction} of the rows leaves no rows for training or none for validation.");
        return (trainStream, validationStream);
    }

    private static BatchSource Open(IHost host, IChannel ch, IDataView data, string role, GenerativeTrainerOptions options,
        Func<ReadOnlySpan<float>, string?>? rowCheck, long cap, int seed, Func<DataViewRowId, bool> include, ConditionEncoding? condition)
        => (BatchSource?)TryCache(host, ch, data, role, options, rowCheck, cap, include, condition)
           ?? Stream(host, ch, data, role, options, rowCheck, seed, include, condition);

    /// <summary>Reads the rows into one tensor, or returns null when they need more than <paramref name="cap"/> bytes.</summary>
    private static InMemoryBatchSource? TryCache(IHost host, IChannel ch, IDataView data, string role, GenerativeTrainerOptions options,
        Func<ReadOnlySpan<float>, string?>? rowCheck, long cap, Func<DataViewRowId, bool> include, ConditionEncoding? condition)
    {
        // Features plus the encoded condition: one row of the cached matrix.
        int dim = FeatureColumn.Check(host, data.Schema, options.FeatureColumnName, out _) + (condition?.Width ?? 0);
        long limit = Math.Min(Array.MaxLength, cap / sizeof(float));
        long? known = data.GetRowCount();
        if (known is long k && k * dim > limit)
            return null;

        using var reader = new FeatureRowReader(host, data, options.FeatureColumnName, role, options.SkipRowsWithNonFiniteValues, rowCheck,
            condition: condition);
        // Exactly sized when the row count is known, so that no copy is needed at the end.
        var values = new float[Math.Min(known is long n && n > 0 ? n * dim : Math.Max(dim, 1) * 1024L, Math.Max(limit, dim))];
        var scratch = new float[dim];
        long rows = 0;
        while (true)
        {
            // Read into the array while it has room; otherwise into a scratch row, and grow only if a row came.
            bool fits = (rows + 1) * dim <= values.Length;
            if (!reader.TryRead(fits ? values.AsSpan((int)(rows * dim), dim) : scratch, out var id))
                break;
            if (!include(id))
                continue;
            if (!fits)
            {
                long grown = Math.Min(Math.Max(2L * values.Length, (rows + 1) * dim), limit);
                if (grown < (rows + 1) * dim)
                    return null; // larger than the cap: the caller streams instead
                Array.Resize(ref values, (int)grown);
                scratch.CopyTo(values.AsSpan((int)(rows * dim), dim));
            }
            rows++;
        }
        if (rows == 0)
            throw reader.NoRows();
        if (reader.Skipped > 0)
            ch.Warning("Skipped {0} {1} rows whose '{2}' values hold NaN or infinity.", reader.Skipped, role.ToLowerInvariant(), options.FeatureColumnName);
        if (values.Length != rows * dim)
            Array.Resize(ref values, (int)(rows * dim));
        // Shares the array (pinned while the tensor lives): no second copy of the data.
        using var flat = frombuffer(values, ScalarType.Float32);
        return new InMemoryBatchSource(flat.view(rows, dim), conditionWidth: condition?.Width ?? 0);
    }

    private static StreamingBatchSource Stream(IHost host, IChannel ch, IDataView data, string role, GenerativeTrainerOptions options,
        Func<ReadOnlySpan<float>, string?>? rowCheck, int seed, Func<DataViewRowId, bool> include, ConditionEncoding? condition)
    {
        var (rows, dimension) = CheckingPass(host, ch, data, role, options, rowCheck, id => include(id) ? 0 : -1, 1, condition);
        return MakeStream(host, ch, data, role, options, rowCheck, seed, include, dimension, rows[0], condition);
    }

    /// <summary>Streams for a hold-out split of one data view: one checking pass counts both sides.</summary>
    private static (StreamingBatchSource Train, StreamingBatchSource Validation) StreamHoldOut(IHost host, IChannel ch, IDataView data,
        GenerativeTrainerOptions options, Func<ReadOnlySpan<float>, string?>? rowCheck, int seed, Func<DataViewRowId, bool> isValidation,
        ConditionEncoding? condition)
    {
        var (rows, dimension) = CheckingPass(host, ch, data, "Training", options, rowCheck, id => isValidation(id) ? 1 : 0, 2, condition);
        return (MakeStream(host, ch, data, "Training", options, rowCheck, seed, id => !isValidation(id), dimension, rows[0], condition),
                MakeStream(host, ch, data, "Validation", options, rowCheck, seed, isValidation, dimension, rows[1], condition));
    }

    /// <summary>
    /// Reads every row once before training, so that bad rows fail before any step and epoch sizes are known;
    /// <paramref name="side"/> sorts a row into one of <paramref name="sides"/> counts (−1: none).
    /// </summary>
    private static (long[] Rows, int Dimension) CheckingPass(IHost host, IChannel ch, IDataView data, string role,
        GenerativeTrainerOptions options, Func<ReadOnlySpan<float>, string?>? rowCheck, Func<DataViewRowId, int> side, int sides,
        ConditionEncoding? condition)
    {
        using var reader = new FeatureRowReader(host, data, options.FeatureColumnName, role, options.SkipRowsWithNonFiniteValues, rowCheck,
            condition: condition);
        var row = new float[reader.Width];
        var rows = new long[sides];
        while (reader.TryRead(row, out var id))
        {
            int s = side(id);
            if (s >= 0)
                rows[s]++;
        }
        if (reader.RowsRead == reader.Skipped)
            throw reader.NoRows();
        if (reader.Skipped > 0)
            ch.Warning("Skipping {0} rows whose '{1}' values hold NaN or infinity, in every epoch.", reader.Skipped, options.FeatureColumnName);
        return (rows, reader.Dimension);
    }

    private static StreamingBatchSource MakeStream(IHost host, IChannel ch, IDataView data, string role, GenerativeTrainerOptions options,
        Func<ReadOnlySpan<float>, string?>? rowCheck, int seed, Func<DataViewRowId, bool> include, int dimension, long rows,
        ConditionEncoding? condition)
    {
        // The shuffle buffer is itself bounded by the memory cap (but holds at least one batch).
        int width = dimension + (condition?.Width ?? 0);
        long capRows = ((long)options.MaxCachedMegabytes << 20) / (sizeof(float) * (long)width);
        int bufferRows = (int)Math.Max(options.BatchSize, Math.Min(options.ShuffleBufferRows, Math.Min(capRows, Array.MaxLength / width)));
        ch.Info("{0} data ({1} rows × {2} features) needs more than MaxCachedMegabytes = {3} in memory: it is read again every epoch, through a shuffle buffer of {4} rows.",
            role, rows, dimension, options.MaxCachedMegabytes, bufferRows);
        return new StreamingBatchSource(host, data, options.FeatureColumnName, role, options.SkipRowsWithNonFiniteValues, rowCheck, include,
            bufferRows, seed, dimension, rows, condition);
    }

    /// <summary>A seeded hash of a row ID mapped to [0, 1).</summary>
    internal static double Uniform(DataViewRowId id, int seed)
    {
        ulong h = id.Low * 0x9E3779B97F4A7C15UL ^ id.High * 0xC2B2AE3D27D4EB4FUL ^ (ulong)(uint)seed * 0x165667B19E3779F9UL;
        h ^= h >> 33;
        h *= 0xFF51AFD7ED558CCDUL;
        h ^= h >> 33;
        h *= 0xC4CEB9FE1A85EC53UL;
        h ^= h >> 33;
        return (h >> 11) * (1.0 / (1UL << 53));
    }
}
