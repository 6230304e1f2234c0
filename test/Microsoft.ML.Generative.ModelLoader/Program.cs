// Usage: ModelLoader <model.zip> <input.txt> <output.txt> [text]
// input.txt: one row per line, space-separated floats (the "Features" vector); with "text", one string per line (the
// "Text" column), and output.txt gets each row's LogLikelihood, TokenCount and Perplexity. The model is loaded with a fresh
// MLContext and no registration call; output.txt gets each row's float outputs ("Score" and every float of
// "Latent"), written with round-trip precision so that the caller can compare bits.
using System;
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
var rows = File.ReadAllLines(args[1])
    .Select(line => line.Split(' ').Select(v => float.Parse(v, CultureInfo.InvariantCulture)).ToArray())
    .ToArray();
int dim = rows[0].Length;
var schemaDefinition = SchemaDefinition.Create(typeof(InputRow));
schemaDefinition[0].ColumnType = new VectorDataViewType(NumberDataViewType.Single, dim);
var data = ml.Data.LoadFromEnumerable(rows.Select(r => new InputRow { Features = r }), schemaDefinition);
var scored = model.Transform(data);
var scores = scored.GetColumn<float>("Score").ToArray();
var latents = scored.GetColumn<float[]>("Latent").ToArray();
File.WriteAllLines(args[2], scores.Select((s, i) =>
    string.Join(" ", new[] { s }.Concat(latents[i]).Select(v => v.ToString("R", CultureInfo.InvariantCulture)))));
return 0;

public sealed class InputRow
{
    public float[] Features { get; set; } = Array.Empty<float>();
}

public sealed class TextRow
{
    public string Text { get; set; } = "";
}
