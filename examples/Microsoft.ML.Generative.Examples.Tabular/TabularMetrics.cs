using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Evaluation;

namespace Microsoft.ML.Generative.Examples.Tabular;

/// <summary>The bundled tables (examples/data, from vega-datasets; licence beside them) and how they are read.</summary>
public static class BundledTables
{
    /// <summary>A header line, commas, and empty number fields read as missing (NaN), not as 0 (TextLoader's default).</summary>
    private static TextLoader.Options Csv(TextLoader.Column[] columns)
        => new() { Columns = columns, Separators = new[] { ',' }, HasHeader = true, MissingRealsAsNaNs = true };

    /// <summary>344 penguins: Species, Island, Sex (text), BeakLength, BeakDepth, FlipperLength, BodyMass (Single, NaN = missing).</summary>
    public static IDataView Penguins(MLContext ml, string dataDirectory)
        => ml.Data.LoadFromTextFile(Path.Combine(dataDirectory, "penguins.csv"), Csv(new[]
        {
            new TextLoader.Column("Species", DataKind.String, 0),
            new TextLoader.Column("Island", DataKind.String, 1),
            new TextLoader.Column("BeakLength", DataKind.Single, 2),
            new TextLoader.Column("BeakDepth", DataKind.Single, 3),
            new TextLoader.Column("FlipperLength", DataKind.Single, 4),
            new TextLoader.Column("BodyMass", DataKind.Single, 5),
            new TextLoader.Column("Sex", DataKind.String, 6),
        }));

    /// <summary>1,461 days of Seattle weather: Precipitation, TemperatureMax, TemperatureMin, Wind (Single), Weather (text, 5 kinds).</summary>
    public static IDataView SeattleWeather(MLContext ml, string dataDirectory)
        => ml.Data.LoadFromTextFile(Path.Combine(dataDirectory, "seattle-weather.csv"), Csv(new[]
        {
            new TextLoader.Column("Precipitation", DataKind.Single, 0),
            new TextLoader.Column("TemperatureMax", DataKind.Single, 1),
            new TextLoader.Column("TemperatureMin", DataKind.Single, 2),
            new TextLoader.Column("Wind", DataKind.Single, 3),
            new TextLoader.Column("Weather", DataKind.String, 4),
        }));

    /// <summary>The table's rows materialized in memory (so that splits and repeated reads are cheap and stable).</summary>
    public static IDataView Cache(MLContext ml, IDataView data) => ml.Data.Cache(data);
}

/// <summary>Machine-learning efficacy: train on one table, test on real held-out rows.</summary>
public sealed record EfficacyResult(double MicroAccuracy, double MacroAccuracy);

/// <summary>
/// Quality measures for synthetic tables: a numeric view of a table for <c>ml.Generative().Evaluate</c> (numbers as
/// they are, missing numbers replaced by the real training mean; each text, boolean or key column as its category
/// index), machine-learning efficacy with an ML.NET classifier, and exact copies of training rows.
/// </summary>
public static class TabularMetrics
{
    /// <summary>
    /// A featurizer fitted on <paramref name="real"/>: one Single slot per column (named like the column) in the vector
    /// column "Features". Numbers: as Single, NaN → the real mean; texts, booleans and keys: the index of the value
    /// among the real values in order of first appearance (−1 for a value the real rows never had).
    /// </summary>
    public static TableFeaturizer Featurizer(MLContext ml, IDataView real, IReadOnlyList<string>? exclude = null)
        => new(ml, real, exclude);

    /// <summary>
    /// Trains a multiclass classifier of <paramref name="label"/> (a text column) from every other column on
    /// <paramref name="train"/> and measures its accuracy on <paramref name="test"/> (real held-out rows). The
    /// featurizer and the label's classes come from <paramref name="realTrain"/>, so that a model trained on
    /// synthetic rows is judged on the same footing. Classifier: one-versus-all FastTree (50 trees, 10 leaves).
    /// </summary>
    public static EfficacyResult Efficacy(MLContext ml, IDataView train, IDataView test, IDataView realTrain, string label)
    {
        var features = Featurizer(ml, realTrain, new[] { label });
        var labels = ml.Transforms.Conversion.MapValueToKey("Label", label, keyData: ml.Transforms.SelectColumns(label).Fit(realTrain).Transform(realTrain))
            .Fit(realTrain);
        var trainer = ml.MulticlassClassification.Trainers.OneVersusAll(
            ml.BinaryClassification.Trainers.FastTree(numberOfLeaves: 10, numberOfTrees: 50, minimumExampleCountPerLeaf: 5));
        var prepared = labels.Transform(features.Transform(train, keep: label));
        var model = trainer.Fit(prepared);
        var scored = model.Transform(labels.Transform(features.Transform(test, keep: label)));
        var m = ml.MulticlassClassification.Evaluate(scored);
        return new EfficacyResult(m.MicroAccuracy, m.MacroAccuracy);
    }

    /// <summary>Rows of <paramref name="data"/> as text keys (every column, invariant culture), for exact-copy counts.</summary>
    public static List<string> RowKeys(IDataView data)
    {
        var keys = new List<string>();
        var columns = data.Schema.Where(c => !c.IsHidden).ToArray();
        using var cursor = data.GetRowCursor(columns);
        var getters = columns.Select(c => Getter(cursor, c)).ToArray();
        while (cursor.MoveNext())
            keys.Add(string.Join("\u001f", getters.Select(g => g())));
        return keys;
    }

    internal static Func<string> Getter(DataViewRow row, DataViewSchema.Column column)
    {
        Func<string> Make<T>(Func<T, string> show)
        {
            var get = row.GetGetter<T>(column);
            T value = default!;
            return () =>
            {
                get(ref value);
                return show(value);
            };
        }
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        return column.Type switch
        {
            TextDataViewType => Make<ReadOnlyMemory<char>>(v => v.ToString()),
            BooleanDataViewType => Make<bool>(v => v.ToString()),
            KeyDataViewType k when k.RawType == typeof(uint) => Make<uint>(v => v.ToString(inv)),
            _ when column.Type == NumberDataViewType.Single => Make<float>(v => v.ToString("R", inv)),
            _ when column.Type == NumberDataViewType.Double => Make<double>(v => v.ToString("R", inv)),
            _ when column.Type == NumberDataViewType.Int32 => Make<int>(v => v.ToString(inv)),
            _ when column.Type == NumberDataViewType.Int64 => Make<long>(v => v.ToString(inv)),
            _ when column.Type == NumberDataViewType.Byte => Make<byte>(v => v.ToString(inv)),
            _ => throw new NotSupportedException($"Column '{column.Name}' of type {column.Type} in an exact-copy count."),
        };
    }

    /// <summary>
    /// Shares of <paramref name="candidates"/> rows that are exact copies of a <paramref name="training"/> row (every
    /// column equal).
    /// </summary>
    public static double ExactCopyRate(IDataView training, IDataView candidates)
    {
        var set = RowKeys(training).ToHashSet();
        var rows = RowKeys(candidates);
        return rows.Count == 0 ? 0 : rows.Count(set.Contains) / (double)rows.Count;
    }

    /// <summary><c>ml.Generative().Evaluate</c> on the featurized tables (see <see cref="Featurizer"/>).</summary>
    public static GenerativeMetrics Evaluate(MLContext ml, TableFeaturizer featurizer, IDataView real, IDataView generated,
        IDataView? training = null, int seed = 1)
        => ml.Generative().Evaluate(featurizer.Transform(real), featurizer.Transform(generated), "Features",
            new GenerativeEvaluationOptions { Seed = seed, Training = training is null ? null : featurizer.Transform(training), StandardizeFeatures = true });
}

/// <summary>See <see cref="TabularMetrics.Featurizer"/>.</summary>
public sealed class TableFeaturizer
{
    private readonly MLContext _ml;
    private readonly string[] _names;
    private readonly double[] _means;
    private readonly Dictionary<string, int>?[] _categories;

    internal TableFeaturizer(MLContext ml, IDataView real, IReadOnlyList<string>? exclude)
    {
        _ml = ml;
        _names = real.Schema.Where(c => !c.IsHidden && (exclude is null || !exclude.Contains(c.Name))).Select(c => c.Name).ToArray();
        _means = new double[_names.Length];
        _categories = new Dictionary<string, int>?[_names.Length];
        var values = Read(real);
        for (int j = 0; j < _names.Length; j++)
        {
            if (IsNumber(real.Schema[_names[j]].Type))
            {
                var present = values.Select(r => double.Parse(r[j], CultureInfo.InvariantCulture)).Where(v => !double.IsNaN(v)).ToArray();
                _means[j] = present.Length == 0 ? 0 : present.Average();
            }
            else
            {
                var map = new Dictionary<string, int>();
                foreach (var r in values)
                    map.TryAdd(r[j], map.Count);
                _categories[j] = map;
            }
        }
    }

    private static bool IsNumber(DataViewType type) => type is NumberDataViewType;

    private List<string[]> Read(IDataView data)
    {
        var columns = _names.Select(n => data.Schema[n]).ToArray();
        var rows = new List<string[]>();
        using var cursor = data.GetRowCursor(columns);
        var getters = columns.Select(c => TabularMetrics.Getter(cursor, c)).ToArray();
        while (cursor.MoveNext())
            rows.Add(getters.Select(g => g()).ToArray());
        return rows;
    }

    /// <summary>The rows of <paramref name="data"/> as the "Features" vector (plus the text column <paramref name="keep"/>, if given).</summary>
    public IDataView Transform(IDataView data, string? keep = null)
    {
        var rows = Read(data);
        var keepValues = keep is null ? null : data.GetColumn<ReadOnlyMemory<char>>(keep).Select(v => v.ToString()).ToArray();
        var features = rows.Select(r => r.Select((v, j) => _categories[j] is { } map
            ? (float)(map.TryGetValue(v, out int i) ? i : -1)
            : (float)(double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double x) && !double.IsNaN(x) ? x : _means[j])).ToArray()).ToArray();
        var definition = SchemaDefinition.Create(typeof(FeatureRow));
        definition["Features"].ColumnType = new VectorDataViewType(NumberDataViewType.Single, _names.Length);
        var names = new VBuffer<ReadOnlyMemory<char>>(_names.Length, _names.Select(n => n.AsMemory()).ToArray());
        definition["Features"].AddAnnotation("SlotNames", names, new VectorDataViewType(TextDataViewType.Instance, _names.Length));
        if (keep is not null)
            definition["Label"].ColumnName = keep;
        return _ml.Data.LoadFromEnumerable(features.Select((f, i) => new FeatureRow { Features = f, Label = keepValues?[i] ?? "" }), definition);
    }

    private sealed class FeatureRow
    {
        public float[] Features { get; set; } = Array.Empty<float>();
        public string Label { get; set; } = "";
    }
}
