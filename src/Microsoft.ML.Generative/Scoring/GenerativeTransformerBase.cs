using System;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Generative.Scoring;

/// <summary>
/// What every generative transformer shares: one known-size <see cref="float"/> vector input column mapped to
/// <see cref="float"/> output columns. <see cref="Transform"/> scores rows in batches (one forward pass per batch,
/// not per row); <see cref="GetRowToRowMapper"/> (used by <c>PredictionEngine</c>) scores one row at a time.
/// Both run the same <see cref="ScoreBatch"/>, but the same row scored alone and inside a batch can differ in the
/// last bits (up to about 2e-7 relative in float32): libtorch's matrix multiply picks its kernel and summation order
/// by batch shape. Compare scores with a tolerance, not with <c>==</c>; results are repeatable for the same batching.
/// </summary>
public abstract class GenerativeTransformerBase : ITransformer, ICanSaveModel
{
    /// <summary>Rows scored per forward pass by <see cref="Transform"/>.</summary>
    internal const int ScoringBatchSize = 512;

    private protected readonly IHost Host;

    private protected GenerativeTransformerBase(IHost host, string featureColumnName, int inputDimension)
    {
        Host = host;
        FeatureColumnName = featureColumnName;
        InputDimension = inputDimension;
    }

    /// <summary>The input column: a vector of <see cref="float"/> of size <see cref="InputDimension"/>.</summary>
    public string FeatureColumnName { get; }

    /// <summary>The number of features the model was trained on.</summary>
    public int InputDimension { get; }

    bool ITransformer.IsRowToRowMapper => true;

    internal abstract ScoringColumn[] ScoringColumns { get; }

    /// <summary>
    /// Scores <paramref name="count"/> rows held row-major in <paramref name="features"/> into
    /// <paramref name="outputs"/>[j] (row-major, <c>count × ScoringColumns[j].Width</c>); a null array marks an output
    /// nobody asked for. Must be safe to call from several threads at once.
    /// </summary>
    internal abstract void ScoreBatch(float[] features, int count, float[]?[] outputs);

    private protected abstract void SaveModel(ModelSaveContext ctx);

    void ICanSaveModel.Save(ModelSaveContext ctx) => SaveModel(ctx);

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
        CheckInput(input.Schema);
        return new BatchScoringDataView(Host, this, input);
    }

    /// <summary>A row-at-a-time mapper, as used by <c>PredictionEngine</c>.</summary>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema)
    {
        Host.CheckValue(inputSchema, nameof(inputSchema));
        return new RowToRowMapperTransform(Host, new EmptyDataView(Host, inputSchema), MakeRowMapper(inputSchema), MakeRowMapper);
    }

    private protected IRowMapper MakeRowMapper(DataViewSchema schema) => new RowMapper(this, schema);

    /// <summary>The input column's index, after checking its type and size.</summary>
    internal int CheckInput(DataViewSchema schema)
    {
        int size = Data.FeatureColumn.Check(Host, schema, FeatureColumnName, out int index);
        if (size != InputDimension)
            throw Host.ExceptParam(nameof(schema),
                $"Schema mismatch for feature column '{FeatureColumnName}': the model was trained on vectors of {InputDimension} values, got {size}.");
        return index;
    }

    internal DataViewSchema.DetachedColumn[] MakeOutputColumns()
        => ScoringColumns.Select(c => new DataViewSchema.DetachedColumn(c.Name, c.Type)).ToArray();

    /// <summary>Scores one row at a time; the outputs of a row are computed once and shared by its getters.</summary>
    private sealed class RowMapper : IRowMapper
    {
        private readonly GenerativeTransformerBase _parent;
        private readonly int _featureIndex;

        public RowMapper(GenerativeTransformerBase parent, DataViewSchema inputSchema)
        {
            _parent = parent;
            _featureIndex = parent.CheckInput(inputSchema);
        }

        public DataViewSchema.DetachedColumn[] GetOutputColumns() => _parent.MakeOutputColumns();

        public Func<int, bool> GetDependencies(Func<int, bool> activeOutput)
        {
            bool any = Enumerable.Range(0, _parent.ScoringColumns.Length).Any(activeOutput);
            return col => any && col == _featureIndex;
        }

        public Delegate[] CreateGetters(DataViewRow input, Func<int, bool> activeOutput, out Action? disposer)
        {
            disposer = null;
            var columns = _parent.ScoringColumns;
            var getters = new Delegate[columns.Length];
            if (!Enumerable.Range(0, columns.Length).Any(activeOutput))
                return getters;

            var featureGetter = input.GetGetter<VBuffer<float>>(input.Schema[_featureIndex]);
            var features = new float[_parent.InputDimension];
            var buffer = default(VBuffer<float>);
            var outputs = new float[]?[columns.Length];
            for (int j = 0; j < columns.Length; j++)
                outputs[j] = activeOutput(j) ? new float[columns[j].Width] : null;
            long cachedPosition = -1;

            void Ensure()
            {
                if (cachedPosition == input.Position)
                    return;
                featureGetter(ref buffer);
                if (buffer.Length != features.Length)
                    throw _parent.Host.Except($"Feature column '{_parent.FeatureColumnName}' has {buffer.Length} values in this row; the model expects {features.Length}.");
                buffer.CopyTo(features);
                _parent.ScoreBatch(features, 1, outputs);
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
