using System;
using System.Collections.Generic;
using System.Linq;

namespace Microsoft.ML.Generative.Training;

/// <summary>What one training epoch achieved. Losses are per-row means in nats.</summary>
public sealed class EpochSummary
{
    internal EpochSummary(int epoch, int numberOfEpochs, IReadOnlyDictionary<string, double> trainingLosses,
        IReadOnlyDictionary<string, double>? validationLosses, long rows, TimeSpan duration, TimeSpan elapsed)
    {
        Epoch = epoch;
        NumberOfEpochs = numberOfEpochs;
        TrainingLosses = trainingLosses;
        ValidationLosses = validationLosses;
        Rows = rows;
        Duration = duration;
        Elapsed = elapsed;
    }

    /// <summary>The epoch, counted from 1.</summary>
    public int Epoch { get; }

    /// <summary>The number of epochs training was asked to run.</summary>
    public int NumberOfEpochs { get; }

    /// <summary>
    /// Mean training losses over the epoch's batches, weighted by batch size, by name: <c>"Loss"</c> (the optimized
    /// objective) first, then the family's components (for a VAE, <c>"Reconstruction"</c> and <c>"Kl"</c>).
    /// </summary>
    public IReadOnlyDictionary<string, double> TrainingLosses { get; }

    /// <summary>The same losses on the validation data, or <see langword="null"/> without validation data.</summary>
    public IReadOnlyDictionary<string, double>? ValidationLosses { get; }

    /// <summary>The training loss (<c>TrainingLosses["Loss"]</c>).</summary>
    public double TrainingLoss => TrainingLosses["Loss"];

    /// <summary>The validation loss, or <see langword="null"/> without validation data.</summary>
    public double? ValidationLoss => ValidationLosses?["Loss"];

    /// <summary>Training rows processed in this epoch.</summary>
    public long Rows { get; }

    /// <summary>Wall time of this epoch's training steps (validation excluded).</summary>
    public TimeSpan Duration { get; }

    /// <summary>Wall time since <c>Fit</c> started training.</summary>
    public TimeSpan Elapsed { get; }

    /// <summary>Training throughput of this epoch.</summary>
    public double RowsPerSecond => Duration.TotalSeconds > 0 ? Rows / Duration.TotalSeconds : double.NaN;

    /// <inheritdoc/>
    public override string ToString()
        => $"epoch {Epoch}/{NumberOfEpochs}: train loss {TrainingLoss:F4}"
           + Components(TrainingLosses)
           + (ValidationLoss is double v ? $", validation loss {v:F4}" + Components(ValidationLosses!) : "")
           + $", {RowsPerSecond:F0} rows/s, elapsed {Elapsed.TotalSeconds:F1} s";

    // The components after "Loss", e.g. " (Reconstruction 80.1234, Kl 20.5678)"; non-finite ones (not measured) are left out.
    private static string Components(IReadOnlyDictionary<string, double> losses)
    {
        var parts = losses.Where(p => p.Key != "Loss" && double.IsFinite(p.Value)).Select(p => $"{p.Key} {p.Value:F4}").ToArray();
        return parts.Length == 0 ? "" : " (" + string.Join(", ", parts) + ")";
    }
}
