using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Generative.Scoring;

/// <summary>
/// What every generative transformer shares, whatever its input column holds (a float vector, text, a vector of
/// keys): one input column mapped to <see cref="float"/> output columns. <see cref="Transform"/> scores rows in
/// batches (one forward pass per batch, not per row); <see cref="GetRowToRowMapper"/> (used by
/// <c>PredictionEngine</c>) scores one row at a time. Both read rows through the same <see cref="ScoringInput"/>.
/// </summary>
public abstract class GenerativeTransformerCore : ITransformer, ICanSaveModel
{
    /// <summary>Rows scored per forward pass by <see cref="Transform"/> (at most).</summary>
    internal const int ScoringBatchSize = 512;

    private protected readonly IHost Host;

    private protected GenerativeTransformerCore(IHost host)
    {
        Host = host;
    }

    private volatile bool _disposed;

    /// <summary>Marks the model disposed (its native weights released): using it afterwards throws <see cref="ObjectDisposedException"/>.</summary>
    private protected void MarkDisposed() => _disposed = true;

    /// <summary>Throws <see cref="ObjectDisposedException"/> once <c>Dispose</c> has released the weights.</summary>
    private protected void ThrowIfDisposed()
    {
        if (_disposed)
            throw new ObjectDisposedException(GetType().Name, "The model was disposed (its native weights are released); load or fit it again to use it.");
    }

    bool ITransformer.IsRowToRowMapper => true;

    internal abstract ScoringColumn[] ScoringColumns { get; }

    /// <summary>The input column's name, for messages.</summary>
    internal abstract string InputColumnName { get; }

    /// <summary>Rows per forward pass of <see cref="Transform"/>; at most <see cref="ScoringBatchSize"/>.</summary>
    internal virtual int ScoringCapacity => ScoringBatchSize;

    /// <summary>The input column's index, after checking its type against what the model was trained on.</summary>
    internal abstract int CheckInput(DataViewSchema schema);

    /// <summary>
    /// Other input columns scoring reads besides the one <see cref="CheckInput"/> returns (a conditional model's
    /// condition column), already checked by it; none by default.
    /// </summary>
    internal virtual IReadOnlyList<int> AdditionalInputs(DataViewSchema schema) => Array.Empty<int>();

    /// <summary>
    /// A reader of the input column of <paramref name="row"/> (a cursor or a single row) into up to
    /// <paramref name="capacity"/> slots, and the scorer of the filled slots. One per cursor: it is not shared
    /// between threads, while the model it calls must be safe to call from several threads at once.
    /// </summary>
    internal abstract ScoringInput CreateScoringInput(DataViewRow row, int inputIndex, int capacity);

    private protected abstract void SaveModel(ModelSaveContext ctx);

    void ICanSaveModel.Save(ModelSaveContext ctx)
    {
        ThrowIfDisposed();
        SaveModel(ctx);
    }

    /// <summary>The input schema plus the output columns (an input column of the same name is hidden).</summary>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        Host.CheckValue(inputSchema, nameof(inputSchema));
        return RowToRowMapperTransform.GetOutputSchema(inputSchema, MakeRowMapper(inputSchema));
    }

    /// <summary>Scores every row of <paramref name="input"/>, lazily and in batches.</summary>
    public IDataView Transform(IDataView input)
    {
        Host.CheckValue(input, nameof(input));
        ThrowIfDisposed();
        CheckInput(input.Schema);
        return new BatchScoringDataView(Host, this, input);
    }

    /// <summary>A row-at-a-time mapper, as used by <c>PredictionEngine</c>.</summary>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema)
    {
        Host.CheckValue(inputSchema, nameof(inputSchema));
        ThrowIfDisposed();
        return new RowToRowMapperTransform(Host, new EmptyDataView(Host, inputSchema), MakeRowMapper(inputSchema), MakeRowMapper);
    }

    private protected IRowMapper MakeRowMapper(DataViewSchema schema) => new RowMapper(this, schema);

    internal DataViewSchema.DetachedColumn[] MakeOutputColumns()
        => ScoringColumns.Select(c => new DataViewSchema.DetachedColumn(c.Name, c.Type)).ToArray();

    /// <summary>Scores one row at a time; the outputs of a row are computed once and shared by its getters.</summary>
    private sealed class RowMapper : IRowMapper
    {
        private readonly GenerativeTransformerCore _parent;
        private readonly int _inputIndex;
        private readonly IReadOnlyList<int> _additionalInputs;

        public RowMapper(GenerativeTransformerCore parent, DataViewSchema inputSchema)
        {
            _parent = parent;
            _inputIndex = parent.CheckInput(inputSchema);
            _additionalInputs = parent.AdditionalInputs(inputSchema);
        }

        public DataViewSchema.DetachedColumn[] GetOutputColumns() => _parent.MakeOutputColumns();

        public Func<int, bool> GetDependencies(Func<int, bool> activeOutput)
        {
            bool any = Enumerable.Range(0, _parent.ScoringColumns.Length).Any(activeOutput);
            return col => any && (col == _inputIndex || _additionalInputs.Contains(col));
        }

        public Delegate[] CreateGetters(DataViewRow input, Func<int, bool> activeOutput, out Action? disposer)
        {
            disposer = null;
            var columns = _parent.ScoringColumns;
            var getters = new Delegate[columns.Length];
            if (!Enumerable.Range(0, columns.Length).Any(activeOutput))
                return getters;

            var reader = _parent.CreateScoringInput(input, _inputIndex, 1);
            var outputs = new float[]?[columns.Length];
            for (int j = 0; j < columns.Length; j++)
                outputs[j] = activeOutput(j) ? new float[columns[j].Width] : null;
            long cachedPosition = -1;

            void Ensure()
            {
                if (cachedPosition == input.Position)
                    return;
                reader.Capture(0);
                reader.Score(1, outputs);
                cachedPosition = input.Position;
            }

            for (int j = 0; j < columns.Length; j++)
            {
                if (outputs[j] is not float[] values)
                    continue;
                if (columns[j].Size == 0)
                {
                    getters[j] = (ValueGetter<float>)((ref float dst) => { Ensure(); dst = values[0]; });
                }
                else
                {
                    getters[j] = (ValueGetter<VBuffer<float>>)((ref VBuffer<float> dst) =>
                    {
                        Ensure();
                        var editor = VBufferEditor.Create(ref dst, values.Length);
                        values.AsSpan().CopyTo(editor.Values);
                        dst = editor.Commit();
                    });
                }
            }
            return getters;
        }

        public ITransformer GetTransformer() => _parent;

        public void Save(ModelSaveContext ctx) => _parent.SaveModel(ctx);
    }
}

/// <summary>
/// Reads one input column of the current row of a cursor into numbered slots, then scores the filled slots in one
/// pass: <c>outputs[j]</c> is row-major, <c>count × ScoringColumns[j].Width</c>; a null array marks an output nobody
/// asked for.
/// </summary>
internal abstract class ScoringInput
{
    /// <summary>Copies the input value of the row the cursor is on into <paramref name="slot"/>.</summary>
    public abstract void Capture(int slot);

    /// <summary>Scores slots 0 … <paramref name="count"/> − 1.</summary>
    public abstract void Score(int count, float[]?[] outputs);
}
