using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Tabular;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Generative.Tests.Tabular;

/// <summary>A row of every scalar type the synthesizer models.</summary>
public sealed class MixedRow
{
    public float Real { get; set; }
    public double Wide { get; set; }
    public int Count { get; set; }
    public byte Small { get; set; }
    public bool Flag { get; set; }
    public string Color { get; set; } = "";
}

public sealed class DateRow
{
    public float X { get; set; }
    public DateTime When { get; set; }
}

public sealed class VectorRow
{
    public float X { get; set; }

    [VectorType(3)]
    public float[] V { get; set; } = Array.Empty<float>();
}

public sealed class NumberRow
{
    public float X { get; set; }
    public string C { get; set; } = "";
}

/// <summary>Small tables for the tabular synthesizer's tests; the penguins come from the bundled CSV.</summary>
internal static class TabularTestData
{
    /// <summary>A header line, commas, and empty number fields read as missing (NaN), not as 0 (TextLoader's default).</summary>
    private static TextLoader.Options Csv(TextLoader.Column[] columns)
        => new() { Columns = columns, Separators = new[] { ',' }, HasHeader = true, MissingRealsAsNaNs = true };

    /// <summary>The 344 bundled penguins (examples/data/penguins.csv, copied next to the tests).</summary>
    public static IDataView Penguins(MLContext ml)
        => ml.Data.LoadFromTextFile(Path.Combine(AppContext.BaseDirectory, "data", "penguins.csv"), Csv(new[]
        {
            new TextLoader.Column("Species", DataKind.String, 0),
            new TextLoader.Column("Island", DataKind.String, 1),
            new TextLoader.Column("BeakLength", DataKind.Single, 2),
            new TextLoader.Column("BeakDepth", DataKind.Single, 3),
            new TextLoader.Column("FlipperLength", DataKind.Single, 4),
            new TextLoader.Column("BodyMass", DataKind.Single, 5),
            new TextLoader.Column("Sex", DataKind.String, 6),
        }));

    /// <summary>
    /// Mixed types: Real is bimodal (−5 or +5, σ 0.5) and correlated with Color; Count is a whole number in [0, 20];
    /// Flag is true 30% of the time.
    /// </summary>
    public static MixedRow[] Mixed(int rows, int seed = 0)
    {
        var random = new Random(seed);
        string[] colors = { "red", "green", "blue" };
        return Enumerable.Range(0, rows).Select(_ =>
        {
            bool high = random.NextDouble() < 0.5;
            return new MixedRow
            {
                Real = (float)((high ? 5 : -5) + 0.5 * Gauss(random)),
                Wide = 1000 + 100 * Gauss(random),
                Count = random.Next(21),
                Small = (byte)random.Next(3, 9),
                Flag = random.NextDouble() < 0.3,
                Color = high ? colors[random.Next(2)] : colors[2],
            };
        }).ToArray();
    }

    public static double Gauss(Random random)
        => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    /// <summary>Small, fast settings with real training.</summary>
    public static TabularSynthesizerOptions Small(int epochs = 40) => new()
    {
        NumberOfEpochs = epochs,
        MinimumTrainingSteps = 0,
        BatchSize = 128,
        LatentDimension = 8,
        HiddenLayerSizes = new[] { 64 },
        LearningRate = 3e-3,
    };

    /// <summary>Small, fast settings with real training, for either model (CTGAN: batch 100 = 10 packs of 10, a small critic).</summary>
    public static TabularSynthesizerOptions Small(int epochs, TabularModel model)
    {
        var options = Small(epochs);
        options.Model = model;
        if (model == TabularModel.Ctgan)
        {
            options.BatchSize = 100;
            options.LatentDimension = 16;
            options.DiscriminatorHiddenLayerSizes = new[] { 64 };
            options.LearningRate = 1e-3;
        }
        return options;
    }

    /// <summary>A data view as tab-separated text, for bit-exact comparisons.</summary>
    public static string AsText(MLContext ml, IDataView data)
    {
        using var stream = new MemoryStream();
        ml.Data.SaveAsText(data, stream, separatorChar: '\t', headerRow: true, schema: false);
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>
    /// Saves a penguin synthesizer, reloads it in this process (fresh context) and in a new process (the model
    /// loader, plain and Species = Gentoo samples): every reload samples the same rows; a damaged network then fails
    /// with the library's checksum message. <paramref name="checkReloaded"/> adds checks of the in-process reload.
    /// </summary>
    public static void SaveAndReloadAreIdentical(MLContext ml, TabularSynthesizerTransformer model, IDataView penguins,
        Action<TabularSynthesizerTransformer>? checkReloaded = null)
    {
        string Temp(string name) => Path.Combine(Path.GetTempPath(), $"tabular-{Guid.NewGuid():N}-{name}");
        string zip = Temp("synth.zip"), output = Temp("sample.txt"), conditional = Temp("gentoo.txt");
        try
        {
            ml.Model.Save(model, penguins.Schema, zip);
            var loaded = (TabularSynthesizerTransformer)new MLContext(seed: 5).Model.Load(zip, out var schema);
            Assert.AreEqual(penguins.Schema.Count, schema.Count);
            Assert.AreEqual(AsText(ml, model.Sample(64, seed: 2)), AsText(ml, loaded.Sample(64, seed: 2)));
            checkReloaded?.Invoke(loaded);
            loaded.Dispose();

            string loader = typeof(TabularTestData).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
                .Single(a => a.Key == "ModelLoaderPath").Value!;
            ModelFiles.RunLoader(loader, zip, "unused", output, "@Tabular:64:2");
            ModelFiles.RunLoader(loader, zip, "unused", conditional, "@Tabular:32:3:Species=Gentoo");
            Assert.AreEqual(AsText(ml, model.Sample(64, seed: 2)), File.ReadAllText(output));
            Assert.AreEqual(AsText(ml, model.Sample(32, new Dictionary<string, object> { ["Species"] = "Gentoo" }, seed: 3)),
                File.ReadAllText(conditional));

            // A damaged network fails with the library's own message.
            ModelFiles.DamageWeights(zip);
            var e = Assert.ThrowsExactly<InvalidDataException>(() => ml.Generative().LoadModel(zip, out _));
            StringAssert.Contains(e.Message, "checksum");
        }
        finally
        {
            foreach (var f in new[] { zip, output, conditional })
                File.Delete(f);
        }
    }
}
