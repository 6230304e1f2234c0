using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Generative.Losses;
using Microsoft.ML.Generative.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Flows;

/// <summary>
/// Maximum likelihood: the mean negative log-likelihood by change of variables,
/// −log p(x) = −log N(f(x); 0, I) − log|det ∂f/∂x| (<see cref="FlowLosses.NegativeLogLikelihood"/>), where f includes
/// the dequantization, logit and standardization maps, so the loss is in nats per row of the original data.
/// </summary>
internal sealed class FlowObjective : GenerativeObjective
{
    internal static readonly string[] Names = { "Loss" };
    private readonly FlowNetwork _network;
    private readonly FlatAdam _optimizer;
    private readonly Generator _noise;
    // Validation draws its own dequantization noise, reset before every pass (see VaeObjective).
    private readonly Generator _evaluationNoise;
    private readonly ulong _evaluationSeed;

    public FlowObjective(FlowNetwork network, NormalizingFlowOptions options, Generator noise, ulong evaluationSeed)
    {
        _network = network;
        _noise = noise;
        _evaluationSeed = evaluationSeed;
        _evaluationNoise = new Generator(evaluationSeed);
        GradientClipNorm = options.GradientClipNorm;
        LearningRate = options.LearningRate;
        FeatureColumnName = options.FeatureColumnName;
        _optimizer = CreateAdam(network.parameters(), options.Optimizer, options.LearningRate, options.Beta1, options.Beta2, options.WeightDecay);
    }

    public override IReadOnlyList<string> LossNames => Names;

    public override nn.Module Model => _network;

    public override void BeginEvaluation() => _evaluationNoise.manual_seed((long)_evaluationSeed);

    /// <summary>
    /// −log p(x) (or −log p(x | c)) per row, [B], with dequantization noise from <paramref name="noise"/>; a
    /// conditional model's rows are [x, c], and only x is preprocessed.
    /// </summary>
    internal static Tensor Nll(FlowNetwork network, Tensor batch, Generator noise)
    {
        var (x, c) = network.Split(batch);
        var (y, preLogDet) = network.Preprocessing.Train(x, noise);
        var (z, logDet) = network.Forward(y, c);
        if (preLogDet is not null)
            logDet = logDet.add_(preLogDet);
        return FlowLosses.NegativeLogLikelihood(z, logDet, LossReduction.None);
    }

    public override Tensor TrainStep(Tensor batch, StepInfo step)
    {
        var loss = Nll(_network, batch, _noise).mean();
        OptimizerStep(_optimizer, loss, step, "negative log-likelihood");
        return loss.detach().unsqueeze(0);
    }

    public override Tensor EvaluateBatch(Tensor batch) => Nll(_network, batch, _evaluationNoise).mean().unsqueeze(0);

    public override void Dispose()
    {
        _optimizer.Dispose();
        _evaluationNoise.Dispose();
    }
}
