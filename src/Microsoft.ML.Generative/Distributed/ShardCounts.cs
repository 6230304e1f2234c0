using System;
using System.Collections.Generic;
using System.IO;
using System.Text;

namespace Microsoft.ML.Generative.Distributed;

/// <summary>
/// Sharded data-parallel training: token counts of every rank's shard added up, so that a vocabulary learned in
/// <c>Fit</c> is the one a single process would learn from all shards (and the same model on every rank). Every rank
/// must call the same overload at the same point; the merged counts are built in rank order, identically everywhere.
/// </summary>
internal static class ShardCounts
{
    /// <summary>Per-character counts: one all-reduce.</summary>
    public static void Merge(Communicator comm, long[] counts) => comm.AllReduce(counts.AsSpan());

    /// <summary>Per-key counts: every rank's pairs gathered and added.</summary>
    public static void Merge(Communicator comm, Dictionary<ulong, long> counts)
    {
        foreach (var reader in Gather(comm, w =>
        {
            w.Write(counts.Count);
            foreach (var (key, n) in counts) { w.Write(key); w.Write(n); }
        }))
        {
            int entries = reader.ReadInt32();
            for (int i = 0; i < entries; i++)
            {
                ulong key = reader.ReadUInt64();
                long n = reader.ReadInt64();
                counts[key] = counts.GetValueOrDefault(key) + n;
            }
        }
    }

    /// <summary>Per-word counts: every rank's pairs gathered and added.</summary>
    public static void Merge(Communicator comm, Dictionary<string, long> counts)
    {
        foreach (var reader in Gather(comm, w =>
        {
            w.Write(counts.Count);
            foreach (var (word, n) in counts) { w.Write(word); w.Write(n); }
        }))
        {
            int entries = reader.ReadInt32();
            for (int i = 0; i < entries; i++)
            {
                string word = reader.ReadString();
                long n = reader.ReadInt64();
                counts[word] = counts.GetValueOrDefault(word) + n;
            }
        }
    }

    /// <summary>Every rank's serialized counts, in rank order, except this rank's own (already counted).</summary>
    private static IEnumerable<BinaryReader> Gather(Communicator comm, Action<BinaryWriter> write)
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
            write(writer);
        byte[] mine = stream.ToArray();
        var all = new List<BinaryReader>();
        for (int owner = 0; owner < comm.Size; owner++)
        {
            long length = owner == comm.Rank ? mine.Length : 0;
            comm.Broadcast(new Span<long>(ref length), owner);
            byte[] bytes = owner == comm.Rank ? mine : new byte[length];
            comm.Broadcast(bytes, owner);
            if (owner != comm.Rank)
                all.Add(new BinaryReader(new MemoryStream(bytes), Encoding.UTF8));
        }
        return all;
    }
}
