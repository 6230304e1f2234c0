using System;
using System.Diagnostics;
using System.IO;
using System.IO.Compression;
using System.Linq;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Generative.Tests;

/// <summary>What every family's save/load tests share: the new-process loader and a damaged weights entry.</summary>
internal static class ModelFiles
{
    /// <summary>Runs <c>dotnet</c> with <paramref name="arguments"/> (the ModelLoader and its arguments) and asserts a clean exit.</summary>
    public static void RunLoader(params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in arguments)
            start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        string stderr = process.StandardError.ReadToEnd();
        process.StandardOutput.ReadToEnd();
        Assert.IsTrue(process.WaitForExit(120_000), "the loader process hung");
        Assert.AreEqual(0, process.ExitCode, stderr);
    }

    /// <summary>Flips one byte in the middle of the model's TorchWeights entry (the zip itself stays valid).</summary>
    public static void DamageWeights(string path)
    {
        using var zip = ZipFile.Open(path, ZipArchiveMode.Update);
        var entry = zip.Entries.Single(e => e.FullName.EndsWith("TorchWeights", StringComparison.Ordinal));
        byte[] bytes;
        using (var s = entry.Open())
        using (var copy = new MemoryStream())
        {
            s.CopyTo(copy);
            bytes = copy.ToArray();
        }
        bytes[bytes.Length / 2] ^= 0xFF;
        string name = entry.FullName;
        entry.Delete();
        using var w = zip.CreateEntry(name).Open();
        w.Write(bytes);
    }
}
