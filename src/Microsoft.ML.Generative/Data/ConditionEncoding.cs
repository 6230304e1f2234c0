using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Persistence;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Generative.Data;

/// <summary>
/// The condition of a conditional model (<c>ConditionColumnName</c>) and how it becomes numbers: a key column
/// (a categorical value, e.g. from <c>MapValueToKey</c>) is one-hot encoded into K floats, K its cardinality; a
/// known-size <see cref="float"/> vector column is used as it is. The encoded condition travels as trailing columns
/// of each feature row (<c>[x₁ … x_D, c₁ … c_C]</c>), in training batches and in scoring batches alike, so every
/// family keeps one batch tensor and splits it where its network needs the condition. Saved with the model: the
/// column name, its kind, its width and, for keys, the key values' texts (which <c>Sample</c> accepts) and how often
/// each value occurred in the training rows (<see cref="KeyCounts"/>: <c>Sample(count, seed)</c> draws each row's
/// condition at these frequencies).
/// </summary>
internal sealed class ConditionEncoding
{
    /// <summary>The most values a key condition may take (the one-hot width).</summary>
    public const int MaximumKeyCount = 10_000;

    private const string Advice =
        "The condition must be a key column (a categorical value: mlContext.Transforms.Conversion.MapValueToKey) or a "
        + "known-size vector of Single (a continuous condition: mlContext.Transforms.Concatenate, then ConvertType to Single).";

    private readonly Dictionary<string, int>? _keyIndex;

    private ConditionEncoding(string columnName, bool isKey, int width, string[]? keyValues, string? keyValueType, long[]? keyCounts = null)
    {
        KeyCounts = keyCounts;
        ColumnName = columnName;
        IsKey = isKey;
        Width = width;
        KeyValues = keyValues;
        KeyValueType = keyValueType;
        if (keyValues is not null)
        {
            _keyIndex = new Dictionary<string, int>(StringComparer.Ordinal);
            for (int i = 0; i < keyValues.Length; i++)
                _keyIndex.TryAdd(keyValues[i], i);
        }
    }

    /// <summary>The condition column's name.</summary>
    public string ColumnName { get; }

    /// <summary>True for a key (one-hot encoded) condition, false for a float vector.</summary>
    public bool IsKey { get; }

    /// <summary>Floats per row: the key's cardinality K, or the vector's size.</summary>
    public int Width { get; }

    /// <summary>The key values' texts (invariant culture), index k for raw key k + 1; null for a vector or a key without values.</summary>
    public IReadOnlyList<string>? KeyValues { get; }

    /// <summary>The key values' item type as ML.NET names it (for example "String" or "Single"), or null.</summary>
    public string? KeyValueType { get; }

    /// <summary>
    /// A key condition's counts in the training rows, index k for raw key k + 1 (all ranks' shards together in
    /// data-parallel training); null for a vector condition, or a model saved before they were kept (format 0x00010002).
    /// </summary>
    public IReadOnlyList<long>? KeyCounts { get; }

    /// <summary>This key condition with its training counts.</summary>
    public ConditionEncoding WithKeyCounts(long[] counts)
    {
        if (!IsKey || counts.Length != Width)
            throw new ArgumentException($"A key condition of {Width} values needs {Width} counts; got {counts.Length}.", nameof(counts));
        return new ConditionEncoding(ColumnName, IsKey, Width, KeyValues?.ToArray(), KeyValueType, counts);
    }

    /// <summary>A key value's text for messages: its key value, or its raw key.</summary>
    public string DescribeValue(int index)
        => KeyValues is not null ? $"'{KeyValues[index]}'" : $"raw key {index + 1}";

    /// <summary>The 0-based indices of the key values that never occurred in training (empty when the counts are unknown).</summary>
    public int[] UnseenKeys()
        => KeyCounts is null ? Array.Empty<int>() : Enumerable.Range(0, Width).Where(k => KeyCounts[k] == 0).ToArray();

    /// <summary>
    /// Counts each key value in the encoded training rows (one-hot condition columns after <paramref name="dimension"/>
    /// features), in one unshuffled pass over <paramref name="rows"/>.
    /// </summary>
    public long[] CountKeys(BatchSource rows, int dimension)
    {
        var counts = new long[Width];
        using var generator = new TorchSharp.torch.Generator(0);
        foreach (var batch in rows.Batches(65_536, shuffle: false, generator, epoch: 0))
        {
            using var scope = TorchSharp.torch.NewDisposeScope();
            using var _ = batch;
            // One-hot rows: the column sums are the counts (exact in float64).
            var sums = batch.narrow(1, dimension, Width).sum(new long[] { 0 }, type: TorchSharp.torch.ScalarType.Float64).data<double>().ToArray();
            for (int k = 0; k < Width; k++)
                counts[k] += (long)Math.Round(sums[k]);
        }
        return counts;
    }

    /// <summary>"key 'Label' (10 values)" or "vector 'Cond' of 3 floats", for messages and logs.</summary>
    public string Describe()
        => IsKey ? $"key column '{ColumnName}' ({Width} values)" : $"vector column '{ColumnName}' ({Width} floats)";

    /// <summary>Reads the condition's kind, width and key values from the training schema; the error says what to do.</summary>
    public static ConditionEncoding FromSchema(IExceptionContext ectx, DataViewSchema schema, string columnName)
    {
        var column = Find(ectx, schema, columnName, "Training");
        var type = column.Type;
        if (type is KeyDataViewType key)
        {
            if (key.Count == 0 || key.Count > MaximumKeyCount)
                throw ectx.ExceptParam(nameof(schema),
                    $"Condition column '{columnName}' is a key with {(key.Count == 0 ? "an unknown number of" : key.Count.ToString(CultureInfo.InvariantCulture))} values; "
                    + $"a key condition is one-hot encoded and may have 1 to {MaximumKeyCount:N0} values. Map the values to a key of known, "
                    + "smaller cardinality (mlContext.Transforms.Conversion.MapValueToKey), or encode the condition as a vector of Single.");
            var (values, itemType) = ReadKeyValues(column);
            if (values is not null && values.Length != (int)key.Count)
                values = null; // inconsistent annotation: use raw keys only
            return new ConditionEncoding(columnName, true, (int)key.Count, values, values is null ? null : itemType);
        }
        if (type is VectorDataViewType vector && vector.ItemType == NumberDataViewType.Single)
        {
            if (!vector.IsKnownSize)
                throw Mismatch(ectx, columnName, type,
                    "The vector's size must be known from the schema: give it in the column's attribute ([VectorType(n)]) or the loader's column definition.");
            return new ConditionEncoding(columnName, false, vector.Size, null, null);
        }
        throw Mismatch(ectx, columnName, type, Advice);
    }

    /// <summary>Checks an estimator's input shape for the condition column.</summary>
    public static void CheckShape(IExceptionContext ectx, SchemaShape inputSchema, string columnName)
    {
        if (!inputSchema.TryFindColumn(columnName, out var column))
            throw ectx.ExceptSchemaMismatch(nameof(inputSchema), "condition", columnName);
        bool key = column.IsKey && column.Kind == SchemaShape.Column.VectorKind.Scalar;
        bool vector = !column.IsKey && column.Kind == SchemaShape.Column.VectorKind.Vector && column.ItemType == NumberDataViewType.Single;
        if (!key && !vector)
            throw ectx.ExceptParam(nameof(inputSchema),
                $"Schema mismatch for condition column '{columnName}': expected a key or a known-size vector of Single, got {column.GetTypeString()}. {Advice}");
    }

    /// <summary>
    /// Checks that <paramref name="schema"/> has the condition column as the model was trained with it (the same
    /// kind and width; for keys, the same key values where both sides have them) and returns its index.
    /// </summary>
    public int Check(IExceptionContext ectx, DataViewSchema schema, string role)
    {
        var column = Find(ectx, schema, ColumnName, role);
        var type = column.Type;
        if (IsKey)
        {
            if (type is not KeyDataViewType key)
                throw Mismatch(ectx, ColumnName, type, $"The model was trained on a key with {Width} values. {Advice}");
            if (key.Count != (ulong)Width)
                throw ectx.ExceptParam(nameof(schema),
                    $"Schema mismatch for condition column '{ColumnName}': the model was trained on a key with {Width} values, got {key.Count}. "
                    + "Map the condition with the same key mapping as the training data (keep the MapValueToKey transformer fitted on it in the pipeline).");
            if (KeyValues is not null)
            {
                var (values, _) = ReadKeyValues(column);
                if (values is not null && !values.SequenceEqual(KeyValues, StringComparer.Ordinal))
                {
                    int first = Enumerable.Range(0, Math.Min(values.Length, KeyValues.Count)).First(i => values[i] != KeyValues[i]);
                    throw ectx.ExceptParam(nameof(schema),
                        $"Schema mismatch for condition column '{ColumnName}': its key values differ from the training data's (key {first + 1} is "
                        + $"'{values[first]}' here and was '{KeyValues[first]}' in training). Map the condition with the key mapping fitted on the training data.");
                }
            }
        }
        else
        {
            if (type is not VectorDataViewType vector || vector.ItemType != NumberDataViewType.Single)
                throw Mismatch(ectx, ColumnName, type, $"The model was trained on a vector of {Width} Single values.");
            if (!vector.IsKnownSize || vector.Size != Width)
                throw ectx.ExceptParam(nameof(schema),
                    $"Schema mismatch for condition column '{ColumnName}': the model was trained on vectors of {Width} values, got {type}.");
        }
        return column.Index;
    }

    /// <summary>A reader of the condition of the row a cursor (or a single row) is on.</summary>
    public Reader CreateReader(DataViewRow row, int columnIndex)
    {
        var column = row.Schema[columnIndex];
        if (!IsKey)
            return new VectorReader(this, row.GetGetter<VBuffer<float>>(column));
        var raw = column.Type.RawType;
        if (raw == typeof(uint))
            return new KeyReader<uint>(this, row.GetGetter<uint>(column), v => v);
        if (raw == typeof(ushort))
            return new KeyReader<ushort>(this, row.GetGetter<ushort>(column), v => v);
        if (raw == typeof(byte))
            return new KeyReader<byte>(this, row.GetGetter<byte>(column), v => v);
        if (raw == typeof(ulong))
            return new KeyReader<ulong>(this, row.GetGetter<ulong>(column), v => v);
        throw Contracts.Except($"Condition column '{ColumnName}' has an unsupported key representation {raw.Name}.");
    }

    /// <summary>Reads one row's condition into <c>Width</c> floats.</summary>
    internal abstract class Reader
    {
        /// <summary>
        /// Writes the current row's encoded condition into <paramref name="destination"/> (length <c>Width</c>);
        /// false when it is missing (key 0 or out of range: all NaN) or holds NaN or infinity (a vector).
        /// </summary>
        public abstract bool Read(Span<float> destination);

        /// <summary>Why the last <see cref="Read"/> failed, for the error message.</summary>
        public abstract string LastProblem { get; }
    }

    private sealed class KeyReader<T> : Reader
    {
        private readonly ConditionEncoding _owner;
        private readonly ValueGetter<T> _getter;
        private readonly Func<T, ulong> _toUInt64;
        private T _value = default!;
        private ulong _last;

        public KeyReader(ConditionEncoding owner, ValueGetter<T> getter, Func<T, ulong> toUInt64)
        {
            _owner = owner;
            _getter = getter;
            _toUInt64 = toUInt64;
        }

        public override bool Read(Span<float> destination)
        {
            _getter(ref _value);
            _last = _toUInt64(_value);
            if (_last == 0 || _last > (ulong)_owner.Width)
            {
                destination.Fill(float.NaN);
                return false;
            }
            destination.Clear();
            destination[(int)_last - 1] = 1f;
            return true;
        }

        public override string LastProblem => _last == 0
            ? "a missing key value (the value was not seen when the key mapping was fitted, or was empty)"
            : $"key {_last}, beyond the key's {_owner.Width} values";
    }

    private sealed class VectorReader : Reader
    {
        private readonly ConditionEncoding _owner;
        private readonly ValueGetter<VBuffer<float>> _getter;
        private VBuffer<float> _buffer;
        private int _bad = -1;

        public VectorReader(ConditionEncoding owner, ValueGetter<VBuffer<float>> getter)
        {
            _owner = owner;
            _getter = getter;
        }

        public override bool Read(Span<float> destination)
        {
            _getter(ref _buffer);
            if (_buffer.Length != _owner.Width)
                throw Contracts.Except($"Condition column '{_owner.ColumnName}' has {_buffer.Length} values in this row; the model expects {_owner.Width}.");
            _buffer.CopyTo(destination);
            _bad = FeatureRowReader.IndexOfNonFinite(destination);
            return _bad < 0;
        }

        public override string LastProblem => $"a non-finite value at slot {_bad}";
    }

    /// <summary>
    /// The encoded condition of one value a user names: for a key, the value as its original type (a string for
    /// text key values; a number for numeric ones; compared by invariant text otherwise) or a <see cref="uint"/> raw
    /// key 1 … K; for a vector condition, use <see cref="Encode(float[], IExceptionContext, string)"/>.
    /// </summary>
    public float[] Encode(object value, IExceptionContext ectx, string paramName)
    {
        ectx.CheckValue(value, paramName);
        if (!IsKey)
        {
            if (value is float[] vector)
                return Encode(vector, ectx, paramName);
            throw ectx.ExceptParam(paramName,
                $"This model is conditioned on the {Describe()}: pass the condition as a float[] of {Width} values, not a {value.GetType().Name}.");
        }
        int index = IndexOf(value);
        if (index < 0)
            throw ectx.ExceptParam(paramName, UnknownValueMessage(value));
        var encoded = new float[Width];
        encoded[index] = 1f;
        return encoded;
    }

    /// <summary>A vector condition, checked for its size and finiteness.</summary>
    public float[] Encode(float[] vector, IExceptionContext ectx, string paramName)
    {
        ectx.CheckValue(vector, paramName);
        if (IsKey)
            throw ectx.ExceptParam(paramName,
                $"This model is conditioned on the {Describe()}: pass one of its values (for example '{(KeyValues?.Count > 0 ? KeyValues[0] : "1u")}'), not a float[].");
        if (vector.Length != Width)
            throw ectx.ExceptParam(paramName,
                $"The condition vector has {vector.Length} values; the model was trained on condition column '{ColumnName}' with {Width}.");
        int bad = FeatureRowReader.IndexOfNonFinite(vector);
        if (bad >= 0)
            throw ectx.ExceptParam(paramName, $"The condition vector holds {vector[bad]} at slot {bad}; conditions must be finite.");
        return (float[])vector.Clone();
    }

    /// <summary>The 0-based key index of a user's value, or −1.</summary>
    private int IndexOf(object value)
    {
        // A uint is ML.NET's raw key (1 … K): what GetColumn<uint> of a key column returns.
        if (value is uint raw)
            return raw >= 1 && raw <= (uint)Width ? (int)raw - 1 : -1;
        string? text = value switch
        {
            string s => s,
            ReadOnlyMemory<char> m => m.ToString(),
            IFormattable f => FormatNumber(f),
            _ => value.ToString(),
        };
        if (_keyIndex is not null)
        {
            if (text is not null && _keyIndex.TryGetValue(text, out int i))
                return i;
            // Numbers match numeric key values by value (3 matches 3.0f's "3"; 1e3 matches "1000").
            if (value is not string && IsNumber(value))
            {
                double v = Convert.ToDouble(value, CultureInfo.InvariantCulture);
                for (int k = 0; k < KeyValues!.Count; k++)
                {
                    if (double.TryParse(KeyValues[k], NumberStyles.Float, CultureInfo.InvariantCulture, out double kv) && kv == v)
                        return k;
                }
            }
            return -1;
        }
        // A key without values: only raw keys name its values; integers of any type are accepted as raw keys.
        if (IsNumber(value) && value is not float and not double and not decimal)
        {
            long v = Convert.ToInt64(value, CultureInfo.InvariantCulture);
            return v >= 1 && v <= Width ? (int)v - 1 : -1;
        }
        return -1;
    }

    private string UnknownValueMessage(object value)
    {
        string shown = value is IFormattable f ? FormatNumber(f) : value.ToString() ?? "";
        if (KeyValues is null)
            return $"Unknown condition value '{shown}' ({value.GetType().Name}) for condition column '{ColumnName}': it is a key of {Width} values "
                   + $"without key values, so the condition is its raw key, a uint from 1 to {Width}.";
        const int shownValues = 30;
        string list = string.Join(", ", KeyValues.Take(shownValues).Select(v => $"'{v}'"))
                      + (KeyValues.Count > shownValues ? $", ... ({KeyValues.Count - shownValues} more)" : "");
        return $"Unknown condition value '{shown}' ({value.GetType().Name}) for condition column '{ColumnName}'. The model knows {Width} values "
               + $"({KeyValueType}): {list}. Pass one of them (or its raw key, a uint from 1 to {Width}).";
    }

    private static bool IsNumber(object value)
        => value is sbyte or byte or short or ushort or int or uint or long or ulong or float or double or decimal;

    private static string FormatNumber(IFormattable value)
        => value is float f ? f.ToString("R", CultureInfo.InvariantCulture)
            : value is double d ? d.ToString("R", CultureInfo.InvariantCulture)
            : value.ToString(null, CultureInfo.InvariantCulture);

    private static DataViewSchema.Column Find(IExceptionContext ectx, DataViewSchema schema, string columnName, string role)
    {
        ectx.CheckValue(schema, nameof(schema));
        var column = schema.GetColumnOrNull(columnName);
        if (column is null)
            throw ectx.ExceptUserArg("ConditionColumnName",
                $"Condition column '{columnName}' was not found in the {role.ToLowerInvariant()} data; the model is conditioned on it "
                + $"(ConditionColumnName). Columns present: {string.Join(", ", schema.Take(12).Select(c => $"'{c.Name}' ({c.Type})"))}{(schema.Count > 12 ? ", ..." : "")}.");
        return column.Value;
    }

    private static Exception Mismatch(IExceptionContext ectx, string columnName, DataViewType type, string advice)
        => ectx.ExceptParam("schema", $"Schema mismatch for condition column '{columnName}': expected a key or a known-size vector of Single, got {type}. {advice}");

    /// <summary>The key values as invariant texts (and their item type's name), or null when the column has none.</summary>
    private static (string[]? Values, string? ItemType) ReadKeyValues(DataViewSchema.Column column)
    {
        var annotation = column.Annotations.Schema.GetColumnOrNull(AnnotationUtils.Kinds.KeyValues);
        if (annotation is null || annotation.Value.Type is not VectorDataViewType vectorType)
            return (null, null);
        var item = vectorType.ItemType.RawType;
        var method = typeof(ConditionEncoding).GetMethod(nameof(ReadTexts), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!
            .MakeGenericMethod(item);
        var texts = (string[])method.Invoke(null, new object[] { column })!;
        return (texts, item == typeof(ReadOnlyMemory<char>) ? "String" : item.Name);
    }

    private static string[] ReadTexts<T>(DataViewSchema.Column column)
    {
        var values = default(VBuffer<T>);
        column.Annotations.GetValue(AnnotationUtils.Kinds.KeyValues, ref values);
        return values.DenseValues().Select(v => v switch
        {
            ReadOnlyMemory<char> m => m.ToString(),
            IFormattable f => FormatNumber(f),
            null => "",
            _ => v.ToString() ?? "",
        }).ToArray();
    }

    // Binary format, in write order:
    //   bool     present (false: unconditional model, nothing follows)
    //   string   column name
    //   bool     key (true) or float vector (false)
    //   int32    width (key cardinality K or vector size)
    //   bool     key values present; then string item type and K strings
    //   bool     key counts present; then K int64 counts (from the transformers' format 0x00010003)
    public static void Save(BinaryWriter writer, ConditionEncoding? condition)
    {
        SaveDefinition(writer, condition);
        if (condition is null)
            return;
        writer.Write(condition.KeyCounts is not null);
        foreach (long n in condition.KeyCounts ?? Array.Empty<long>())
            writer.Write(n);
    }

    private static void SaveDefinition(BinaryWriter writer, ConditionEncoding? condition)
    {
        writer.Write(condition is not null);
        if (condition is null)
            return;
        writer.Write(condition.ColumnName);
        writer.Write(condition.IsKey);
        writer.Write(condition.Width);
        writer.Write(condition.KeyValues is not null);
        if (condition.KeyValues is null)
            return;
        writer.Write(condition.KeyValueType ?? "");
        foreach (var v in condition.KeyValues)
            writer.Write(v);
    }

    /// <summary>
    /// Reads what <see cref="Save"/> wrote (null for an unconditional model); <paramref name="withCounts"/> for the
    /// transformers' format 0x00010003 and later (0x00010002 had no key counts).
    /// </summary>
    public static ConditionEncoding? Load(BinaryReader reader, string modelName, bool withCounts)
    {
        var condition = LoadDefinition(reader, modelName);
        if (condition is null || !withCounts || !reader.ReadBoolean())
            return condition;
        if (!condition.IsKey)
            throw ModelPersistence.Corrupt(modelName, "a vector condition with key counts");
        var counts = new long[condition.Width];
        for (int k = 0; k < counts.Length; k++)
        {
            counts[k] = reader.ReadInt64();
            if (counts[k] < 0)
                throw ModelPersistence.Corrupt(modelName, $"a negative count ({counts[k]}) of condition value {k + 1}");
        }
        if (counts.Sum() == 0)
            throw ModelPersistence.Corrupt(modelName, "condition counts that are all zero");
        return condition.WithKeyCounts(counts);
    }

    private static ConditionEncoding? LoadDefinition(BinaryReader reader, string modelName)
    {
        if (!reader.ReadBoolean())
            return null;
        string name = reader.ReadString();
        if (string.IsNullOrWhiteSpace(name))
            throw ModelPersistence.Corrupt(modelName, "the condition column has no name");
        bool isKey = reader.ReadBoolean();
        int width = ModelPersistence.ReadInt32InRange(reader, modelName, "condition width", 1, isKey ? MaximumKeyCount : 1 << 24);
        string[]? values = null;
        string? type = null;
        if (reader.ReadBoolean())
        {
            if (!isKey)
                throw ModelPersistence.Corrupt(modelName, "a vector condition with key values");
            type = reader.ReadString();
            values = new string[width];
            for (int i = 0; i < width; i++)
                values[i] = reader.ReadString();
        }
        return new ConditionEncoding(name, isKey, width, values, type);
    }
}
