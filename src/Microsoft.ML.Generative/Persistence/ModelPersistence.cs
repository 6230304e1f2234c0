using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using Microsoft.ML.Generative.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Persistence;

/// <summary>
/// The one way every family puts its state into an ML.NET model .zip: scalars through the model's binary writer
/// (each transformer documents its own field order), and the TorchSharp weights as a separate binary entry
/// with a length and a SHA-256 checksum, so that a truncated or altered file fails with a clear
/// <see cref="InvalidDataException"/> before any weight reaches native code.
/// </summary>
internal static class ModelPersistence
{
    public const string WeightsEntryName = "TorchWeights";

    // Weights entry format:
    //   int32  format version (1)
    //   int64  payload length in bytes
    //   bytes  payload: TorchSharp's Module.save stream
    //   32 B   SHA-256 of the payload
    private const int WeightsFormatVersion = 1;

    public static void SaveWeights(ModelSaveContext ctx, nn.Module module)
    {
        byte[] payload;
        using (var buffer = new MemoryStream())
        {
            using (var writer = new BinaryWriter(buffer, System.Text.Encoding.UTF8, leaveOpen: true))
                module.save(writer);
            payload = buffer.ToArray();
        }
        ctx.SaveBinaryStream(WeightsEntryName, w =>
        {
            w.Write(WeightsFormatVersion);
            w.Write((long)payload.Length);
            w.Write(payload);
            w.Write(SHA256.HashData(payload));
        });
    }

    /// <summary>
    /// Reads and verifies (length, SHA-256) the weights saved by <see cref="SaveWeights"/>. Call it before building
    /// the network, and check the payload against the architecture's size, so that a damaged file never asks
    /// native code for an absurd allocation.
    /// </summary>
    public static byte[] ReadWeights(ModelLoadContext ctx, string modelName)
    {
        byte[]? payload = null;
        bool found;
        try
        {
            found = ctx.TryLoadBinaryStream(WeightsEntryName, r =>
            {
                int version = r.ReadInt32();
                if (version != WeightsFormatVersion)
                    throw Corrupt(modelName, $"unknown weights format version {version} (this library reads {WeightsFormatVersion})");
                long length = r.ReadInt64();
                if (length < 0 || length > int.MaxValue)
                    throw Corrupt(modelName, $"impossible weights length {length}");
                payload = r.ReadBytes((int)length);
                if (payload.Length != length)
                    throw Corrupt(modelName, $"the weights are truncated ({payload.Length} of {length} bytes)");
                byte[] hash = r.ReadBytes(32);
                if (hash.Length != 32 || !hash.AsSpan().SequenceEqual(SHA256.HashData(payload)))
                    throw Corrupt(modelName, "the weights' checksum does not match: the file was altered or damaged");
            });
        }
        catch (InvalidDataException)
        {
            throw;
        }
        catch (EndOfStreamException e)
        {
            throw Corrupt(modelName, "the weights entry ends early", e);
        }
        if (!found || payload is null)
            throw Corrupt(modelName, $"the '{WeightsEntryName}' entry is missing");
        return payload;
    }

    /// <summary>Checks that a verified payload can hold <paramref name="parameters"/> float32 weights.</summary>
    public static void CheckWeightCount(byte[] payload, long parameters, string modelName)
    {
        if (payload.LongLength < parameters * sizeof(float))
            throw Corrupt(modelName, $"the weights hold {payload.LongLength} bytes, fewer than the {parameters} parameters of the saved architecture need");
    }

    /// <summary>Loads a verified payload into a module built with the saved architecture.</summary>
    public static void LoadWeights(byte[] payload, nn.Module module, string modelName)
    {
        try
        {
            using var reader = new BinaryReader(new MemoryStream(payload));
            module.load(reader, strict: true);
        }
        catch (Exception e) when (e is not InvalidDataException)
        {
            throw Corrupt(modelName, "the weights do not match the saved architecture", e);
        }
    }

    /// <summary>
    /// A saved network, verified before any native allocation: reads the weights entry (checksum), checks it can hold
    /// <paramref name="parameters"/> float32 weights, builds the network with the saved architecture (unseeded: its
    /// initialization is overwritten) and loads the weights; on failure the network is disposed and the error is the
    /// <see cref="InvalidDataException"/> of the check that failed.
    /// </summary>
    public static T LoadNetwork<T>(ModelLoadContext ctx, long parameters, Func<T> build, string modelName) where T : nn.Module
    {
        byte[] weights = ReadWeights(ctx, modelName);
        CheckWeightCount(weights, parameters, modelName);
        var network = TorchRandom.BuildUnseeded(build);
        try
        {
            LoadWeights(weights, network, modelName);
        }
        catch
        {
            network.Dispose();
            throw;
        }
        return network;
    }

    /// <summary>Training history: per epoch, the loss names' training and validation values (NaN if none).</summary>
    public static void SaveHistory(BinaryWriter writer, IReadOnlyList<string> lossNames, IReadOnlyList<EpochSummary> history)
    {
        writer.Write(lossNames.Count);
        foreach (var name in lossNames)
            writer.Write(name);
        writer.Write(history.Count);
        foreach (var epoch in history)
        {
            writer.Write(epoch.Epoch);
            writer.Write(epoch.NumberOfEpochs);
            writer.Write(epoch.Rows);
            writer.Write(epoch.Duration.Ticks);
            writer.Write(epoch.Elapsed.Ticks);
            foreach (var name in lossNames)
            {
                writer.Write(epoch.TrainingLosses[name]);
                writer.Write(epoch.ValidationLosses is null ? double.NaN : epoch.ValidationLosses[name]);
            }
        }
    }

    public static IReadOnlyList<EpochSummary> LoadHistory(BinaryReader reader, string modelName)
    {
        int nameCount = reader.ReadInt32();
        if (nameCount < 1 || nameCount > 64)
            throw Corrupt(modelName, $"impossible number of loss names ({nameCount}) in the training history");
        var names = new string[nameCount];
        for (int i = 0; i < nameCount; i++)
            names[i] = reader.ReadString();
        int epochs = reader.ReadInt32();
        if (epochs < 0 || epochs > 1_000_000)
            throw Corrupt(modelName, $"impossible number of epochs ({epochs}) in the training history");
        var history = new List<EpochSummary>(epochs);
        for (int e = 0; e < epochs; e++)
        {
            int epoch = reader.ReadInt32();
            int total = reader.ReadInt32();
            long rows = reader.ReadInt64();
            var duration = TimeSpan.FromTicks(reader.ReadInt64());
            var elapsed = TimeSpan.FromTicks(reader.ReadInt64());
            var train = new Dictionary<string, double>();
            var valid = new Dictionary<string, double>();
            foreach (var name in names)
            {
                train[name] = reader.ReadDouble();
                valid[name] = reader.ReadDouble();
            }
            bool hasValidation = valid.Values.Any(v => !double.IsNaN(v));
            history.Add(new EpochSummary(epoch, total, train, hasValidation ? valid : null, rows, duration, elapsed));
        }
        return history;
    }

    /// <summary>
    /// Reads one int32 field of a saved model's header and checks it against [<paramref name="min"/>,
    /// <paramref name="max"/>] (positive and at most 2²⁴ by default), so that a damaged file fails with a clear
    /// <see cref="InvalidDataException"/> before it can ask for an absurd allocation.
    /// </summary>
    public static int ReadInt32InRange(BinaryReader reader, string modelName, string what, int min = 1, int max = 1 << 24)
    {
        int value = reader.ReadInt32();
        if (value < min || value > max)
            throw Corrupt(modelName, $"impossible {what} ({value})");
        return value;
    }

    public static InvalidDataException Corrupt(string modelName, string what, Exception? inner = null)
        => new($"Cannot load the {modelName} from the model file: {what}. Save the model again, or check that the "
               + "file was copied completely.", inner);
}
