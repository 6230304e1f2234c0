using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Scoring;

/// <summary>
/// The float-vector generative transformer: one known-size <see cref="float"/> vector input column mapped to
/// <see cref="float"/> output columns. <see cref="GenerativeTransformerCore.Transform"/> scores rows in batches (one
/// forward pass per batch, not per row); <see cref="GenerativeTransformerCore.GetRowToRowMapper"/> (used by
/// <c>PredictionEngine</c>) scores one row at a time. Both run the same <see cref="ScoreBatch"/>, but the same row scored alone and inside a batch can differ in the
/// last bits (up to about 2e-7 relative in float32): libtorch's matrix multiply picks its kernel and summation order
/// by batch shape. Compare scores with a tolerance, not with <c>==</c>; results are repeatable for the same batching.
/// A conditional model (trained with a <c>ConditionColumnName</c>) also reads each row's condition column.
/// </summary>
public abstract class GenerativeTransformerBase : GenerativeTransformerCore
{
    private protected GenerativeTransformerBase(IHost host, string featureColumnName, int inputDimension,
        Data.ConditionEncoding? condition = null)
        : base(host)
    {
        FeatureColumnName = featureColumnName;
        InputDimension = inputDimension;
        Condition = condition;
    }

    /// <summary>
    /// The column the model is conditioned on (a key or a float vector), or <see langword="null"/> for an
    /// unconditional model. <c>Transform</c> reads it from every row; <c>Sample</c> takes the condition as an argument.
    /// </summary>
    public string? ConditionColumnName => Condition?.ColumnName;

    /// <summary>
    /// The values a key condition can take, as texts in key order (key 1 first), or <see langword="null"/> for an
    /// unconditional model, a vector condition or a key without key values.
    /// </summary>
    public IReadOnlyList<string>? ConditionValues => Condition?.KeyValues;

    /// <summary>
    /// How often each value of a key condition occurred in the training rows, in key order (key 1 first; all shards
    /// together in data-parallel training): <c>Sample(count, seed)</c> draws each row's condition at these
    /// frequencies. <see langword="null"/> for an unconditional model, a vector condition, or a model saved before the
    /// counts were kept (format 0x00010002; refit it to draw conditions).
    /// </summary>
    public IReadOnlyList<long>? ConditionCounts => Condition?.KeyCounts;

    /// <summary>The condition and its encoding, or null for an unconditional model.</summary>
    internal Data.ConditionEncoding? Condition { get; }

    /// <summary>Floats of the encoded condition (C; 0 for an unconditional model).</summary>
    internal int ConditionWidth => Condition?.Width ?? 0;

    /// <summary>Floats per scored row: the features, then the encoded condition (D + C).</summary>
    internal int RowWidth => InputDimension + ConditionWidth;

    /// <summary>The encoded condition of a user's key value (or raw key); the error lists the known values.</summary>
    private protected float[] EncodeCondition(object condition)
    {
        if (Condition is null)
            throw Host.ExceptParam(nameof(condition), "This model is unconditional (it was trained without ConditionColumnName): call Sample(count, seed).");
        var encoded = Condition.Encode(condition, Host, nameof(condition));
        if (Condition.KeyCounts is { } counts && counts[Array.IndexOf(encoded, 1f)] == 0)
        {
            // Declared by the key type but absent from every training row: the condition's weights never learned it.
            int k = Array.IndexOf(encoded, 1f);
            var seen = Enumerable.Range(0, Condition.Width).Where(i => counts[i] > 0).Take(30).Select(Condition.DescribeValue);
            throw Host.ExceptParam(nameof(condition),
                $"Condition value {Condition.DescribeValue(k)} of column '{Condition.ColumnName}' never occurred in the training rows "
                + $"(the key type declares it, but no row had it), so the model has not learned it. Values the model was trained on: "
                + $"{string.Join(", ", seen)}{(Condition.Width - Condition.UnseenKeys().Length > 30 ? ", ..." : "")}.");
        }
        return encoded;
    }

    /// <summary>
    /// Checks that <c>Sample(count, seed)</c> can draw this model's conditions: unconditional, or a key condition with
    /// its training counts. A vector condition has no stored distribution; a model saved before the counts were kept
    /// cannot draw them either: both errors say which overload to call.
    /// </summary>
    private protected void CheckConditionsCanBeDrawn()
    {
        if (Condition is null || Condition.KeyCounts is not null)
            return;
        if (!Condition.IsKey)
            throw Host.Except(
                $"This model is conditioned on the {Condition.Describe()}: Sample(count, seed) cannot draw vector conditions (the model keeps "
                + $"no distribution of them). Pass the condition: Sample(count, new float[{Condition.Width}] {{ ... }}, seed), once per condition "
                + "vector you need (in Sample(count, n) the second number is the seed, not the condition).");
        string example = Condition.KeyValues?.Count > 0 ? $"\"{Condition.KeyValues[0]}\"" : "1u";
        throw Host.Except(
            $"This model is conditioned on the {Condition.Describe()} and was saved before the condition's training frequencies were kept "
            + $"(format 0x00010002), so Sample(count, seed) cannot draw its conditions. Pass one: Sample(count, {example}, seed), or refit the model.");
    }

    /// <summary>
    /// The raw keys (1 … K) of <paramref name="count"/> sample rows of a key-conditioned model: the
    /// <paramref name="given"/> (encoded) value for every row or, when it is null, each row's key value drawn from
    /// <paramref name="generator"/> at its training frequency (categorical over <see cref="ConditionCounts"/>).
    /// Null for an unconditional model or a given vector condition.
    /// </summary>
    private protected uint[]? SampleKeys(int count, float[]? given, Generator generator)
    {
        if (Condition is null || (given is not null && !Condition.IsKey))
            return null;
        if (given is not null)
            return Enumerable.Repeat((uint)(Array.IndexOf(given, 1f) + 1), count).ToArray();
        CheckConditionsCanBeDrawn();
        using var scope = NewDisposeScope();
        var weights = tensor(Condition.KeyCounts!.Select(n => (double)n).ToArray(), ScalarType.Float64);
        var index = multinomial(weights, count, replacement: true, generator: generator);   // [N] int64, 0-based
        return index.data<long>().Select(k => (uint)(k + 1)).ToArray();
    }

    /// <summary>
    /// The encoded conditions of sample rows <paramref name="start"/> … <paramref name="start"/> + <paramref name="count"/>
    /// − 1, <c>[count, C]</c> in the caller's dispose scope (null for an unconditional model): the one-hot codes of
    /// <paramref name="keys"/> (<see cref="SampleKeys"/>), or the <paramref name="given"/> vector for every row.
    /// </summary>
    private protected Tensor? SampleConditionRows(float[]? given, uint[]? keys, int start, int count)
    {
        if (Condition is null)
            return null;
        if (keys is null)
            return tensor(given!).unsqueeze(0).expand(count, given!.Length);
        var index = tensor(keys.Skip(start).Take(count).Select(k => (long)k - 1).ToArray());          // [count], 0-based
        return nn.functional.one_hot(index, Condition.Width).to_type(ScalarType.Float32);          // [count, K]
    }

    /// <summary>
    /// The result of <c>Sample</c>: <paramref name="count"/> rows of <see cref="InputDimension"/> values
    /// (<paramref name="values"/>, row-major) in the feature column and, for a conditional model, the condition
    /// column as in training: a key of the same cardinality (raw type <see cref="uint"/>) with the key values' texts,
    /// holding each row's <paramref name="keys"/>; or a vector of <see cref="float"/> holding <paramref name="given"/>.
    /// </summary>
    private protected IDataView SampleView(float[] values, int count, float[]? given, uint[]? keys)
    {
        int width = InputDimension;
        var rows = new float[count][];
        for (int i = 0; i < count; i++)
            rows[i] = values.AsSpan(i * width, width).ToArray();
        return SampleView(rows, given, keys);
    }

    /// <summary><see cref="SampleView(float[], int, float[], uint[])"/> of rows already split.</summary>
    private protected IDataView SampleView(float[][] rows, float[]? given, uint[]? keys)
    {
        int count = rows.Length;
        var builder = new ArrayDataViewBuilder(Host);
        builder.AddColumn(FeatureColumnName, NumberDataViewType.Single, rows);
        if (Condition is { IsKey: true } key)
        {
            var type = new KeyDataViewType(typeof(uint), key.Width);
            if (key.KeyValues is { } texts)
            {
                var memory = texts.Select(t => t.AsMemory()).ToArray();
                ValueGetter<VBuffer<ReadOnlyMemory<char>>> keyValues = (ref VBuffer<ReadOnlyMemory<char>> dst) => dst = new VBuffer<ReadOnlyMemory<char>>(memory.Length, memory);
                builder.AddColumn(key.ColumnName, keyValues, (ulong)key.Width, keys!);
            }
            else
            {
                builder.AddColumn(key.ColumnName, type, keys!);
            }
        }
        else if (Condition is { } vector)
        {
            builder.AddColumn(vector.ColumnName, NumberDataViewType.Single, Enumerable.Range(0, count).Select(_ => (float[])given!.Clone()).ToArray());
        }
        return builder.GetDataView();
    }

    /// <summary>The checked copy of a user's vector condition.</summary>
    private protected float[] EncodeCondition(float[] condition)
    {
        if (Condition is null)
            throw Host.ExceptParam(nameof(condition), "This model is unconditional (it was trained without ConditionColumnName): call Sample(count, seed).");
        return Condition.Encode(condition, Host, nameof(condition));
    }

    /// <summary>
    /// Refuses an unconditional call on a conditional model, naming what to use instead: <paramref name="alternative"/>
    /// (e.g. "Decode(latentCodes, condition)"), or by default the conditional <c>Sample</c> overload.
    /// </summary>
    private protected void CheckUnconditional(string member, string? alternative = null)
    {
        if (Condition is not null)
        {
            string example = Condition.IsKey ? (Condition.KeyValues?.Count > 0 ? $"\"{Condition.KeyValues[0]}\"" : "1u") : $"new float[{Condition.Width}]";
            throw Host.Except(
                $"This model is conditioned on the {Condition.Describe()}: {member} needs the condition. "
                + (alternative ?? $"Call the overload that takes it, for example Sample(count, {example}, seed) "
                    + "(in Sample(count, n) the second number is the seed, not the condition)."));
        }
    }

    /// <summary>The seed of a draw: the caller's, or a fresh one from the MLContext's random source.</summary>
    private protected int ResolveSeed(int? seed) => seed ?? Host.Rand.Next();

    /// <summary>The input column: a vector of <see cref="float"/> of size <see cref="InputDimension"/>.</summary>
    public string FeatureColumnName { get; }

    /// <summary>
    /// The most values (rows × <see cref="InputDimension"/>) one <c>Sample</c> call returns: 2²⁸ floats, 1 GiB. Samples
    /// are built in memory; draw larger sets in several calls with different seeds.
    /// </summary>
    public const long MaximumSampleValues = 1L << 28;

    /// <summary>Checks the row count of a <c>Sample</c> call: positive, and at most <see cref="MaximumSampleValues"/> values.</summary>
    private protected void CheckSampleCount(int count)
    {
        ThrowIfDisposed();
        Host.CheckParam(count > 0, nameof(count), $"Must be positive; got {count}.");
        Host.CheckParam((long)count * InputDimension <= MaximumSampleValues, nameof(count),
            $"{count} rows of {InputDimension} values exceed the {MaximumSampleValues:N0} values one Sample call builds in memory; draw them in several calls with different seeds.");
    }

    /// <summary>The number of features the model was trained on.</summary>
    public int InputDimension { get; }

    internal override string InputColumnName => FeatureColumnName;

    // The float-vector families' documentation names these members on this class: forwarded, same behaviour.

    /// <summary>Scores every row of <paramref name="input"/>, lazily and in batches.</summary>
    public new IDataView Transform(IDataView input) => base.Transform(input);

    /// <summary>A row-at-a-time mapper, as used by <c>PredictionEngine</c>.</summary>
    public new IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => base.GetRowToRowMapper(inputSchema);

    /// <summary>The input schema plus the output columns (an input column of the same name is hidden).</summary>
    public new DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => base.GetOutputSchema(inputSchema);

    // 512 rows per forward pass, fewer for very wide rows (at most 16M floats of features in a batch).
    internal override int ScoringCapacity => (int)Math.Clamp((1L << 24) / Math.Max(1, RowWidth), 1, ScoringBatchSize);

    /// <summary>
    /// Scores <paramref name="count"/> rows held row-major in <paramref name="features"/> (<see cref="RowWidth"/>
    /// floats per row: the features, then the encoded condition of a conditional model) into
    /// <paramref name="outputs"/>[j] (row-major, <c>count × ScoringColumns[j].Width</c>); a null array marks an output
    /// nobody asked for. Must be safe to call from several threads at once.
    /// </summary>
    internal abstract void ScoreBatch(float[] features, int count, float[]?[] outputs);

    /// <summary>The input column's index, after checking its type and size.</summary>
    internal override int CheckInput(DataViewSchema schema)
    {
        int size = Data.FeatureColumn.Check(Host, schema, FeatureColumnName, out int index);
        if (size != InputDimension)
            throw Host.ExceptParam(nameof(schema),
                $"Schema mismatch for feature column '{FeatureColumnName}': the model was trained on vectors of {InputDimension} values, got {size}.");
        Condition?.Check(Host, schema, "Scored");
        return index;
    }

    internal override IReadOnlyList<int> AdditionalInputs(DataViewSchema schema)
        => Condition is null ? Array.Empty<int>() : new[] { Condition.Check(Host, schema, "Scored") };

    internal override ScoringInput CreateScoringInput(DataViewRow row, int inputIndex, int capacity)
        => new FeatureInput(this, row, inputIndex, capacity);

    /// <summary>Feature vectors copied row-major into one array, scored by <see cref="ScoreBatch"/>.</summary>
    private sealed class FeatureInput : ScoringInput
    {
        private readonly GenerativeTransformerBase _model;
        private readonly ValueGetter<VBuffer<float>> _getter;
        private readonly Data.ConditionEncoding.Reader? _condition;
        private readonly float[] _features;
        private VBuffer<float> _buffer;

        public FeatureInput(GenerativeTransformerBase model, DataViewRow row, int inputIndex, int capacity)
        {
            _model = model;
            _getter = row.GetGetter<VBuffer<float>>(row.Schema[inputIndex]);
            if (model.Condition is { } condition)
                _condition = condition.CreateReader(row, condition.Check(model.Host, row.Schema, "Scored"));
            _features = new float[capacity * model.RowWidth];
        }

        public override void Capture(int slot)
        {
            int dim = _model.InputDimension, width = _model.RowWidth;
            _getter(ref _buffer);
            if (_buffer.Length != dim)
                throw _model.Host.Except($"Feature column '{_model.FeatureColumnName}' has {_buffer.Length} values in this row; the model expects {dim}.");
            _buffer.CopyTo(_features.AsSpan(slot * width, dim));
            // A missing condition (key 0) is encoded as NaN: the row's outputs are NaN, like those of a NaN feature.
            _condition?.Read(_features.AsSpan(slot * width + dim, width - dim));
        }

        public override void Score(int count, float[]?[] outputs) => _model.ScoreBatch(_features, count, outputs);
    }
}
