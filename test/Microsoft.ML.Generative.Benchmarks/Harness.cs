using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text.Json;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Benchmarks;

/// <summary>One measured figure over repeats: min / median / max.</summary>
public sealed record Figure(string Name, string Unit, double Min, double Median, double Max, int Repeats, string? Target = null)
{
    public static Figure Of(string name, string unit, IReadOnlyList<double> values, string? target = null)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        return new Figure(name, unit, sorted[0], sorted[sorted.Length / 2], sorted[^1], sorted.Length, target);
    }
}

/// <summary>Collects figures of one suite, prints a table and writes artifacts/bench/&lt;suite&gt;.json.</summary>
public sealed class Report(string suite)
{
    private readonly List<Figure> _figures = new();
    private readonly Dictionary<string, object> _notes = new();

    public Figure Add(Figure f)
    {
        _figures.Add(f);
        Console.WriteLine($"  {f.Name,-58} {Fmt(f.Median),12} {f.Unit,-10} (min {Fmt(f.Min)}, max {Fmt(f.Max)}, n={f.Repeats}){(f.Target is null ? "" : "  target " + f.Target)}");
        return f;
    }

    public void Note(string key, object value) => _notes[key] = value;

    private static string Fmt(double v) => Math.Abs(v) >= 100 ? v.ToString("F0") : Math.Abs(v) >= 1 ? v.ToString("F2") : v.ToString("G3");

    public void Write(string root)
    {
        var dir = Path.Combine(root, "artifacts", "bench");
        Directory.CreateDirectory(dir);
        var doc = new
        {
            suite,
            timestampUtc = DateTime.UtcNow.ToString("O"),
            machine = new
            {
                os = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
                cpu = CpuModel(),
                logicalCores = Environment.ProcessorCount,
                torchThreads = get_num_threads(),
                dotnet = Environment.Version.ToString(),
                torchSharp = InformationalVersion(typeof(TorchSharp.torch)),
                mlnet = InformationalVersion(typeof(Microsoft.ML.MLContext)),
                library = InformationalVersion(typeof(Microsoft.ML.Generative.GenerativeCatalog)),
            },
            figures = _figures,
            notes = _notes,
        };
        var path = Path.Combine(dir, suite + ".json");
        File.WriteAllText(path, JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true }));
        Console.WriteLine($"  -> {path}");
    }

    private static string? InformationalVersion(Type type)
        => type.Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            is [System.Reflection.AssemblyInformationalVersionAttribute a, ..] ? a.InformationalVersion.Split('+')[0] : type.Assembly.GetName().Version?.ToString();

    private static string CpuModel()
    {
        try
        {
            return File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name"))?.Split(':', 2)[1].Trim() ?? "unknown";
        }
        catch (IOException)
        {
            return "unknown";
        }
    }
}

public static class Measure
{
    public static double Seconds(Action action)
    {
        var clock = Stopwatch.StartNew();
        action();
        return clock.Elapsed.TotalSeconds;
    }

    /// <summary>Resident set size now and its peak so far (VmRSS / VmHWM), in MiB.</summary>
    public static (double Rss, double Peak) MemoryMiB()
    {
        double rss = double.NaN, peak = double.NaN;
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("VmRSS:")) rss = ParseKb(line) / 1024;
            else if (line.StartsWith("VmHWM:")) peak = ParseKb(line) / 1024;
        }
        return (rss, peak);
    }

    private static double ParseKb(string line) => double.Parse(line.Split(':')[1].Trim().Split(' ')[0]);
}
