using System;
using System.Collections.Generic;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Examples;

namespace Microsoft.ML.Generative.Benchmarks;

/// <summary>
/// An <see cref="IDataView"/> of any number of 784-pixel rows made on the fly and never held in memory: row i is
/// bundled digit (i mod N), shifted by up to ±2 pixels and with a little noise, all chosen by a hash of i. Two million
/// rows are 6.3 GB of float features, far more than the memory budget of the scale benchmark.
/// </summary>
internal sealed class SyntheticDigits : IDataView
{
    private readonly Digit[] _digits;
    private readonly long _rows;

    public SyntheticDigits(Digit[] digits, long rows)
    {
        _digits = digits;
        _rows = rows;
        var builder = new DataViewSchema.Builder();
        builder.AddColumn("Features", new VectorDataViewType(NumberDataViewType.Single, Digit.Pixels));
        Schema = builder.ToSchema();
    }

    public DataViewSchema Schema { get; }

    public bool CanShuffle => false;

    public long? GetRowCount() => _rows;

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null) => new Cursor(this);

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null)
        => new[] { GetRowCursor(columnsNeeded, rand) };

    private sealed class Cursor(SyntheticDigits parent) : DataViewRowCursor
    {
        private long _position = -1;

        public override DataViewSchema Schema => parent.Schema;

        public override long Position => _position;

        public override long Batch => 0;

        public override bool IsColumnActive(DataViewSchema.Column column) => true;

        public override bool MoveNext() => ++_position < parent._rows;

        public override ValueGetter<DataViewRowId> GetIdGetter() => (ref DataViewRowId id) => id = new DataViewRowId((ulong)_position, 0);

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            ValueGetter<VBuffer<float>> getter = (ref VBuffer<float> dst) =>
            {
                ulong h = (ulong)_position * 0x9E3779B97F4A7C15UL;
                h ^= h >> 29;
                var source = parent._digits[_position % parent._digits.Length].Features;
                int dx = (int)(h % 5) - 2, dy = (int)((h >> 8) % 5) - 2;
                float noise = (h >> 16) % 100 / 2000f;
                var editor = VBufferEditor.Create(ref dst, Digit.Pixels);
                var values = editor.Values;
                for (int y = 0; y < Digit.Side; y++)
                {
                    int sy = y - dy;
                    for (int x = 0; x < Digit.Side; x++)
                    {
                        int sx = x - dx;
                        float v = sx >= 0 && sx < Digit.Side && sy >= 0 && sy < Digit.Side ? source[sy * Digit.Side + sx] : 0f;
                        values[y * Digit.Side + x] = Math.Clamp(v + noise * (((x * 7 + y * 13 + (int)h) & 3) - 1.5f), 0f, 1f);
                    }
                }
                dst = editor.Commit();
            };
            return (ValueGetter<TValue>)(Delegate)getter;
        }
    }
}
