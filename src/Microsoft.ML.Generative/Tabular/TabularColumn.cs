using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Persistence;

namespace Microsoft.ML.Generative.Tabular;

/// <summary>The ML.NET scalar types a <see cref="TabularSynthesizerEstimator"/> models.</summary>
internal enum TabularValueType
{
    Single = 1, Double, SByte, Byte, Int16, UInt16, Int32, UInt32, Int64, UInt64, Boolean, Text, Key,
}

/// <summary>One part of the encoded row: a real scalar (a mode-normalized value) or a group of one-hot classes.</summary>
internal readonly record struct TabularSpan(int Offset, int Width, bool IsCategorical);

/// <summary>
/// What the synthesizer knows about one column of the table: its name and type (key cardinality and key texts
/// included), and either a continuous model (a Gaussian mixture for mode-specific normalization, the observed range,
/// whether the values are whole numbers, whether values were missing) or a discrete one (the categories seen in
/// training and their frequencies). It encodes values into the model's row and decodes them back.
/// </summary>
/// <remarks>
/// Encoding (Xu et al. 2019, §4.2), continuous: [α, one-hot mode (K modes, plus one "missing" class when the
/// training data had missing values)], with α = (x − μ_k)/(4σ_k) clipped to [−0.99, 0.99] and k drawn from the
/// mode posterior p(k | x); a missing value is the "missing" class with α = 0. Discrete: one-hot over the categories.
/// </remarks>
internal sealed class TabularColumn
{
    private TabularColumn(string name, TabularValueType valueType, int keyRawType, ulong keyCount, string[]? keyTexts)
    {
        Name = name;
        ValueType = valueType;
        KeyRawType = keyRawType;
        KeyCount = keyCount;
        KeyTexts = keyTexts;
    }

    public string Name { get; }

    public TabularValueType ValueType { get; }

    /// <summary>For keys: the raw type's <see cref="TabularValueType"/> (Byte, UInt16, UInt32 or UInt64); 0 otherwise.</summary>
    public int KeyRawType { get; }

    /// <summary>For keys: the key type's cardinality.</summary>
    public ulong KeyCount { get; }

    /// <summary>For keys with a <c>KeyValues</c> annotation: the texts of keys 1 … KeyCount.</summary>
    public string[]? KeyTexts { get; }

    public bool IsContinuous => ValueType is not (TabularValueType.Boolean or TabularValueType.Text or TabularValueType.Key);

    public bool IsFloatingPoint => ValueType is TabularValueType.Single or TabularValueType.Double;

    // Continuous model.
    public GaussianMixture? Mixture { get; private set; }
    public double Minimum { get; private set; }
    public double Maximum { get; private set; }
    /// <summary>
    /// Decimal digits of the training values (0: whole numbers; at most <see cref="MaximumDecimals"/>), or −1 when they
    /// have more: generated values are rounded to this many digits (CTGAN/SDV's "learned rounding").
    /// </summary>
    public int Decimals { get; private set; } = -1;

    public const int MaximumDecimals = 6;

    public bool IsIntegral => Decimals == 0;
    public bool HasMissing { get; private set; }

    // Discrete model: the categories in a fixed order (ordinal for texts, false < true, key value order; 0 = missing key).
    public string[] Categories { get; private set; } = Array.Empty<string>();
    public ulong[] KeyCategories { get; private set; } = Array.Empty<ulong>();
    public double[] Frequencies { get; private set; } = Array.Empty<double>();

    /// <summary>The mode classes (continuous, missing class included) or the categories (discrete).</summary>
    public int ClassCount => IsContinuous ? Mixture!.Count + (HasMissing ? 1 : 0) : Categories.Length;

    /// <summary>Width of the encoded column.</summary>
    public int Width => IsContinuous ? 1 + ClassCount : ClassCount;

    /// <summary>Where the column starts in the encoded row; set by the layout.</summary>
    public int Offset { get; set; }

    /// <summary>The one-hot group of the column (modes or categories).</summary>
    public TabularSpan ClassSpan => IsContinuous ? new(Offset + 1, ClassCount, true) : new(Offset, ClassCount, true);

    /// <summary>The data view type the column is read and written as.</summary>
    public DataViewType DataType => ValueType switch
    {
        TabularValueType.Single => NumberDataViewType.Single,
        TabularValueType.Double => NumberDataViewType.Double,
        TabularValueType.SByte => NumberDataViewType.SByte,
        TabularValueType.Byte => NumberDataViewType.Byte,
        TabularValueType.Int16 => NumberDataViewType.Int16,
        TabularValueType.UInt16 => NumberDataViewType.UInt16,
        TabularValueType.Int32 => NumberDataViewType.Int32,
        TabularValueType.UInt32 => NumberDataViewType.UInt32,
        TabularValueType.Int64 => NumberDataViewType.Int64,
        TabularValueType.UInt64 => NumberDataViewType.UInt64,
        TabularValueType.Boolean => BooleanDataViewType.Instance,
        TabularValueType.Text => TextDataViewType.Instance,
        TabularValueType.Key => new KeyDataViewType(RawKeyClrType(KeyRawType), KeyCount),
        _ => throw new InvalidOperationException(),
    };

    private static Type RawKeyClrType(int raw) => (TabularValueType)raw switch
    {
        TabularValueType.Byte => typeof(byte),
        TabularValueType.UInt16 => typeof(ushort),
        TabularValueType.UInt32 => typeof(uint),
        _ => typeof(ulong),
    };

    /// <summary>
    /// Captures a schema column, or returns why it cannot be modelled (null when it can).
    /// </summary>
    public static TabularColumn? Capture(DataViewSchema.Column column, out string? whyNot)
    {
        whyNot = null;
        var type = column.Type;
        if (type is VectorDataViewType vector)
        {
            whyNot = $"it is a vector of {vector.ItemType} ({vector}); the synthesizer models one value per column and row. "
                + "Leave it out of Columns, or split it into scalar columns first.";
            return null;
        }
        if (type is KeyDataViewType key)
        {
            if (key.Count == 0)
            {
                whyNot = "it is a key type of unknown cardinality; give the key type a count (e.g. MapValueToKey).";
                return null;
            }
            int raw = key.RawType == typeof(byte) ? (int)TabularValueType.Byte : key.RawType == typeof(ushort) ? (int)TabularValueType.UInt16
                : key.RawType == typeof(uint) ? (int)TabularValueType.UInt32 : (int)TabularValueType.UInt64;
            string[]? texts = null;
            if (column.HasKeyValues())
            {
                VBuffer<ReadOnlyMemory<char>> values = default;
                column.GetKeyValues(ref values);
                if (values.Length == (int)key.Count)
                    texts = values.DenseValues().Select(v => v.ToString()).ToArray();
            }
            return new TabularColumn(column.Name, TabularValueType.Key, raw, key.Count, texts);
        }
        TabularValueType? t = type switch
        {
            _ when type == NumberDataViewType.Single => TabularValueType.Single,
            _ when type == NumberDataViewType.Double => TabularValueType.Double,
            _ when type == NumberDataViewType.SByte => TabularValueType.SByte,
            _ when type == NumberDataViewType.Byte => TabularValueType.Byte,
            _ when type == NumberDataViewType.Int16 => TabularValueType.Int16,
            _ when type == NumberDataViewType.UInt16 => TabularValueType.UInt16,
            _ when type == NumberDataViewType.Int32 => TabularValueType.Int32,
            _ when type == NumberDataViewType.UInt32 => TabularValueType.UInt32,
            _ when type == NumberDataViewType.Int64 => TabularValueType.Int64,
            _ when type == NumberDataViewType.UInt64 => TabularValueType.UInt64,
            BooleanDataViewType => TabularValueType.Boolean,
            TextDataViewType => TabularValueType.Text,
            _ => null,
        };
        if (t is null)
        {
            whyNot = type is DateTimeDataViewType or DateTimeOffsetDataViewType or TimeSpanDataViewType
                ? $"its type {type} is a date or time; convert it to a number first (e.g. days since a reference date, with a custom mapping) or leave it out of Columns."
                : $"its type {type} is not a number, boolean, text or key.";
            return null;
        }
        return new TabularColumn(column.Name, t.Value, 0, 0, null);
    }

    /// <summary>The column read from a cursor: continuous values as double (NaN = missing), discrete values as category texts or key values.</summary>
    internal abstract class Reader
    {
        public abstract double ReadNumber();
        public abstract string ReadText();
        public abstract ulong ReadKey();
        public abstract bool ReadBoolean();
    }

    public Reader CreateReader(DataViewRow row, DataViewSchema.Column column)
        => ValueType switch
        {
            TabularValueType.Single => new NumberReader<float>(row, column, v => v),
            TabularValueType.Double => new NumberReader<double>(row, column, v => v),
            TabularValueType.SByte => new NumberReader<sbyte>(row, column, v => v),
            TabularValueType.Byte => new NumberReader<byte>(row, column, v => v),
            TabularValueType.Int16 => new NumberReader<short>(row, column, v => v),
            TabularValueType.UInt16 => new NumberReader<ushort>(row, column, v => v),
            TabularValueType.Int32 => new NumberReader<int>(row, column, v => v),
            TabularValueType.UInt32 => new NumberReader<uint>(row, column, v => v),
            TabularValueType.Int64 => new NumberReader<long>(row, column, v => v),
            TabularValueType.UInt64 => new NumberReader<ulong>(row, column, v => v),
            TabularValueType.Boolean => new BooleanReader(row, column),
            TabularValueType.Text => new TextReader(row, column),
            TabularValueType.Key => (TabularValueType)KeyRawType switch
            {
                TabularValueType.Byte => new KeyReader<byte>(row, column, v => v),
                TabularValueType.UInt16 => new KeyReader<ushort>(row, column, v => v),
                TabularValueType.UInt32 => new KeyReader<uint>(row, column, v => v),
                _ => new KeyReader<ulong>(row, column, v => v),
            },
            _ => throw new InvalidOperationException(),
        };

    private sealed class NumberReader<T> : Reader
    {
        private readonly ValueGetter<T> _getter;
        private readonly Func<T, double> _convert;
        private T _value = default!;
        public NumberReader(DataViewRow row, DataViewSchema.Column column, Func<T, double> convert)
        {
            _getter = row.GetGetter<T>(column);
            _convert = convert;
        }
        public override double ReadNumber()
        {
            _getter(ref _value);
            return _convert(_value);
        }
        public override string ReadText() => throw new InvalidOperationException();
        public override ulong ReadKey() => throw new InvalidOperationException();
        public override bool ReadBoolean() => throw new InvalidOperationException();
    }

    private sealed class BooleanReader : Reader
    {
        private readonly ValueGetter<bool> _getter;
        private bool _value;
        public BooleanReader(DataViewRow row, DataViewSchema.Column column) => _getter = row.GetGetter<bool>(column);
        public override bool ReadBoolean()
        {
            _getter(ref _value);
            return _value;
        }
        public override double ReadNumber() => throw new InvalidOperationException();
        public override string ReadText() => throw new InvalidOperationException();
        public override ulong ReadKey() => throw new InvalidOperationException();
    }

    private sealed class TextReader : Reader
    {
        private readonly ValueGetter<ReadOnlyMemory<char>> _getter;
        private ReadOnlyMemory<char> _value;
        public TextReader(DataViewRow row, DataViewSchema.Column column) => _getter = row.GetGetter<ReadOnlyMemory<char>>(column);
        public override string ReadText()
        {
            _getter(ref _value);
            return _value.ToString();
        }
        public override double ReadNumber() => throw new InvalidOperationException();
        public override ulong ReadKey() => throw new InvalidOperationException();
        public override bool ReadBoolean() => throw new InvalidOperationException();
    }

    private sealed class KeyReader<T> : Reader
    {
        private readonly ValueGetter<T> _getter;
        private readonly Func<T, ulong> _convert;
        private T _value = default!;
        public KeyReader(DataViewRow row, DataViewSchema.Column column, Func<T, ulong> convert)
        {
            _getter = row.GetGetter<T>(column);
            _convert = convert;
        }
        public override ulong ReadKey()
        {
            _getter(ref _value);
            return _convert(_value);
        }
        public override double ReadNumber() => throw new InvalidOperationException();
        public override string ReadText() => throw new InvalidOperationException();
        public override bool ReadBoolean() => throw new InvalidOperationException();
    }

    /// <summary>The category label of a discrete value as users see it (key text when the key has one).</summary>
    public string Label(int category)
    {
        if (ValueType == TabularValueType.Key)
        {
            ulong k = KeyCategories[category];
            if (k == 0) return "(missing key)";
            return KeyTexts is not null ? KeyTexts[k - 1] : k.ToString(CultureInfo.InvariantCulture);
        }
        return Categories[category];
    }

    /// <summary>Fits the continuous model to the non-missing values (NaN = missing).</summary>
    public void FitContinuous(double[] values, int maxModes, double weightThreshold, int maxFitValues, Random random)
    {
        var present = values.Where(v => !double.IsNaN(v)).ToArray();
        HasMissing = present.Length < values.Length;
        Minimum = present.Min();
        Maximum = present.Max();
        Decimals = IsFloatingPoint ? LearnDecimals(present, ValueType == TabularValueType.Single) : 0;
        // The mixture is fitted on a seeded uniform subsample of at most maxFitValues values.
        var fit = present;
        if (present.Length > maxFitValues)
        {
            fit = (double[])present.Clone();
            for (int i = 0; i < maxFitValues; i++)
            {
                int j = i + random.Next(fit.Length - i);
                (fit[i], fit[j]) = (fit[j], fit[i]);
            }
            Array.Resize(ref fit, maxFitValues);
        }
        Mixture = GaussianMixture.Fit(fit, maxModes, weightThreshold);
    }

    /// <summary>
    /// The fewest decimal digits d ≤ <see cref="MaximumDecimals"/> that reproduce every value (compared in the column's
    /// own precision: a Single 39.1 is 39.099998… as a double), or −1.
    /// </summary>
    private static int LearnDecimals(double[] values, bool single)
    {
        int digits = 0;
        foreach (double v in values)
        {
            while (digits <= MaximumDecimals && !Reproduces(v, digits, single))
                digits++;
            if (digits > MaximumDecimals)
                return -1;
        }
        return digits;

        static bool Reproduces(double v, int d, bool single)
        {
            if (Math.Abs(v) >= 1e15)
                return true;
            double r = Math.Round(v, d, MidpointRounding.AwayFromZero);
            return single ? (float)r == (float)v : Math.Abs(r - v) <= 1e-12 * Math.Max(1, Math.Abs(v));
        }
    }

    /// <summary>Sets the discrete model from category counts (texts: ordinal order; booleans: false, true; keys: value order).</summary>
    public void FitDiscrete(IReadOnlyDictionary<string, long> textCounts, IReadOnlyDictionary<ulong, long> keyCounts, long rows)
    {
        if (ValueType == TabularValueType.Key)
        {
            KeyCategories = keyCounts.Keys.OrderBy(k => k).ToArray();
            Categories = KeyCategories.Select(k => k.ToString(CultureInfo.InvariantCulture)).ToArray();
            Frequencies = KeyCategories.Select(k => (double)keyCounts[k] / rows).ToArray();
        }
        else
        {
            Categories = textCounts.Keys.OrderBy(k => k, StringComparer.Ordinal).ToArray();
            Frequencies = Categories.Select(k => (double)textCounts[k] / rows).ToArray();
        }
    }

    /// <summary>Encodes a continuous value into <paramref name="row"/> at <see cref="Offset"/>.</summary>
    public void EncodeContinuous(double x, Span<float> row, double[] posterior, Random random)
    {
        var m = Mixture!;
        if (double.IsNaN(x))
        {
            row[Offset] = 0;
            row[Offset + 1 + m.Count] = 1;
            return;
        }
        m.Posterior(x, posterior);
        // The mode is drawn from its posterior, as in CTGAN (not the arg max), so that overlapping modes share values.
        double u = random.NextDouble(), c = 0;
        int k = m.Count - 1;
        for (int j = 0; j < m.Count; j++)
        {
            c += posterior[j];
            if (u < c)
            {
                k = j;
                break;
            }
        }
        row[Offset] = (float)Math.Clamp((x - m.Means[k]) / (4 * m.StandardDeviations[k]), -0.99, 0.99);
        row[Offset + 1 + k] = 1;
    }

    /// <summary>
    /// The value of mode class <paramref name="mode"/> and scaled offset <paramref name="alpha"/>: NaN for the missing
    /// class; else μ + 4σ·α, kept in the observed range (unless <paramref name="extrapolate"/>), rounded to the
    /// training values' decimal digits (<see cref="Decimals"/>), and always inside the column type's range.
    /// </summary>
    public double DecodeContinuous(int mode, double alpha, bool extrapolate)
    {
        var m = Mixture!;
        if (mode >= m.Count)
            return double.NaN;
        double x = m.Means[mode] + 4 * m.StandardDeviations[mode] * alpha;
        if (!extrapolate)
            x = Math.Clamp(x, Minimum, Maximum);
        if (Decimals >= 0)
            x = Math.Round(x, Decimals, MidpointRounding.ToEven);
        var (lo, hi) = TypeRange(ValueType);
        return Math.Clamp(x, lo, hi);
    }

    private static (double Lo, double Hi) TypeRange(TabularValueType t) => t switch
    {
        TabularValueType.SByte => (sbyte.MinValue, sbyte.MaxValue),
        TabularValueType.Byte => (byte.MinValue, byte.MaxValue),
        TabularValueType.Int16 => (short.MinValue, short.MaxValue),
        TabularValueType.UInt16 => (ushort.MinValue, ushort.MaxValue),
        TabularValueType.Int32 => (int.MinValue, int.MaxValue),
        TabularValueType.UInt32 => (uint.MinValue, uint.MaxValue),
        // The largest doubles below 2⁶³ and 2⁶⁴, so the conversion back cannot overflow.
        TabularValueType.Int64 => (-9.2233720368547748E+18, 9.2233720368547748E+18 - 1024),
        TabularValueType.UInt64 => (0, 1.8446744073709552E+19 - 2048),
        TabularValueType.Single => (float.MinValue, float.MaxValue),
        _ => (double.MinValue, double.MaxValue),
    };

    /// <summary>Adds a decoded column to <paramref name="builder"/>: <paramref name="numbers"/> (continuous) or category indices.</summary>
    public void AddTo(ArrayDataViewBuilder builder, double[]? numbers, int[]? categories)
    {
        switch (ValueType)
        {
            case TabularValueType.Single: builder.AddColumn(Name, NumberDataViewType.Single, numbers!.Select(v => (float)v).ToArray()); break;
            case TabularValueType.Double: builder.AddColumn(Name, NumberDataViewType.Double, numbers!.ToArray()); break;
            case TabularValueType.SByte: builder.AddColumn(Name, NumberDataViewType.SByte, numbers!.Select(v => (sbyte)v).ToArray()); break;
            case TabularValueType.Byte: builder.AddColumn(Name, NumberDataViewType.Byte, numbers!.Select(v => (byte)v).ToArray()); break;
            case TabularValueType.Int16: builder.AddColumn(Name, NumberDataViewType.Int16, numbers!.Select(v => (short)v).ToArray()); break;
            case TabularValueType.UInt16: builder.AddColumn(Name, NumberDataViewType.UInt16, numbers!.Select(v => (ushort)v).ToArray()); break;
            case TabularValueType.Int32: builder.AddColumn(Name, NumberDataViewType.Int32, numbers!.Select(v => (int)v).ToArray()); break;
            case TabularValueType.UInt32: builder.AddColumn(Name, NumberDataViewType.UInt32, numbers!.Select(v => (uint)v).ToArray()); break;
            case TabularValueType.Int64: builder.AddColumn(Name, NumberDataViewType.Int64, numbers!.Select(v => (long)v).ToArray()); break;
            case TabularValueType.UInt64: builder.AddColumn(Name, NumberDataViewType.UInt64, numbers!.Select(v => (ulong)v).ToArray()); break;
            case TabularValueType.Boolean: builder.AddColumn(Name, BooleanDataViewType.Instance, categories!.Select(c => Categories[c] == bool.TrueString).ToArray()); break;
            case TabularValueType.Text: builder.AddColumn(Name, categories!.Select(c => Categories[c]).ToArray()); break;
            case TabularValueType.Key:
                var keys = categories!.Select(c => KeyCategories[c]).ToArray();
                var keyType = (KeyDataViewType)DataType;
                ValueGetter<VBuffer<ReadOnlyMemory<char>>>? texts = KeyTexts is null ? null
                    : (ref VBuffer<ReadOnlyMemory<char>> dst) => dst = new VBuffer<ReadOnlyMemory<char>>(KeyTexts.Length, KeyTexts.Select(s => s.AsMemory()).ToArray());
                switch ((TabularValueType)KeyRawType)
                {
                    case TabularValueType.Byte: AddKey(builder, keyType, texts, keys.Select(k => (byte)k).ToArray()); break;
                    case TabularValueType.UInt16: AddKey(builder, keyType, texts, keys.Select(k => (ushort)k).ToArray()); break;
                    case TabularValueType.UInt32: AddKey(builder, keyType, texts, keys.Select(k => (uint)k).ToArray()); break;
                    default: AddKey(builder, keyType, texts, keys); break;
                }
                break;
        }
    }

    private void AddKey<T>(ArrayDataViewBuilder builder, KeyDataViewType type, ValueGetter<VBuffer<ReadOnlyMemory<char>>>? texts, T[] values)
    {
        if (texts is null)
            builder.AddColumn(Name, type, values);
        else
            builder.AddColumn(Name, texts, type.Count, values);
    }

    /// <summary>
    /// The category index of a condition value given by a user: a string (a text category, "True"/"False", or a key's
    /// text), a bool, or an integer key value; −1 when the column has no such category.
    /// </summary>
    public int FindCategory(object value)
    {
        switch (ValueType)
        {
            case TabularValueType.Text:
                return value is string s ? Array.IndexOf(Categories, s) : value is ReadOnlyMemory<char> m ? Array.IndexOf(Categories, m.ToString()) : -1;
            case TabularValueType.Boolean:
                string? b = value is bool v ? (v ? bool.TrueString : bool.FalseString)
                    : value is string t && bool.TryParse(t, out bool parsed) ? (parsed ? bool.TrueString : bool.FalseString) : null;
                return b is null ? -1 : Array.IndexOf(Categories, b);
            case TabularValueType.Key:
                if (value is string text)
                {
                    for (int i = 0; i < KeyCategories.Length; i++)
                        if (Label(i) == text) return i;
                    return -1;
                }
                ulong key;
                try
                {
                    key = Convert.ToUInt64(value, CultureInfo.InvariantCulture);
                }
                catch (Exception e) when (e is InvalidCastException or FormatException or OverflowException)
                {
                    return -1;
                }
                return Array.IndexOf(KeyCategories, key);
            default:
                return -1;
        }
    }

    // Binary format, in write order:
    //   string  name;  int32 value type;  int32 key raw type;  uint64 key count
    //   int32   key text count (−1: none), then that many strings
    //   continuous: double min, double max, int32 decimals (−1: not rounded), bool has-missing, int32 K, K × (double weight, mean, sd)
    //   discrete:   int32 C, C × (string category, uint64 key value, double frequency)
    public void Save(BinaryWriter w)
    {
        w.Write(Name);
        w.Write((int)ValueType);
        w.Write(KeyRawType);
        w.Write(KeyCount);
        w.Write(KeyTexts?.Length ?? -1);
        foreach (var t in KeyTexts ?? Array.Empty<string>())
            w.Write(t);
        if (IsContinuous)
        {
            w.Write(Minimum);
            w.Write(Maximum);
            w.Write(Decimals);
            w.Write(HasMissing);
            var m = Mixture!;
            w.Write(m.Count);
            for (int j = 0; j < m.Count; j++)
            {
                w.Write(m.Weights[j]);
                w.Write(m.Means[j]);
                w.Write(m.StandardDeviations[j]);
            }
        }
        else
        {
            w.Write(Categories.Length);
            for (int i = 0; i < Categories.Length; i++)
            {
                w.Write(Categories[i]);
                w.Write(ValueType == TabularValueType.Key ? KeyCategories[i] : 0UL);
                w.Write(Frequencies[i]);
            }
        }
    }

    public static TabularColumn Load(BinaryReader r, string modelName)
    {
        string name = r.ReadString();
        var valueType = (TabularValueType)r.ReadInt32();
        if (!Enum.IsDefined(valueType))
            throw ModelPersistence.Corrupt(modelName, $"unknown value type {(int)valueType} of column '{name}'");
        int keyRaw = r.ReadInt32();
        ulong keyCount = r.ReadUInt64();
        int textCount = r.ReadInt32();
        if (textCount < -1 || textCount > (1 << 24))
            throw ModelPersistence.Corrupt(modelName, $"impossible key text count {textCount} of column '{name}'");
        string[]? texts = textCount < 0 ? null : Enumerable.Range(0, textCount).Select(_ => r.ReadString()).ToArray();
        var column = new TabularColumn(name, valueType, keyRaw, keyCount, texts);
        if (column.IsContinuous)
        {
            column.Minimum = r.ReadDouble();
            column.Maximum = r.ReadDouble();
            column.Decimals = ModelPersistence.ReadInt32InRange(r, modelName, $"decimals of column '{name}'", -1, MaximumDecimals);
            column.HasMissing = r.ReadBoolean();
            int k = ModelPersistence.ReadInt32InRange(r, modelName, $"number of modes of column '{name}'", 1, 1024);
            var weights = new double[k];
            var means = new double[k];
            var sds = new double[k];
            for (int j = 0; j < k; j++)
            {
                weights[j] = r.ReadDouble();
                means[j] = r.ReadDouble();
                sds[j] = r.ReadDouble();
                if (!(sds[j] > 0) || !double.IsFinite(means[j]))
                    throw ModelPersistence.Corrupt(modelName, $"an impossible mode of column '{name}'");
            }
            column.Mixture = new GaussianMixture(weights, means, sds);
        }
        else
        {
            int c = ModelPersistence.ReadInt32InRange(r, modelName, $"number of categories of column '{name}'", 1, 1 << 24);
            column.Categories = new string[c];
            column.KeyCategories = valueType == TabularValueType.Key ? new ulong[c] : Array.Empty<ulong>();
            column.Frequencies = new double[c];
            for (int i = 0; i < c; i++)
            {
                column.Categories[i] = r.ReadString();
                ulong key = r.ReadUInt64();
                if (valueType == TabularValueType.Key)
                    column.KeyCategories[i] = key;
                column.Frequencies[i] = r.ReadDouble();
            }
        }
        return column;
    }
}
