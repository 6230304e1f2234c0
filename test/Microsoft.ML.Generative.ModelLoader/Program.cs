// Usage: ModelLoader <model.zip> <input.txt> <output.txt> [columns | text]
// input.txt: one row per line, space-separated floats (the "Features" vector). The model is loaded with a fresh
// MLContext and no registration call; output.txt gets each row's float outputs, written with round-trip precision so
// that the caller can compare bits. [columns]: comma-separated output columns, each a float scalar or float vector,
// written in that order (default "Score,Latent", the VAE's). The special column "@Sample:N:SEED" writes N rows of
// the last transformer's Sample(N, SEED) instead (for generative transformers that have it). With "text", input.txt
// holds one string per line (the "Text" column) and output.txt gets each row's LogLikelihood, TokenCount, Perplexity.
// "@Tabular:N:SEED[:Column=Value]" writes N rows of a tabular synthesizer's Sample(N, SEED) (or its conditional
// Sample with that one text condition) as tab-separated text with a header (ML.NET's SaveAsText; input.txt unused).
// Conditional models: a fifth argument "key:NAME:K" makes the first value of each input line the value of a key column
// NAME of K values as an in-memory class holds it (0 … K − 1, ML.NET's raw keys 1 … K), the rest the features;
// "@Sample:N:SEED:KEY" draws Sample(N, (uint)KEY, SEED), KEY a raw key (1 … K).
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;

var ml = new MLContext(seed: 123);
var model = ml.Model.Load(args[0], out _);
if (args.Length > 3 && args[3] == "text")
{
    var texts = ml.Data.LoadFromEnumerable(File.ReadAllLines(args[1]).Select(t => new TextRow { Text = t }));
    var scoredText = model.Transform(texts);
    var ll = scoredText.GetColumn<float>("LogLikelihood").ToArray();
    var tc = scoredText.GetColumn<float>("TokenCount").ToArray();
    var ppl = scoredText.GetColumn<float>("Perplexity").ToArray();
    File.WriteAllLines(args[2], ll.Select((v, i) =>
        string.Join(" ", new[] { v, tc[i], ppl[i] }.Select(x => x.ToString("R", CultureInfo.InvariantCulture)))));
    return 0;
}
if (args.Length > 3 && args[3].StartsWith("@Tabular:", StringComparison.Ordinal))
{
    var parts = args[3].Split(':');
    var last = model is TransformerChain<ITransformer> chain ? chain.LastTransformer : model;
    var sample = parts.Length > 3
        ? SampleMethod.Invoke(last, new[] { typeof(int), typeof(IDictionary<string, object>), typeof(int) },
            new object?[] { int.Parse(parts[1]), new Dictionary<string, object> { [parts[3].Split('=')[0]] = parts[3].Split('=')[1] }, int.Parse(parts[2]) })
        : SampleMethod.Invoke(last, new[] { typeof(int), typeof(int) }, new object?[] { int.Parse(parts[1]), int.Parse(parts[2]) });
    using var stream = File.Create(args[2]);
    ml.Data.SaveAsText(sample, stream, separatorChar: '\t', headerRow: true, schema: false);
    return 0;
}
var columns = (args.Length > 3 ? args[3] : "Score,Latent").Split(',');
if (columns[0].StartsWith("@Sample:", StringComparison.Ordinal))
{
    var parts = columns[0].Split(':');
    var last = model is TransformerChain<ITransformer> chain ? chain.LastTransformer : model;
    var sample = parts.Length > 3
        ? SampleMethod.Invoke(last, new[] { typeof(int), typeof(object), typeof(int?) }, new object?[] { int.Parse(parts[1]), uint.Parse(parts[3]), (int?)int.Parse(parts[2]) })
        : SampleMethod.Invoke(last, new[] { typeof(int), typeof(int) }, new object?[] { int.Parse(parts[1]), int.Parse(parts[2]) });
    File.WriteAllLines(args[2], sample.GetColumn<float[]>("Features")
        .Select(r => string.Join(" ", r.Select(v => v.ToString("R", CultureInfo.InvariantCulture)))));
    return 0;
}
var rows = File.ReadAllLines(args[1])
    .Select(line => line.Split(' ').Select(v => float.Parse(v, CultureInfo.InvariantCulture)).ToArray())
    .ToArray();
IDataView data;
if (args.Length > 4 && args[4].StartsWith("key:", StringComparison.Ordinal))
{
    var key = args[4].Split(':');
    var definition = SchemaDefinition.Create(typeof(ConditionalInputRow));
    definition[0].ColumnType = new VectorDataViewType(NumberDataViewType.Single, rows[0].Length - 1);
    definition[1].ColumnName = key[1];
    definition[1].ColumnType = new KeyDataViewType(typeof(uint), ulong.Parse(key[2]));
    data = ml.Data.LoadFromEnumerable(rows.Select(r => new ConditionalInputRow { Features = r[1..], Condition = (uint)r[0] }), definition);
}
else
{
    int dim = rows[0].Length;
    var schemaDefinition = SchemaDefinition.Create(typeof(InputRow));
    schemaDefinition[0].ColumnType = new VectorDataViewType(NumberDataViewType.Single, dim);
    data = ml.Data.LoadFromEnumerable(rows.Select(r => new InputRow { Features = r }), schemaDefinition);
}
var scored = model.Transform(data);
var values = new List<float[][]>();
foreach (var name in columns)
{
    values.Add(scored.Schema[name].Type is VectorDataViewType
        ? scored.GetColumn<float[]>(name).ToArray()
        : scored.GetColumn<float>(name).Select(v => new[] { v }).ToArray());
}
File.WriteAllLines(args[2], Enumerable.Range(0, rows.Length).Select(i =>
    string.Join(" ", values.SelectMany(c => c[i]).Select(v => v.ToString("R", CultureInfo.InvariantCulture)))));
return 0;

public sealed class InputRow
{
    public float[] Features { get; set; } = Array.Empty<float>();
}

public sealed class ConditionalInputRow
{
    public float[] Features { get; set; } = Array.Empty<float>();

    public uint Condition { get; set; }
}

public sealed class TextRow
{
    public string Text { get; set; } = "";
}

internal static class SampleMethod
{
    /// <summary>Calls Sample(…) whose leading parameters are these types and whose other ones are optional (left at their defaults).</summary>
    public static IDataView Invoke(object model, Type[] leading, object?[] arguments)
    {
        var method = model.GetType().GetMethods().Single(m => m.Name == "Sample"
            && m.GetParameters().Length >= leading.Length
            && m.GetParameters().Take(leading.Length).Select(p => p.ParameterType).SequenceEqual(leading)
            && m.GetParameters().Skip(leading.Length).All(p => p.HasDefaultValue));
        var all = arguments.Concat(method.GetParameters().Skip(leading.Length).Select(_ => Type.Missing)).ToArray();
        return (IDataView)method.Invoke(model, all)!;
    }
}
