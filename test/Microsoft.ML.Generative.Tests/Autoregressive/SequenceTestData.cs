using System;
using System.Linq;

namespace Microsoft.ML.Generative.Tests.Autoregressive;

/// <summary>A row with one text column.</summary>
public sealed class TextRow
{
    public string? Text { get; set; }
}

/// <summary>The scores of a row.</summary>
public sealed class SequenceScore
{
    public float LogLikelihood { get; set; }
    public float TokenCount { get; set; }
    public float Perplexity { get; set; }
}

/// <summary>Sequences made in code; nothing is downloaded.</summary>
public static class SequenceTestData
{
    /// <summary>
    /// Two deterministic patterns of 10 characters, equally often: the only uncertainty is the first character
    /// (log 2 nats over 11 targets: a perfect model has a mean NLL of 0.063 nats per token).
    /// </summary>
    public static TextRow[] TwoPatterns(int rows)
        => Enumerable.Range(0, rows).Select(i => new TextRow { Text = i % 2 == 0 ? "abcabcabca" : "xyzxyzxyzx" }).ToArray();

    /// <summary>Name-like strings from syllables (lowercase letters), seeded.</summary>
    public static TextRow[] Names(int rows, int seed = 0)
    {
        var random = new Random(seed);
        string[] syllables = { "ma", "ri", "an", "na", "el", "jo", "se", "li", "ka", "to", "ra", "ne" };
        return Enumerable.Range(0, rows).Select(_ =>
            new TextRow { Text = string.Concat(Enumerable.Range(0, 1 + random.Next(3)).Select(_ => syllables[random.Next(syllables.Length)])) }).ToArray();
    }
}
