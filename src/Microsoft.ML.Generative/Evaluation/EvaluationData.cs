using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Generative.Evaluation;

/// <summary>Reads the evaluation's rows from an IDataView: schema checks, finiteness, seeded reservoir subsample.</summary>
internal static class EvaluationData
{
    /// <summary>
    /// Reads <paramref name="featureColumn"/> (and, when <paramref name="embeddingColumn"/> is given, that column of
    /// the same rows) into memory, keeping a uniform sample of at most <paramref name="cap"/> rows (reservoir
    /// sampling, Vitter's algorithm R, seeded; all rows in order when there are fewer).
    /// </summary>
    public static (RowMatrix Features, RowMatrix? Embedding, long RowsSeen) Read(IHost host, IDataView data,
        string featureColumn, string? embeddingColumn, string role, int cap, Random random)
    {
        int width = FeatureColumn.Check(host, data.Schema, featureColumn, out int featureIndex);
        int embeddingWidth = 0, embeddingIndex = -1;
        if (embeddingColumn is not null)
            embeddingWidth = FeatureColumn.Check(host, data.Schema, embeddingColumn, out embeddingIndex);

        var columns = new List<DataViewSchema.Column> { data.Schema[featureIndex] };
        if (embeddingIndex >= 0 && embeddingIndex != featureIndex)
            columns.Add(data.Schema[embeddingIndex]);
        using var cursor = data.GetRowCursor(columns);
        var getFeatures = cursor.GetGetter<VBuffer<float>>(data.Schema[featureIndex]);
        var getEmbedding = embeddingIndex >= 0 ? cursor.GetGetter<VBuffer<float>>(data.Schema[embeddingIndex]) : null;

        var features = new List<float[]>();
        var embeddings = new List<float[]>();
        VBuffer<float> buffer = default;
        long row = 0;
        while (cursor.MoveNext())
        {
            if ((row & 1023) == 0)
                host.CheckAlive();
            // Algorithm R: row t (0-based) replaces a random kept row with probability cap / (t + 1).
            int slot = row < cap ? (int)row : (int)NextLong(random, row + 1);
            if (slot < cap)
            {
                var f = ReadVector(getFeatures, ref buffer, width, role, featureColumn, row);
                var e = getEmbedding is null ? null : ReadVector(getEmbedding, ref buffer, embeddingWidth, role, embeddingColumn!, row);
                if (row < cap)
                {
                    features.Add(f);
                    if (e is not null) embeddings.Add(e);
                }
                else
                {
                    features[slot] = f;
                    if (e is not null) embeddings[slot] = e;
                }
            }
            else
            {
                // Not kept, but still checked: a NaN anywhere is an error whatever the sample.
                ReadVector(getFeatures, ref buffer, width, role, featureColumn, row);
                if (getEmbedding is not null)
                    ReadVector(getEmbedding, ref buffer, embeddingWidth, role, embeddingColumn!, row);
            }
            row++;
        }
        return (Stack(features, width), getEmbedding is null ? null : Stack(embeddings, embeddingWidth), row);
    }

    /// <summary>
    /// The column of <paramref name="embedding"/>'s output to use: <paramref name="name"/> when given, else the one
    /// new known-size <see cref="float"/> vector column. Errors say what the transformer produced and what to do.
    /// </summary>
    public static string ResolveEmbeddingColumn(ITransformer embedding, DataViewSchema input, string? name)
    {
        var output = embedding.GetOutputSchema(input);
        if (name is not null)
        {
            var column = output.GetColumnOrNull(name)
                ?? throw new ArgumentException(
                    $"The Embedding transformer's output has no column '{name}' (EmbeddingColumnName). Its columns: {Describe(output.Where(c => !c.IsHidden))}.",
                    nameof(GenerativeEvaluationOptions.EmbeddingColumnName));
            if (!IsKnownSizeFloatVector(column.Type))
                throw new ArgumentException(
                    $"The Embedding column '{name}' is {column.Type}; an embedding must be a known-size vector of Single (for example a VAE's 'Latent').",
                    nameof(GenerativeEvaluationOptions.EmbeddingColumnName));
            return name;
        }
        var added = output.Where(c => !c.IsHidden && input.GetColumnOrNull(c.Name) is null).ToList();
        var candidates = added.Where(c => IsKnownSizeFloatVector(c.Type)).ToList();
        if (candidates.Count == 1)
            return candidates[0].Name;
        if (candidates.Count == 0)
            throw new ArgumentException(
                "The Embedding transformer does not output a known-size vector of Single: " +
                (added.Count == 0 ? "it adds no column." : $"it adds {Describe(added)}.") +
                " Pass a transformer that produces one (a VAE's 'Latent', a network's hidden layer as a fixed-size vector), " +
                "or set EmbeddingColumnName to such a column.", nameof(GenerativeEvaluationOptions.Embedding));
        throw new ArgumentException(
            $"The Embedding transformer adds several vector columns ({Describe(candidates)}); set EmbeddingColumnName to the one to use.",
            nameof(GenerativeEvaluationOptions.EmbeddingColumnName));
    }

    /// <summary>Names of the feature slots (the column's SlotNames annotation), or "slot j".</summary>
    public static string[] SlotNames(IDataView data, string column, int width)
    {
        var names = Enumerable.Range(0, width).Select(j => $"slot {j}").ToArray();
        var col = data.Schema[column];
        if (col.HasSlotNames(width))
        {
            VBuffer<ReadOnlyMemory<char>> buffer = default;
            col.GetSlotNames(ref buffer);
            foreach (var (index, value) in buffer.Items())
                if (!value.IsEmpty)
                    names[index] = value.ToString();
        }
        return names;
    }

    private static bool IsKnownSizeFloatVector(DataViewType type)
        => type is VectorDataViewType v && v.IsKnownSize && v.ItemType == NumberDataViewType.Single;

    private static string Describe(IEnumerable<DataViewSchema.Column> columns)
        => string.Join(", ", columns.Select(c => $"'{c.Name}' ({c.Type})"));

    private static float[] ReadVector(ValueGetter<VBuffer<float>> getter, ref VBuffer<float> buffer, int width,
        string role, string column, long row)
    {
        getter(ref buffer);
        if (buffer.Length != width)
            throw new ArgumentException($"{role} column '{column}' row {row} has {buffer.Length} values; the schema says {width}.", role);
        var values = new float[width];
        buffer.CopyTo(values);
        int bad = FeatureRowReader.IndexOfNonFinite(values);
        if (bad >= 0)
            throw new ArgumentException(
                $"{role} column '{column}' has a non-finite value ({values[bad].ToString(CultureInfo.InvariantCulture)}) at row {row} (0-based), slot {bad}. " +
                "The metrics need finite values: remove such rows (mlContext.Data.FilterRowsByMissingValues) or impute them " +
                "(mlContext.Transforms.ReplaceMissingValues) first.", role);
        return values;
    }

    private static RowMatrix Stack(List<float[]> rows, int width)
    {
        var values = new float[(long)rows.Count * width];
        for (int i = 0; i < rows.Count; i++)
            Array.Copy(rows[i], 0, values, (long)i * width, width);
        return new RowMatrix(values, rows.Count, width);
    }

    private static long NextLong(Random random, long exclusiveMax) => random.NextInt64(exclusiveMax);
}
