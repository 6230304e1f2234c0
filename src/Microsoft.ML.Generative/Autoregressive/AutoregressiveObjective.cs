using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Generative.Data;
using Microsoft.ML.Generative.Losses;
using Microsoft.ML.Generative.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Autoregressive;

/// <summary>
/// Next-token cross-entropy over the real (non-padding) targets of a <see cref="SequenceBatch"/>, optionally
/// label-smoothed; batches weigh by their number of targets, so an epoch's losses are means per token.
/// Reported: <c>Loss</c> (the optimized, smoothed objective) and <c>Nll</c> (unsmoothed, nats per token).
/// </summary>
internal sealed class AutoregressiveObjective : GenerativeObjective<SequenceBatch>
{
    internal static readonly string[] Names = { "Loss", "Nll" };
    private readonly SequenceNetwork _network;
    private readonly FlatAdam _optimizer;
    private readonly double _labelSmoothing;
    private readonly double? _muonLearningRate;

    public AutoregressiveObjective(SequenceNetwork network, AutoregressiveModelOptions options)
    {
        _network = network;
        _labelSmoothing = options.LabelSmoothing;
        GradientClipNorm = options.GradientClipNorm;
        LearningRate = options.LearningRate;
        FeatureColumnName = options.InputColumnName;
        // AdamW decays matrices (weights, embeddings) only, never biases and LayerNorm gains (nanoGPT's two
        // parameter groups); Adam's L2 penalty applies to every parameter. Muon takes the Transformer blocks' matrices
        // (attention and MLP weights); AdamW the rest.
        bool muon = options.Optimizer == GenerativeOptimizer.Muon;
        _muonLearningRate = muon ? options.MuonLearningRate : null;
        bool decoupled = options.Optimizer != GenerativeOptimizer.Adam;
        Func<TorchSharp.Modules.Parameter, bool>? orthogonalized = null;
        if (muon)
        {
            var blockMatrices = new HashSet<TorchSharp.Modules.Parameter>(
                network.named_parameters().Where(n => n.name.StartsWith("blocks.", StringComparison.Ordinal) && n.parameter.dim() == 2).Select(n => n.parameter),
                ReferenceEqualityComparer.Instance);
            orthogonalized = blockMatrices.Contains;
        }
        _optimizer = new FlatAdam(network.parameters(), options.LearningRate, options.Beta1, options.Beta2,
            weightDecay: options.WeightDecay, decoupled: decoupled, decays: decoupled ? p => p.dim() >= 2 : null,
            orthogonalized: orthogonalized, muonLearningRate: options.MuonLearningRate);
    }

    public override IReadOnlyList<string> LossNames => Names;

    /// <summary>The optimizer (tests: which parameters Muon trains).</summary>
    internal FlatAdam Optimizer => _optimizer;

    // Token ids need no normalization: the advice is the rates and clipping.
    protected override string DivergenceAdvice
        => $"Lower LearningRate (now {LearningRate})" + (_muonLearningRate is double muon ? $" or MuonLearningRate (now {muon})" : "")
           + (GradientClipNorm > 0 ? $", or lower GradientClipNorm (now {GradientClipNorm})." : ", or set GradientClipNorm (e.g. 1.0).");

    public override nn.Module Model => _network;

    public override long RowsOf(SequenceBatch batch) => batch.Rows;

    public override double WeightOf(SequenceBatch batch) => batch.TokenCount;

    /// <summary>Windows <paramref name="start"/> … of the batch (data-parallel training), with their own token count.</summary>
    public override SequenceBatch SliceRows(SequenceBatch batch, long start, long count)
    {
        var targets = batch.Targets.narrow(0, start, count);
        using var counted = targets.ne(SequenceBatch.IgnoreIndex).sum();
        return new SequenceBatch(batch.Inputs.narrow(0, start, count), targets, (int)count, counted.item<long>());
    }

    public override Tensor TrainStep(SequenceBatch batch, StepInfo step)
    {
        var logits = _network.forward(batch.Inputs);                                                   // [B, T, V]
        var loss = SequenceLosses.NextTokenCrossEntropyUnchecked(logits, batch.Targets, SequenceBatch.IgnoreIndex, _labelSmoothing);
        OptimizerStep(_optimizer, loss, step, "next-token cross-entropy");
        using var noGrad = no_grad();
        var nll = _labelSmoothing > 0 ? SequenceLosses.NextTokenCrossEntropyUnchecked(logits, batch.Targets, SequenceBatch.IgnoreIndex) : loss;
        return stack(new[] { loss, nll }).detach();
    }

    public override Tensor EvaluateBatch(SequenceBatch batch)
    {
        var logits = _network.forward(batch.Inputs);
        var loss = SequenceLosses.NextTokenCrossEntropyUnchecked(logits, batch.Targets, SequenceBatch.IgnoreIndex, _labelSmoothing);
        var nll = _labelSmoothing > 0 ? SequenceLosses.NextTokenCrossEntropyUnchecked(logits, batch.Targets, SequenceBatch.IgnoreIndex) : loss;
        return stack(new[] { loss, nll });
    }

    public override string DescribeEpoch(EpochSummary summary)
        => summary + ", " + Describe("train", summary.TrainingLosses["Nll"])
           + (summary.ValidationLosses is { } v ? ", " + Describe("validation", v["Nll"]) : "");

    /// <summary>"train NLL 1.2345 nats/token (perplexity 3.44, 1.781 bits/token)"; perplexity overflows to +∞, never throws.</summary>
    internal static string Describe(string what, double nll)
        => $"{what} NLL {nll:F4} nats/token (perplexity {Math.Exp(nll):G4}, {nll / Math.Log(2):F3} bits/token)";

    public override void Dispose() => _optimizer.Dispose();
}
