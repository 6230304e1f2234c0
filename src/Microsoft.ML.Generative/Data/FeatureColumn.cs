using System;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Generative.Data;

/// <summary>
/// Schema checks for the one input shape every family consumes: a known-size vector of <see cref="float"/>.
/// The errors name the role, the column and both types, and say what to do.
/// </summary>
internal static class FeatureColumn
{
    private const string Advice =
        "Concatenate numeric columns into one vector (mlContext.Transforms.Concatenate) and convert them to Single "
        + "(mlContext.Transforms.Conversion.ConvertType) first.";

    /// <summary>Checks a runtime schema and returns the column's index and vector size.</summary>
    public static int Check(IExceptionContext ectx, DataViewSchema schema, string columnName, out int columnIndex)
    {
        ectx.CheckValue(schema, nameof(schema));
        var column = schema.GetColumnOrNull(columnName);
        if (column is null)
            throw ectx.ExceptUserArg(nameof(columnName),
                $"Feature column '{columnName}' was not found in the input. Columns present: {Describe(schema)}.");
        var type = column.Value.Type;
        if (type is not VectorDataViewType vector || vector.ItemType != NumberDataViewType.Single)
            throw Mismatch(ectx, nameof(schema), columnName, type.ToString(), Advice);
        if (!vector.IsKnownSize)
            throw Mismatch(ectx, nameof(schema), columnName, type.ToString(),
                "The vector's size must be known from the schema: give it in the column's attribute ([VectorType(n)]) "
                + "or in the loader's column definition.");
        columnIndex = column.Value.Index;
        return vector.Size;
    }

    /// <summary>Checks an estimator's input shape (sizes are unknown at this stage).</summary>
    public static void Check(IExceptionContext ectx, SchemaShape inputSchema, string columnName)
    {
        if (!inputSchema.TryFindColumn(columnName, out var column))
            throw ectx.ExceptSchemaMismatch(nameof(inputSchema), "feature", columnName);
        if (column.Kind != SchemaShape.Column.VectorKind.Vector || column.ItemType != NumberDataViewType.Single)
            throw Mismatch(ectx, nameof(inputSchema), columnName, column.GetTypeString(), Advice);
    }

    private static string Describe(DataViewSchema schema)
    {
        var names = new string[Math.Min(schema.Count, 12)];
        for (int i = 0; i < names.Length; i++)
            names[i] = $"'{schema[i].Name}' ({schema[i].Type})";
        return string.Join(", ", names) + (schema.Count > names.Length ? ", ..." : "");
    }

    private static Exception Mismatch(IExceptionContext ectx, string paramName, string columnName, string? actual, string advice)
        => ectx.ExceptParam(paramName,
            $"Schema mismatch for feature column '{columnName}': expected known-size vector of Single, got {actual}. {advice}");
}
