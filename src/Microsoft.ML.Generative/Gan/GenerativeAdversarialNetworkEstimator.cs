using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Generative.Data;
using Microsoft.ML.Generative.Training;
using Microsoft.ML.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Gan;

/// <summary>
/// Trains a <see cref="GenerativeAdversarialNetworkTransformer"/>: a generator G that maps noise z ~ N(0, I) to rows
/// like those of the feature column, and a discriminator D that tells real rows from generated ones, trained against
/// each other with TorchSharp. Create it with <c>mlContext.Generative().GenerativeAdversarialNetwork(...)</c>.
/// </summary>
/// <remarks>
/// <para>Input: a known-size vector of <see cref="float"/> (default column <c>Features</c>), in any units: a
/// per-feature map learned from the training data (<see cref="GenerativeAdversarialNetworkOptions.OutputScaling"/>)
/// takes rows to G's output range and generated rows back. Output: the input columns plus <c>DiscriminatorScore</c>
/// (float), D's raw output on the row.</para>
/// <para>Training: per batch, one discriminator step on L_D = DiscriminatorLoss(D(x), D(G(z))) + λ·GP + R1 and, every
/// n_critic batches, one generator step on L_G = GeneratorLoss(D(G(z))), each with its own Adam optimizer; the loss
/// pairs are those of <see cref="Losses.AdversarialLoss"/> (Goodfellow et al. 2014, "Generative Adversarial Nets").
/// Per epoch the log and <see cref="GenerativeTrainerOptions.Progress"/> report the D loss (<c>Loss</c>),
/// <c>GeneratorLoss</c>, <c>RealScore</c> and <c>FakeScore</c> (mean D(real), D(fake)), <c>Penalty</c>, and with
/// validation data the <c>FrechetDistance</c> between generated and validation rows, which early stopping minimizes
/// (keeping the best generator).</para>
/// <para>Divergence is never returned as a model: a non-finite loss, a discriminator loss that stays at 0 for
/// <see cref="GenerativeAdversarialNetworkOptions.DivergencePatience"/> epochs, or samples without variance (mode
/// collapse) make <c>Fit</c> throw <see cref="InvalidOperationException"/> with advice.</para>
/// </remarks>
public sealed class GenerativeAdversarialNetworkEstimator
    : GenerativeEstimatorBase<GenerativeAdversarialNetworkTransformer, GenerativeAdversarialNetworkOptions>
{
    /// <summary>Below this fraction of the data's spread, generated rows count as collapsed.</summary>
    internal const double CollapsedSpreadFraction = 0.05;

    // Reductions over the batch dimension (an explicit array: a literal 0 would also convert to a ScalarType overload).
    private static readonly long[] Rows = { 0 };

    private readonly GanTrainingHooks? _hooks;

    internal GenerativeAdversarialNetworkEstimator(IHostEnvironment env, GenerativeAdversarialNetworkOptions options)
        : base(env, options, nameof(GenerativeAdversarialNetworkEstimator))
    {
    }

    /// <summary>A GAN with the hooks of a model built on the family (CTGAN): see <see cref="GanTrainingHooks"/>.</summary>
    internal GenerativeAdversarialNetworkEstimator(IHostEnvironment env, GenerativeAdversarialNetworkOptions options, GanTrainingHooks? hooks)
        : this(env, options)
    {
        _hooks = hooks;
    }

    private protected override BatchSource TrainingBatches(BatchSource train)
        => _hooks?.TrainingBatches is { } batches ? batches(train) : train;

    private protected override string ModelName => "generative adversarial network";

    private protected override IEnumerable<(string Name, bool IsVector)> OutputColumns => new[]
    {
        (Options.DiscriminatorScoreColumnName, false),
    };

    private GanArchitecture Architecture(int inputDimension, int conditionWidth)
        => new(inputDimension, Options.LatentDimension, Options.GeneratorHiddenLayerSizes.ToArray(), Options.DiscriminatorHiddenLayerSizes.ToArray(),
            Options.Activation, Options.DiscriminatorDropout, Options.SpectralNormalization, Options.GeneratorEmaDecay > 0, Options.OutputScaling,
            conditionWidth, Options.DiscriminatorConditioning)
        {
            Pac = Options.Pac,
            ResidualGenerator = Options.ResidualGenerator,
        };

    private protected override nn.Module BuildNetwork(int inputDimension)
        => new GanNetwork(Architecture(inputDimension, 0));

    /// <summary>Learns the per-feature output map from one pass over the training rows, then builds the network.</summary>
    private protected override nn.Module BuildNetwork(BatchSource train, IChannel ch)
    {
        var (center, halfRange, spread) = OutputMap(train, Options.OutputScaling, Options.BatchSize);
        var conditions = train.ConditionWidth > 0 ? FirstConditions(train, 512) : null;
        using (center)
        using (halfRange)
        {
            // The data pass above draws nothing at random; the network is built under the seeded lock.
            return TorchRandom.Build(Seed, () =>
            {
                var network = new GanNetwork(Architecture(train.Dimension, train.ConditionWidth));
                network.SetOutputMap(center, halfRange);
                network.TrainingSpread = spread;
                network.TrainingConditions = conditions;
                return network;
            });
        }
    }

    /// <summary>
    /// c = (min + max)/2 and h = (max − min)/2 per feature (or c = 0, h = 1 without scaling), and the mean per-feature
    /// standard deviation of the mapped rows.
    /// </summary>
    /// <summary>The encoded conditions of up to <paramref name="count"/> training rows (in data order), row-major.</summary>
    private static float[] FirstConditions(BatchSource train, int count)
    {
        int d = train.Dimension, c = train.ConditionWidth;
        using var generator = new Generator(0);
        using var scope = NewDisposeScope();
        using var batches = train.Batches(count, shuffle: false, generator, epoch: 0).GetEnumerator();
        batches.MoveNext();
        return batches.Current.narrow(1, d, c).contiguous().data<float>().ToArray();
    }

    internal static (Tensor Center, Tensor HalfRange, double Spread) OutputMap(BatchSource train, GanOutputScaling scaling, int batchSize)
    {
        int d = train.Dimension;
        var min = full(d, double.PositiveInfinity, dtype: ScalarType.Float64);
        var max = full(d, double.NegativeInfinity, dtype: ScalarType.Float64);
        var sum = zeros(d, dtype: ScalarType.Float64);
        var squares = zeros(d, dtype: ScalarType.Float64);
        long rows = 0;
        using (var generator = new Generator(0))
        using (var batches = train.Batches(Math.Max(batchSize, 4096), shuffle: false, generator, epoch: 0).GetEnumerator())
        {
            while (true)
            {
                using var scope = NewDisposeScope();
                if (!batches.MoveNext())
                    break;
                // Features only: a conditional model's rows carry the condition after them.
                var x = batches.Current.narrow(1, 0, d).to_type(ScalarType.Float64);
                min.copy_(min.fmin(x.amin(Rows)));
                max.copy_(max.fmax(x.amax(Rows)));
                sum.add_(x.sum(Rows));
                squares.add_(x.square().sum(Rows));
                rows += x.shape[0];
            }
        }
        using (min)
        using (max)
        using (sum)
        using (squares)
        using (var scope = NewDisposeScope())
        {
            Tensor center, halfRange;
            if (scaling == GanOutputScaling.MinMax)
            {
                center = min.add(max).mul_(0.5);
                halfRange = max.sub(min).mul_(0.5);
            }
            else
            {
                center = zeros(d, dtype: ScalarType.Float64);
                halfRange = ones(d, dtype: ScalarType.Float64);
            }
            var mean = sum.div(rows);
            var variance = squares.div(rows).sub_(mean.square()).clamp_min_(0);
            var inverse = halfRange.gt(0).to_type(ScalarType.Float64).div_(halfRange.clamp_min(1e-300));
            double spread = variance.sqrt().mul_(inverse).mean().ToDouble();
            return (center.to_type(ScalarType.Float32).MoveToOuterDisposeScope(), halfRange.to_type(ScalarType.Float32).MoveToOuterDisposeScope(), spread);
        }
    }

    private protected override GenerativeObjective CreateObjective(nn.Module network, Generator noise, ulong evaluationSeed)
        => new GanObjective((GanNetwork)network, Options, noise, evaluationSeed, _hooks);

    private protected override string Describe(nn.Module network)
    {
        var a = ((GanNetwork)network).Architecture;
        return $"{a.Describe()}, {Options.Loss} loss, n_critic {Options.EffectiveCriticSteps}";
    }

    private protected override GenerativeAdversarialNetworkTransformer CreateTransformer(nn.Module network, IReadOnlyList<EpochSummary> history)
        => CreateTransformer(network, history, null);

    private protected override GenerativeAdversarialNetworkTransformer CreateTransformer(nn.Module network, IReadOnlyList<EpochSummary> history,
        ConditionEncoding? condition)
    {
        var gan = (GanNetwork)network;
        GanObjective.CheckDiscriminatorWon(history.Select(h => h.TrainingLoss).ToList(), Options.Loss, Options.DivergencePatience);
        if (Options.DivergencePatience > 0)
            CheckModeCollapse(gan, Seed);
        return new GenerativeAdversarialNetworkTransformer(Host, gan, Options.FeatureColumnName, Options.DiscriminatorScoreColumnName, history, condition);
    }

    /// <summary>Throws when the sampling generator's rows have almost no spread compared with the training rows.</summary>
    internal static void CheckModeCollapse(GanNetwork network, int seed)
    {
        double spread = SampleSpread(network, 512, seed);
        if (!(network.TrainingSpread > 0))
            return; // constant data: nothing to compare with
        if (spread < CollapsedSpreadFraction * network.TrainingSpread)
            throw new InvalidOperationException(
                $"GAN training collapsed: generated rows have a mean per-feature standard deviation of {spread:G3} (in the generator's range), "
                + $"{spread / network.TrainingSpread:P1} of the training rows' {network.TrainingSpread:G3}: the generator maps every noise vector "
                + "to (almost) the same row (mode collapse), or it has not yet learned the data's spread. No model was produced. Try a lower learning rate, LabelSmoothing = 0.1, "
                + "SpectralNormalization = true, R1Weight = 10, Loss = AdversarialLoss.Hinge or Wasserstein, or more epochs; "
                + "or set DivergencePatience = 0 to turn this check off.");
    }

    /// <summary>Mean per-feature standard deviation of <paramref name="count"/> rows from the sampling generator, in G's range.</summary>
    internal static double SampleSpread(GanNetwork network, int count, int seed)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var generator = new Generator((ulong)seed + 5);
        Tensor? c = null;
        if (network.ConditionWidth > 0 && network.TrainingConditions is float[] conditions)
        {
            // A conditional generator makes rows for training rows' conditions.
            count = conditions.Length / network.ConditionWidth;
            c = tensor(conditions, new long[] { count, network.ConditionWidth });
        }
        var z = randn(new long[] { count, network.Architecture.LatentDimension }, generator: generator);
        var rows = network.Generate(z, averaged: true, c).to_type(ScalarType.Float64);
        return rows.std(Rows).mean().ToDouble();
    }
}
