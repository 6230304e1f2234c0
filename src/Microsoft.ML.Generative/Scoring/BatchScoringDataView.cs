using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Generative.Scoring;

/// <summary>
/// The lazy result of <see cref="GenerativeTransformerCore.Transform"/>. Its cursor reads up to
/// <see cref="GenerativeTransformerCore.ScoringCapacity"/> input rows ahead, keeps a copy of every active input
/// column of those rows, scores them in one forward pass, and then serves them row by row. The schema is exactly the
/// one <see cref="RowToRowMapperTransform"/> would give, so batch and row-at-a-time scoring are interchangeable.
/// </summary>
internal sealed class BatchScoringDataView : IDataView
{
    private readonly IHost _host;
    private readonly GenerativeTransformerCore _model;
    private readonly IDataView _input;
    private readonly ColumnBindings _bindings;
    private readonly int _featureIndex;

    public BatchScoringDataView(IHost host, GenerativeTransformerCore model, IDataView input)
    {
        _host = host;
        _model = model;
        _input = input;
        _featureIndex = model.CheckInput(input.Schema);
        _bindings = new ColumnBindings(input.Schema, model.MakeOutputColumns());
    }

    public DataViewSchema Schema => _bindings.Schema;

    public bool CanShuffle => _input.CanShuffle;

    public long? GetRowCount() => _input.GetRowCount();

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        _host.CheckValue(columnsNeeded, nameof(columnsNeeded));
        var activeOutputs = new bool[_model.ScoringColumns.Length];
        var activeInputs = new SortedSet<int>();
        foreach (var column in columnsNeeded)
        {
            int index = _bindings.MapColumnIndex(out bool isSource, column.Index);
            if (isSource)
                activeInputs.Add(index);
            else
                activeOutputs[index] = true;
        }
        bool scoring = activeOutputs.Any(a => a);
        var inputColumns = activeInputs.Select(i => _input.Schema[i]).ToList();
        if (scoring && !activeInputs.Contains(_featureIndex))
            inputColumns.Add(_input.Schema[_featureIndex]);
        if (scoring)
        {
            foreach (int extra in _model.AdditionalInputs(_input.Schema))
            {
                if (!activeInputs.Contains(extra) && extra != _featureIndex)
                    inputColumns.Add(_input.Schema[extra]);
            }
        }
        var inputCursor = _input.GetRowCursor(inputColumns, rand);
        return new Cursor(this, inputCursor, activeInputs.ToArray(), activeOutputs, scoring);
    }

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null)
        => new[] { GetRowCursor(columnsNeeded, rand) };

    private sealed class Cursor : DataViewRowCursor
    {
        private readonly BatchScoringDataView _parent;
        private readonly DataViewRowCursor _input;
        private readonly bool[] _activeOutputs;
        private readonly bool _scoring;
        private readonly int _capacity;
        private readonly Dictionary<int, ColumnBuffer> _inputBuffers = new();
        private readonly ValueGetter<DataViewRowId> _inputIdGetter;
        private readonly DataViewRowId[] _ids;
        private readonly ScoringInput? _scoringInput;
        private readonly float[]?[] _outputs;
        private int _filled;
        private int _slot = -1;
        private long _position = -1;
        private bool _done;

        public Cursor(BatchScoringDataView parent, DataViewRowCursor input, int[] activeInputs, bool[] activeOutputs, bool scoring)
        {
            _parent = parent;
            _input = input;
            _activeOutputs = activeOutputs;
            _scoring = scoring;
            _capacity = Math.Clamp(parent._model.ScoringCapacity, 1, GenerativeTransformerCore.ScoringBatchSize);
            foreach (int i in activeInputs)
                _inputBuffers[i] = ColumnBuffer.Create(input, input.Schema[i], _capacity);
            _inputIdGetter = input.GetIdGetter();
            _ids = new DataViewRowId[_capacity];
            var model = parent._model;
            _outputs = new float[]?[activeOutputs.Length];
            if (scoring)
            {
                _scoringInput = model.CreateScoringInput(input, parent._featureIndex, _capacity);
                for (int j = 0; j < activeOutputs.Length; j++)
                    _outputs[j] = activeOutputs[j] ? new float[_capacity * model.ScoringColumns[j].Width] : null;
            }
        }

        public override DataViewSchema Schema => _parent.Schema;

        public override long Position => _position;

        public override long Batch => 0;

        public override bool IsColumnActive(DataViewSchema.Column column)
        {
            int index = _parent._bindings.MapColumnIndex(out bool isSource, column.Index);
            return isSource ? _inputBuffers.ContainsKey(index) : _activeOutputs[index];
        }

        public override bool MoveNext()
        {
            if (_done)
                return false;
            if (++_slot < _filled)
            {
                _position++;
                return true;
            }
            if (!FillBatch())
            {
                _done = true;
                return false;
            }
            _slot = 0;
            _position++;
            return true;
        }

        private bool FillBatch()
        {
            _filled = 0;
            while (_filled < _capacity && _input.MoveNext())
            {
                foreach (var buffer in _inputBuffers.Values)
                    buffer.Capture(_filled);
                _inputIdGetter(ref _ids[_filled]);
                if (_scoring)
                    _scoringInput!.Capture(_filled);
                _filled++;
            }
            if (_filled == 0)
                return false;
            _parent._host.CheckAlive();
            if (_scoring)
                _scoringInput!.Score(_filled, _outputs);
            return true;
        }

        public override ValueGetter<DataViewRowId> GetIdGetter()
            => (ref DataViewRowId value) =>
            {
                CheckPosition();
                value = _ids[_slot];
            };

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            int index = _parent._bindings.MapColumnIndex(out bool isSource, column.Index);
            if (isSource)
            {
                if (!_inputBuffers.TryGetValue(index, out var buffer))
                    throw _parent._host.Except($"Column '{column.Name}' was not requested when this cursor was made.");
                if (typeof(TValue) != column.Type.RawType)
                    throw _parent._host.Except($"Column '{column.Name}' is of type {column.Type}, read as {column.Type.RawType.Name}, not {typeof(TValue).Name}.");
                return buffer.GetGetter<TValue>(this);
            }
            if (!_activeOutputs[index])
                throw _parent._host.Except($"Column '{column.Name}' was not requested when this cursor was made.");
            var spec = _parent._model.ScoringColumns[index];
            var values = _outputs[index]!;
            int width = spec.Width;
            Delegate getter;
            if (spec.Size == 0)
            {
                getter = (ValueGetter<float>)((ref float dst) =>
                {
                    CheckPosition();
                    dst = values[_slot];
                });
            }
            else
            {
                getter = (ValueGetter<VBuffer<float>>)((ref VBuffer<float> dst) =>
                {
                    CheckPosition();
                    var editor = VBufferEditor.Create(ref dst, width);
                    values.AsSpan(_slot * width, width).CopyTo(editor.Values);
                    dst = editor.Commit();
                });
            }
            return getter as ValueGetter<TValue>
                ?? throw _parent._host.Except($"Column '{column.Name}' is of type {spec.Type}, not {typeof(TValue).Name}.");
        }

        internal int Slot
        {
            get
            {
                CheckPosition();
                return _slot;
            }
        }

        private void CheckPosition()
        {
            if (_position < 0 || _done)
                throw _parent._host.Except("The cursor is not on a row: call MoveNext first.");
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
                _input.Dispose();
            base.Dispose(disposing);
        }
    }

    /// <summary>A copy of one input column's values for the rows of the current batch.</summary>
    private abstract class ColumnBuffer
    {
        public abstract void Capture(int slot);

        public abstract ValueGetter<TValue> GetGetter<TValue>(Cursor cursor);

        public static ColumnBuffer Create(DataViewRowCursor input, DataViewSchema.Column column, int capacity)
        {
            var raw = column.Type.RawType;
            Type bufferType;
            if (raw.IsGenericType && raw.GetGenericTypeDefinition() == typeof(VBuffer<>))
                bufferType = typeof(VectorBuffer<>).MakeGenericType(raw.GetGenericArguments()[0]);
            else if (raw == typeof(ReadOnlyMemory<char>))
                bufferType = typeof(TextBuffer);
            else
                bufferType = typeof(ValueBuffer<>).MakeGenericType(raw);
            return (ColumnBuffer)Activator.CreateInstance(bufferType, input, column, capacity)!;
        }
    }

    private sealed class ValueBuffer<T> : ColumnBuffer
    {
        private readonly ValueGetter<T> _getter;
        private readonly T[] _values;

        public ValueBuffer(DataViewRowCursor input, DataViewSchema.Column column, int capacity)
        {
            _getter = input.GetGetter<T>(column);
            _values = new T[capacity];
        }

        public override void Capture(int slot) => _getter(ref _values[slot]);

        public override ValueGetter<TValue> GetGetter<TValue>(Cursor cursor)
            => (ValueGetter<TValue>)(Delegate)(ValueGetter<T>)((ref T dst) => dst = _values[cursor.Slot]);
    }

    // Text is copied: a source may reuse the memory behind a ReadOnlyMemory<char> once its cursor moves on.
    private sealed class TextBuffer : ColumnBuffer
    {
        private readonly ValueGetter<ReadOnlyMemory<char>> _getter;
        private readonly ReadOnlyMemory<char>[] _values;
        private ReadOnlyMemory<char> _scratch;

        public TextBuffer(DataViewRowCursor input, DataViewSchema.Column column, int capacity)
        {
            _getter = input.GetGetter<ReadOnlyMemory<char>>(column);
            _values = new ReadOnlyMemory<char>[capacity];
        }

        public override void Capture(int slot)
        {
            _getter(ref _scratch);
            _values[slot] = _scratch.Length == 0 ? ReadOnlyMemory<char>.Empty : _scratch.ToArray();
        }

        public override ValueGetter<TValue> GetGetter<TValue>(Cursor cursor)
            => (ValueGetter<TValue>)(Delegate)(ValueGetter<ReadOnlyMemory<char>>)((ref ReadOnlyMemory<char> dst) => dst = _values[cursor.Slot]);
    }

    // Vectors are deep-copied into per-slot buffers whose arrays are reused from batch to batch.
    private sealed class VectorBuffer<T> : ColumnBuffer
    {
        private readonly ValueGetter<VBuffer<T>> _getter;
        private readonly VBuffer<T>[] _values;
        private VBuffer<T> _scratch;

        public VectorBuffer(DataViewRowCursor input, DataViewSchema.Column column, int capacity)
        {
            _getter = input.GetGetter<VBuffer<T>>(column);
            _values = new VBuffer<T>[capacity];
        }

        public override void Capture(int slot)
        {
            _getter(ref _scratch);
            _scratch.CopyTo(ref _values[slot]);
        }

        public override ValueGetter<TValue> GetGetter<TValue>(Cursor cursor)
            => (ValueGetter<TValue>)(Delegate)(ValueGetter<VBuffer<T>>)((ref VBuffer<T> dst) => _values[cursor.Slot].CopyTo(ref dst));
    }
}
