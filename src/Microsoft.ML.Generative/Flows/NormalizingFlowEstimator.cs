using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Generative.Data;
using Microsoft.ML.Generative.Training;
using Microsoft.ML.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Flows;

/// <summary>
/// Trains a <see cref="NormalizingFlowTransformer"/> by maximum likelihood with TorchSharp. Create it with
/// <c>mlContext.Generative().NormalizingFlow(...)</c>.
/// </summary>
/// <remarks>
/// <para>Input: a known-size vector of <see cref="float"/> (default column <c>Features</c>), D ≥ 1 values per row
/// (D ≥ 2 for <see cref="FlowArchitecture.RealNvp"/>). Output: the input columns plus <c>LogLikelihood</c> (float,
/// log p(x) in nats per row), <c>Score</c> (float, −log p(x)) and <c>Latent</c> (vector of D floats, z = f(x)).</para>
/// <para>Loss: the exact negative log-likelihood by change of variables, −log p(x) = −log N(f(x); 0, I) −
/// log|det ∂f/∂x| (Dinh et al. 2017, eq. 3; Papamakarios et al. 2021, eq. 2), averaged over each batch. f is the
/// chain dequantization → logit → standardization → flow layers (see <see cref="NormalizingFlowOptions"/>).</para>
/// </remarks>
public sealed class NormalizingFlowEstimator : GenerativeEstimatorBase<NormalizingFlowTransformer, NormalizingFlowOptions>
{
    internal NormalizingFlowEstimator(IHostEnvironment env, NormalizingFlowOptions options)
        : base(env, options, nameof(NormalizingFlowEstimator))
    {
    }

    private protected override string ModelName => "normalizing flow";

    private protected override IEnumerable<(string Name, bool IsVector)> OutputColumns => new[]
    {
        (Options.LogLikelihoodColumnName, false),
        (Options.ScoreColumnName, false),
        (Options.LatentColumnName, true),
    };

    private protected override Func<ReadOnlySpan<float>, string?>? RowCheck
        => FlowPreprocessing.TrainingRowCheck(Options.Dequantize, Options.LogitTransform, Options.NumberOfLevels);

    /// <summary>A network without data statistics (no standardization, levels as given); Fit uses the overload below.</summary>
    private protected override nn.Module BuildNetwork(int inputDimension)
    {
        CheckDimension(inputDimension);
        return new FlowNetwork(MakeShape(inputDimension), MakePreprocessing(inputDimension, Math.Max(Options.NumberOfLevels, 2)),
            Enumerable.Repeat(0.0, inputDimension).ToArray(), Enumerable.Repeat(1.0, inputDimension).ToArray());
    }

    private protected override nn.Module BuildNetwork(BatchSource train, IChannel ch)
    {
        int d = train.Dimension;
        CheckDimension(d);
        int levels = Options.NumberOfLevels;
        if (Options.Dequantize && Options.LogitTransform && levels == 0)
        {
            levels = Math.Max(2, (int)MaxValue(train) + 1);
            ch.Info("Dequantized logit transform: the training data's largest value sets NumberOfLevels = {0}.", levels);
        }
        var preprocessing = MakePreprocessing(d, levels);
        var (shift, scale) = Options.Standardize
            ? Statistics(train, preprocessing)
            : (Enumerable.Repeat(0.0, d).ToArray(), Enumerable.Repeat(1.0, d).ToArray());
        return TorchRandom.Build(Seed, () => new FlowNetwork(MakeShape(d, train.ConditionWidth), preprocessing, shift, scale));
    }

    private FlowShape MakeShape(int d, int conditionWidth = 0)
        => new(d, Options.Architecture, Options.NumberOfLayers, Options.HiddenLayerSizes.ToArray(), Options.NumberOfBins, Options.SplineTailBound,
            conditionWidth);

    private FlowPreprocessing MakePreprocessing(int d, int levels)
        => new(d, Options.Dequantize, Options.DequantizationSamples, Options.Dequantize && Options.LogitTransform ? levels : 0,
            Options.LogitTransform, Options.LogitAlpha);

    private void CheckDimension(int d)
    {
        if (Options.Architecture == FlowArchitecture.RealNvp && d < 2)
            throw Host.ExceptUserArg(nameof(Options.Architecture),
                $"RealNvp couples two groups of features and needs at least 2, but '{Options.FeatureColumnName}' has {d}. "
                + "Use FlowArchitecture.NeuralSpline (elementwise splines for one feature) or FlowArchitecture.MaskedAutoregressive.");
    }

    private static float MaxValue(BatchSource train)
    {
        float max = float.NegativeInfinity;
        using var generator = new Generator(0);
        using var batches = train.Batches(4096, shuffle: false, generator, epoch: 0).GetEnumerator();
        while (true)
        {
            using var scope = NewDisposeScope();
            if (!batches.MoveNext())
                return max;
            // Features only: a conditional model's rows carry the condition after them.
            max = Math.Max(max, batches.Current.narrow(1, 0, train.Dimension).max().item<float>());
        }
    }

    /// <summary>
    /// Mean and standard deviation (population) of every feature after dequantization and logit, in float64 with
    /// Chan's pairwise update; a slot whose training values are all equal is reported by name.
    /// </summary>
    private (double[] Shift, double[] Scale) Statistics(BatchSource train, FlowPreprocessing preprocessing)
    {
        int d = train.Dimension;
        var mean = new double[d];
        var m2 = new double[d];
        var min = Enumerable.Repeat(double.PositiveInfinity, d).ToArray();
        var max = Enumerable.Repeat(double.NegativeInfinity, d).ToArray();
        long n = 0;
        using var order = new Generator(0);
        // Its own noise stream: the statistics do not consume the training noise.
        using var noise = new Generator((ulong)Seed + 4);
        using (var batches = train.Batches(4096, shuffle: false, order, epoch: 0).GetEnumerator())
        {
            while (true)
            {
                Host.CheckAlive();
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                if (!batches.MoveNext())
                    break;
                var (y, _) = preprocessing.Train(batches.Current.narrow(1, 0, d), noise);
                var y64 = y.to_type(ScalarType.Float64);
                long b = y64.shape[0];
                var batchMean = y64.mean(new long[] { 0 });
                var batchM2 = (y64 - batchMean).square().sum(new long[] { 0 }).data<double>().ToArray();
                var bm = batchMean.data<double>().ToArray();
                var bmin = y64.amin(new long[] { 0 }).data<double>().ToArray();
                var bmax = y64.amax(new long[] { 0 }).data<double>().ToArray();
                for (int j = 0; j < d; j++)
                {
                    double delta = bm[j] - mean[j];
                    double total = n + b;
                    mean[j] += delta * b / total;
                    m2[j] += batchM2[j] + delta * delta * n * b / total;
                    min[j] = Math.Min(min[j], bmin[j]);
                    max[j] = Math.Max(max[j], bmax[j]);
                }
                n += b;
            }
        }
        var std = new double[d];
        for (int j = 0; j < d; j++)
        {
            std[j] = Math.Sqrt(m2[j] / n);
            if (min[j] == max[j] || !(std[j] > 0))
                throw Host.Except(
                    $"Slot {j} of feature column '{Options.FeatureColumnName}' holds the same value ({min[j]}) in all {n} training rows: "
                    + "Standardize = true cannot divide it by its standard deviation (0), and a continuous density of a constant is "
                    + "unbounded. Remove the slot from the feature vector, or, for integer-valued data, set Dequantize = true.");
        }
        return (mean, std);
    }

    private protected override GenerativeObjective CreateObjective(nn.Module network, Generator noise, ulong evaluationSeed)
        => new FlowObjective((FlowNetwork)network, Options, noise, evaluationSeed);

    private protected override string Describe(nn.Module network)
    {
        var n = (FlowNetwork)network;
        var p = n.Preprocessing;
        var steps = new List<string>();
        if (p.Dequantize) steps.Add("dequantized");
        if (p.Logit) steps.Add($"logit (α = {p.Alpha})");
        if (Options.Standardize) steps.Add("standardized");
        return n.Shape.Describe() + (steps.Count > 0 ? " (" + string.Join(", ", steps) + ")" : "");
    }

    private protected override NormalizingFlowTransformer CreateTransformer(nn.Module network, IReadOnlyList<EpochSummary> history)
        => CreateTransformer(network, history, null);

    private protected override NormalizingFlowTransformer CreateTransformer(nn.Module network, IReadOnlyList<EpochSummary> history,
        ConditionEncoding? condition)
        => new(Host, (FlowNetwork)network, Options.FeatureColumnName, Options.LogLikelihoodColumnName, Options.ScoreColumnName,
            Options.LatentColumnName, history, condition);
}
