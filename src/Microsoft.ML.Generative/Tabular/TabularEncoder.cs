using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Persistence;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Generative.Tabular;

/// <summary>
/// The table's column models and the layout of the encoded row the networks see: the columns in the input's order,
/// each as its spans (continuous: a scalar and a one-hot mode group; discrete: a one-hot group).
/// </summary>
internal sealed class TabularEncoder
{
    /// <summary>The largest |value| of a continuous column: squared deviations and their sums over the mixture's fit
    /// values (≤ 50,000 by default) stay finite in float64 below it.</summary>
    internal const double MaximumMagnitude = 1e150;

    public TabularEncoder(IReadOnlyList<TabularColumn> columns)
    {
        Columns = columns;
        int offset = 0;
        var spans = new List<TabularSpan>();
        foreach (var c in columns)
        {
            c.Offset = offset;
            if (c.IsContinuous)
                spans.Add(new TabularSpan(offset, 1, false));
            spans.Add(c.ClassSpan);
            offset += c.Width;
        }
        Dimension = offset;
        Spans = spans;
    }

    public IReadOnlyList<TabularColumn> Columns { get; }

    public IReadOnlyList<TabularSpan> Spans { get; }

    /// <summary>Width of the encoded row.</summary>
    public int Dimension { get; }

    /// <summary>Offsets of the continuous columns' scalars, in column order.</summary>
    public int[] ScalarOffsets => Columns.Where(c => c.IsContinuous).Select(c => c.Offset).ToArray();

    public TabularColumn? Find(string name) => Columns.FirstOrDefault(c => c.Name == name);

    /// <summary>
    /// Reads <paramref name="data"/> once, fits every column model and returns the encoder with the encoded rows
    /// (row-major, <c>rows × Dimension</c>). Errors name the column and say what to do; their parameter is "input", the
    /// name of <see cref="TabularSynthesizerEstimator.Fit(IDataView)"/>'s argument.
    /// </summary>
    public static (TabularEncoder Encoder, float[] Encoded, int Rows) Fit(IHost host, IChannel ch, IDataView data,
        TabularSynthesizerOptions options, int seed)
    {
        var schema = data.Schema;
        var names = options.Columns ?? Enumerable.Range(0, schema.Count).Where(i => !schema[i].IsHidden).Select(i => schema[i].Name).ToArray();
        var columns = new List<TabularColumn>();
        var schemaColumns = new List<DataViewSchema.Column>();
        foreach (var name in names)
        {
            var col = schema.GetColumnOrNull(name);
            if (col is null)
                throw host.ExceptUserArg(nameof(options.Columns),
                    $"Column '{name}' was not found in the input. Columns present: {string.Join(", ", schema.Where(c => !c.IsHidden).Select(c => $"'{c.Name}'"))}.");
            var model = TabularColumn.Capture(col.Value, out string? whyNot);
            if (model is null)
                throw host.ExceptParam("input", $"Column '{name}' cannot be modelled: {whyNot}");
            columns.Add(model);
            schemaColumns.Add(col.Value);
        }
        if (columns.Count == 0)
            throw host.ExceptParam("input", "The input has no columns to model.");

        // One pass: continuous values as double (NaN = missing), discrete values as category indices.
        var numbers = columns.Select(c => c.IsContinuous ? new List<double>() : null).ToArray();
        var categoryIds = columns.Select(c => c.IsContinuous ? null : new List<int>()).ToArray();
        var textIndex = columns.Select(_ => new Dictionary<string, int>(StringComparer.Ordinal)).ToArray();
        var keyIndex = columns.Select(_ => new Dictionary<ulong, int>()).ToArray();
        var textCounts = columns.Select(_ => new Dictionary<string, long>(StringComparer.Ordinal)).ToArray();
        var keyCounts = columns.Select(_ => new Dictionary<ulong, long>()).ToArray();
        int rows = 0;
        using (var cursor = data.GetRowCursor(schemaColumns))
        {
            var readers = columns.Select((c, i) => c.CreateReader(cursor, schemaColumns[i])).ToArray();
            while (cursor.MoveNext())
            {
                if ((rows & 1023) == 0)
                {
                    host.CheckAlive();
                    options.CancellationToken.ThrowIfCancellationRequested();
                }
                if (rows == int.MaxValue / 2)
                    throw host.ExceptParam("input", "The table has more than 2³⁰ rows; fit on a sample of it.");
                for (int j = 0; j < columns.Count; j++)
                {
                    var c = columns[j];
                    if (c.IsContinuous)
                    {
                        double v = readers[j].ReadNumber();
                        if (double.IsInfinity(v))
                            throw host.ExceptParam("input", $"Column '{c.Name}' holds {v} in row {rows}; only finite numbers and missing values (NaN) can be modelled. Replace or filter it first.");
                        numbers[j]!.Add(v);
                        continue;
                    }
                    int id;
                    if (c.ValueType == TabularValueType.Key)
                    {
                        ulong k = readers[j].ReadKey();
                        if (!keyIndex[j].TryGetValue(k, out id))
                        {
                            id = keyIndex[j].Count;
                            keyIndex[j][k] = id;
                            keyCounts[j][k] = 0;
                        }
                        keyCounts[j][k]++;
                    }
                    else
                    {
                        string s = c.ValueType == TabularValueType.Boolean ? (readers[j].ReadBoolean() ? bool.TrueString : bool.FalseString) : readers[j].ReadText();
                        if (!textIndex[j].TryGetValue(s, out id))
                        {
                            id = textIndex[j].Count;
                            textIndex[j][s] = id;
                            textCounts[j][s] = 0;
                        }
                        textCounts[j][s]++;
                    }
                    if (textIndex[j].Count + keyIndex[j].Count > options.MaximumCategories)
                        throw host.ExceptUserArg(nameof(options.MaximumCategories),
                            $"Column '{c.Name}' has more than {options.MaximumCategories} distinct values (the cap, MaximumCategories); a column with that many "
                            + "categories (an identifier, free text) cannot be learned from one-hot codes. Leave it out of Columns, group rare values, or raise MaximumCategories.");
                    categoryIds[j]!.Add(id);
                }
                rows++;
            }
        }
        if (rows < 2)
            throw host.ExceptParam("input", $"The table has {rows} row{(rows == 1 ? "" : "s")}; a synthesizer needs at least 2 rows (and many more to learn anything).");

        var random = new Random(seed);
        for (int j = 0; j < columns.Count; j++)
        {
            var c = columns[j];
            if (c.IsContinuous)
            {
                var values = numbers[j]!.ToArray();
                if (values.All(double.IsNaN))
                    throw host.ExceptParam("input", $"Column '{c.Name}' has no values: all {rows} are missing (NaN). Leave it out of Columns.");
                double magnitude = values.Where(v => !double.IsNaN(v)).Max(Math.Abs);
                if (magnitude > MaximumMagnitude)
                    throw host.ExceptParam("input", $"Column '{c.Name}' holds values as large as {magnitude:G4} in magnitude; mode-specific normalization "
                        + $"squares deviations in float64 and models magnitudes up to {MaximumMagnitude:G1}. Rescale the column first (divide it, or take a logarithm).");
                c.FitContinuous(values, options.MaximumModes, options.ModeWeightThreshold, options.MaximumMixtureFitValues, random);
                ch.Info("Column '{0}' ({1}): {2} mode{3} (means {4}), range [{5}, {6}]{7}{8}.", c.Name, c.ValueType, c.Mixture!.Count,
                    c.Mixture.Count == 1 ? "" : "s", string.Join(", ", c.Mixture.Means.Select(m => m.ToString("G4"))), c.Minimum, c.Maximum,
                    c.Decimals == 0 ? ", whole numbers" : c.Decimals > 0 ? $", {c.Decimals} decimals" : "", c.HasMissing ? $", {values.Count(double.IsNaN)} missing" : "");
            }
            else
            {
                c.FitDiscrete(textCounts[j], keyCounts[j], rows);
                ch.Info("Column '{0}' ({1}): {2} categories.", c.Name, c.ValueType, c.Categories.Length);
            }
        }

        var encoder = new TabularEncoder(columns);
        var encoded = new float[(long)rows * encoder.Dimension];
        var posterior = new double[encoder.Columns.Where(c => c.IsContinuous).Select(c => c.Mixture!.Count).DefaultIfEmpty(1).Max()];
        for (int j = 0; j < columns.Count; j++)
        {
            var c = columns[j];
            // Maps the first-seen ids to the fitted (sorted) category order.
            int[]? remap = null;
            if (!c.IsContinuous)
            {
                remap = new int[c.Categories.Length];
                if (c.ValueType == TabularValueType.Key)
                    foreach (var (k, id) in keyIndex[j]) remap[id] = Array.IndexOf(c.KeyCategories, k);
                else
                    foreach (var (s, id) in textIndex[j]) remap[id] = Array.IndexOf(c.Categories, s);
            }
            for (int r = 0; r < rows; r++)
            {
                var row = encoded.AsSpan(r * encoder.Dimension, encoder.Dimension);
                if (c.IsContinuous)
                    c.EncodeContinuous(numbers[j]![r], row, posterior, random);
                else
                    row[c.Offset + remap![categoryIds[j]![r]]] = 1;
            }
        }
        return (encoder, encoded, rows);
    }

    /// <summary>
    /// Decodes generated rows: per continuous column the mode class and the scalar; per discrete column the category
    /// index. <paramref name="scalars"/> and <paramref name="classes"/> are row-major over the continuous columns'
    /// scalars and over every column's class group.
    /// </summary>
    public IDataView Decode(IHostEnvironment env, float[] scalars, int[] classes, int rows, bool extrapolate)
    {
        var builder = new ArrayDataViewBuilder(env);
        int continuous = Columns.Count(c => c.IsContinuous);
        int s = 0;
        for (int j = 0; j < Columns.Count; j++)
        {
            var c = Columns[j];
            if (c.IsContinuous)
            {
                var values = new double[rows];
                for (int r = 0; r < rows; r++)
                    values[r] = c.DecodeContinuous(classes[r * Columns.Count + j], scalars[r * continuous + s], extrapolate);
                c.AddTo(builder, values, null);
                s++;
            }
            else
            {
                var ids = new int[rows];
                for (int r = 0; r < rows; r++)
                    ids[r] = classes[r * Columns.Count + j];
                c.AddTo(builder, null, ids);
            }
        }
        return builder.GetDataView(rows);
    }

    /// <summary>Every column model, in order: int32 count, then each column's <see cref="TabularColumn.Save"/>.</summary>
    public void Save(BinaryWriter w)
    {
        w.Write(Columns.Count);
        foreach (var c in Columns)
            c.Save(w);
    }

    public static TabularEncoder Load(BinaryReader r, string modelName)
    {
        int count = ModelPersistence.ReadInt32InRange(r, modelName, "number of columns", 1, 1 << 20);
        var columns = new List<TabularColumn>(count);
        for (int i = 0; i < count; i++)
            columns.Add(TabularColumn.Load(r, modelName));
        return new TabularEncoder(columns);
    }
}
