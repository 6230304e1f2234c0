using System;
using System.Numerics;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Generative.Data;

/// <summary>
/// Reads the feature vectors of an <see cref="IDataView"/> row by row and checks each one while it is read, so that
/// an error can name the column and the row: NaN/±∞ (fail, or skip when asked), then a family's own check (such as
/// values in [0, 1] for a Bernoulli likelihood). Shared by the in-memory and the streaming data paths. With a
/// condition (<see cref="ConditionEncoding"/>), each row is read as <c>[features, encoded condition]</c>,
/// <see cref="Width"/> floats: a row whose condition is missing or non-finite fails (or is skipped) like a
/// non-finite feature.
/// </summary>
internal sealed class FeatureRowReader : IDisposable
{
    private readonly IHost _host;
    private readonly DataViewRowCursor _cursor;
    private readonly ValueGetter<VBuffer<float>> _getter;
    private readonly ValueGetter<DataViewRowId> _id;
    private readonly string _column;
    private readonly string _role;
    private readonly bool _skipNonFinite;
    private readonly Func<ReadOnlySpan<float>, string?>? _rowCheck;
    private readonly ConditionEncoding? _condition;
    private readonly ConditionEncoding.Reader? _conditionReader;
    private VBuffer<float> _buffer;

    public FeatureRowReader(IHost host, IDataView data, string columnName, string role, bool skipNonFinite,
        Func<ReadOnlySpan<float>, string?>? rowCheck, Random? shuffle = null, ConditionEncoding? condition = null)
    {
        _host = host;
        _column = columnName;
        _role = role;
        _skipNonFinite = skipNonFinite;
        _rowCheck = rowCheck;
        Dimension = FeatureColumn.Check(host, data.Schema, columnName, out int index);
        _condition = condition;
        if (condition is null)
        {
            _cursor = data.GetRowCursor(new[] { data.Schema[index] }, shuffle);
        }
        else
        {
            int conditionIndex = condition.Check(host, data.Schema, role);
            _cursor = data.GetRowCursor(new[] { data.Schema[index], data.Schema[conditionIndex] }, shuffle);
            _conditionReader = condition.CreateReader(_cursor, conditionIndex);
        }
        _getter = _cursor.GetGetter<VBuffer<float>>(data.Schema[index]);
        _id = _cursor.GetIdGetter();
    }

    /// <summary>Features per row.</summary>
    public int Dimension { get; }

    /// <summary>Floats per row read: <see cref="Dimension"/> plus the encoded condition's width.</summary>
    public int Width => Dimension + (_condition?.Width ?? 0);

    /// <summary>Rows read so far, skipped ones included.</summary>
    public long RowsRead { get; private set; }

    /// <summary>Rows skipped for holding NaN or infinity.</summary>
    public long Skipped { get; private set; }

    /// <summary>
    /// Reads the next usable row into <paramref name="row"/> (length <see cref="Width"/>); false at the end.
    /// <paramref name="id"/> is the row's stable identity in the data view.
    /// </summary>
    public bool TryRead(Span<float> row, out DataViewRowId id)
    {
        while (_cursor.MoveNext())
        {
            long index = RowsRead++;
            if ((index & 1023) == 0)
                _host.CheckAlive();
            _getter(ref _buffer);
            if (_buffer.Length != Dimension)
                throw _host.Except($"{_role} column '{_column}' row {index} has {_buffer.Length} values; the schema says {Dimension}.");
            _buffer.CopyTo(row.Slice(0, Dimension));
            if (_conditionReader is not null && !_conditionReader.Read(row.Slice(Dimension)))
            {
                if (_skipNonFinite)
                {
                    Skipped++;
                    continue;
                }
                throw _host.Except(
                    $"{_role} condition column '{_condition!.ColumnName}' has {_conditionReader.LastProblem} at row {index} (0-based). "
                    + "Filter or impute such rows, or set SkipRowsWithNonFiniteValues = true to skip them.");
            }
            int bad = IndexOfNonFinite(row.Slice(0, Dimension));
            if (bad >= 0)
            {
                if (_skipNonFinite)
                {
                    Skipped++;
                    continue;
                }
                throw _host.Except(
                    $"{_role} column '{_column}' has a non-finite value ({row[bad]}) at row {index} (0-based), slot {bad}. "
                    + "Clean or impute the data (mlContext.Transforms.ReplaceMissingValues), or set "
                    + "SkipRowsWithNonFiniteValues = true to skip such rows.");
            }
            if (_rowCheck?.Invoke(row.Slice(0, Dimension)) is string problem)
                throw _host.Except($"{_role} column '{_column}' row {index} (0-based): {problem}");
            id = default;
            _id(ref id);
            return true;
        }
        id = default;
        return false;
    }

    /// <summary>The error for data that yielded no usable row.</summary>
    public Exception NoRows()
        => _host.Except(Skipped > 0
            ? $"{_role} data has no usable rows: all {Skipped} rows of '{_column}' hold NaN or infinity{(_condition is null ? "" : $" or a missing condition ('{_condition.ColumnName}')")}."
            : $"{_role} data is empty: column '{_column}' has no rows.");

    /// <summary>The first slot holding NaN or ±∞, or -1.</summary>
    internal static int IndexOfNonFinite(ReadOnlySpan<float> row)
    {
        int i = 0;
        // x − x is 0 for every finite x and NaN for NaN and ±∞: a whole block is checked at once.
        for (; i <= row.Length - Vector<float>.Count; i += Vector<float>.Count)
        {
            var v = new Vector<float>(row.Slice(i));
            if (!Vector.EqualsAll(v - v, Vector<float>.Zero))
                break;
        }
        for (; i < row.Length; i++)
        {
            if (!float.IsFinite(row[i]))
                return i;
        }
        return -1;
    }

    /// <summary>The first slot outside [<paramref name="low"/>, <paramref name="high"/>], or -1.</summary>
    internal static int IndexOutside(ReadOnlySpan<float> row, float low, float high)
    {
        int i = 0;
        var lo = new Vector<float>(low);
        var hi = new Vector<float>(high);
        for (; i <= row.Length - Vector<float>.Count; i += Vector<float>.Count)
        {
            var v = new Vector<float>(row.Slice(i));
            if (!Vector.GreaterThanOrEqualAll(v, lo) || !Vector.LessThanOrEqualAll(v, hi))
                break;
        }
        for (; i < row.Length; i++)
        {
            if (!(row[i] >= low && row[i] <= high))
                return i;
        }
        return -1;
    }

    public void Dispose() => _cursor.Dispose();
}
