using System;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Generative.Data;

/// <summary>
/// Rows of one feature column read into a dense row-major <see cref="float"/> array: the shared path from an
/// <see cref="IDataView"/> to training tensors. Every row is checked while it is read, so an error can name the row.
/// </summary>
internal sealed class FeatureMatrix
{
    private FeatureMatrix(float[] values, int rows, int dimension)
    {
        Values = values;
        Rows = rows;
        Dimension = dimension;
    }

    /// <summary>Row-major values, <see cref="Rows"/> × <see cref="Dimension"/>.</summary>
    public float[] Values { get; }

    public int Rows { get; }

    public int Dimension { get; }

    /// <summary>
    /// Reads a known-size <see cref="float"/> vector column. Rows holding NaN or ±∞ fail with the column and the
    /// 0-based row index, or are skipped (and counted in <paramref name="skipped"/>) when
    /// <paramref name="skipNonFinite"/> is set. <paramref name="rowCheck"/> returns a description of what is wrong
    /// with a row, or <see langword="null"/> when the row is fine; a non-null answer fails with that text.
    /// </summary>
    public static FeatureMatrix Read(IHost host, IDataView data, string columnName, string role,
        bool skipNonFinite, Func<ReadOnlySpan<float>, string?>? rowCheck, out long skipped)
    {
        int dim = FeatureColumn.Check(host, data.Schema, columnName, out int col);
        long? known = data.GetRowCount();
        int capacity = known is long k && k > 0 ? checked((int)Math.Min(k * dim, int.MaxValue)) : Math.Max(dim, 1) * 1024;
        float[] values = new float[capacity];
        int rows = 0;
        long rowIndex = -1;
        skipped = 0;

        using (var cursor = data.GetRowCursor(new[] { data.Schema[col] }))
        {
            var getter = cursor.GetGetter<VBuffer<float>>(data.Schema[col]);
            var buffer = default(VBuffer<float>);
            while (cursor.MoveNext())
            {
                rowIndex++;
                if ((rowIndex & 1023) == 0)
                    host.CheckAlive();
                getter(ref buffer);
                if (buffer.Length != dim)
                    throw host.Except($"{role} column '{columnName}' row {rowIndex} has {buffer.Length} values; the schema says {dim}.");
                long needed = (long)(rows + 1) * dim;
                if (needed > values.Length)
                {
                    if (needed > Array.MaxLength)
                        throw host.Except($"{role} column '{columnName}' holds more than {Array.MaxLength} values, too many for one in-memory array.");
                    Array.Resize(ref values, (int)Math.Min(Array.MaxLength, Math.Max(needed, 2L * values.Length)));
                }
                var row = values.AsSpan(rows * dim, dim);
                buffer.CopyTo(row);

                int bad = IndexOfNonFinite(row);
                if (bad >= 0)
                {
                    if (skipNonFinite)
                    {
                        skipped++;
                        continue;
                    }
                    throw host.Except(
                        $"{role} column '{columnName}' has a non-finite value ({row[bad]}) at row {rowIndex} (0-based), slot {bad}. "
                        + "Clean or impute the data (mlContext.Transforms.ReplaceMissingValues), or set "
                        + "SkipRowsWithNonFiniteValues = true to skip such rows.");
                }
                if (rowCheck?.Invoke(row) is string problem)
                    throw host.Except($"{role} column '{columnName}' row {rowIndex} (0-based): {problem}");
                rows++;
            }
        }

        if (rows == 0)
            throw host.Except(skipped > 0
                ? $"{role} data has no usable rows: all {skipped} rows of '{columnName}' hold NaN or infinity."
                : $"{role} data is empty: column '{columnName}' has no rows.");
        if (values.Length != (long)rows * dim)
            Array.Resize(ref values, rows * dim);
        return new FeatureMatrix(values, rows, dim);
    }

    private static int IndexOfNonFinite(ReadOnlySpan<float> row)
    {
        for (int i = 0; i < row.Length; i++)
        {
            if (!float.IsFinite(row[i]))
                return i;
        }
        return -1;
    }
}
