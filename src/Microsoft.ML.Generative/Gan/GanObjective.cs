using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Generative.Evaluation;
using Microsoft.ML.Generative.Losses;
using Microsoft.ML.Generative.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Gan;

/// <summary>
/// Optional hooks of a model built on the GAN family (CTGAN, <c>Tabular/</c>): the objective's default behaviour when
/// a hook is null. Not saved: the model that sets them re-applies what it needs at sampling time.
/// </summary>
internal sealed class GanTrainingHooks
{
    /// <summary>
    /// G's raw output [B, D] → the rows D sees, [B, D] (CTGAN: tanh for each scalar, Gumbel-softmax for each one-hot
    /// group). Null: D sees G's output as it is.
    /// </summary>
    public Func<Tensor, Tensor>? GeneratorOutput { get; init; }

    /// <summary>
    /// An extra term of the generator's loss, a scalar, from G's raw output [B, D] and the batch's conditions [B, C]
    /// (null when unconditional): CTGAN's condition loss. Null: none.
    /// </summary>
    public Func<Tensor, Tensor?, Tensor>? GeneratorLoss { get; init; }

    /// <summary>
    /// Replaces the training batches read from the input (CTGAN's training-by-sampling, whose rows carry the sampled
    /// conditional vector); the estimator disposes the result after training, not the source it was given. Null: the
    /// input's rows, shuffled.
    /// </summary>
    public Func<Data.BatchSource, Data.BatchSource>? TrainingBatches { get; init; }
}

/// <summary>
/// The adversarial game on the shared engine: each batch gives the discriminator one Adam step on its loss (plus the
/// gradient penalty and R1 when set) and, every n_critic-th batch, the generator one Adam step on its loss; then
/// the generator's moving average is updated. Two optimizers, one <see cref="TrainStep"/>. A conditional GAN's batch
/// rows are [x, c] (<see cref="GanNetwork.Split"/>): the fake rows are generated with the real rows' conditions, and D
/// (and its penalties) sees every row with its condition.
/// </summary>
internal sealed class GanObjective : GenerativeObjective
{
    /// <summary>
    /// "Loss": the discriminator's adversarial loss (label smoothing included, penalties not); "GeneratorLoss": the
    /// generator's loss on the same generated rows, with the same (not yet updated) discriminator; "RealScore" and
    /// "FakeScore": the mean of σ(D) (probability of "real") for the cross-entropy losses, of the raw D output
    /// otherwise; "Penalty": λ·GP + R1; "FrechetDistance": validation only (NaN in training).
    /// </summary>
    internal static readonly string[] Names = { "Loss", "GeneratorLoss", "RealScore", "FakeScore", "Penalty", "FrechetDistance" };
    internal const int FrechetIndex = 5;

    // Reductions over the batch dimension (an explicit array: a literal 0 would also convert to a ScalarType overload).
    private static readonly long[] Rows = { 0 };

    /// <summary>A discriminator loss below this for <see cref="GenerativeAdversarialNetworkOptions.DivergencePatience"/> epochs means D has won.</summary>
    internal const double VanishingDiscriminatorLoss = 1e-3;

    private readonly GanNetwork _network;
    private readonly FlatAdam _generatorOptimizer;
    private readonly FlatAdam _discriminatorOptimizer;
    private readonly List<TorchSharp.Modules.Parameter> _generatorParameters;
    private readonly List<TorchSharp.Modules.Parameter> _discriminatorParameters;
    private readonly Generator _noise;
    private readonly Generator _evaluationNoise;
    // The Fréchet distance's generated rows: z of row g comes from chunk ⌊g / FrechetChunk⌋, seeded by its index.
    private readonly Generator _frechetNoise = new Generator(0);
    private const int FrechetChunk = 512;
    private readonly ulong _evaluationSeed;
    private readonly AdversarialLoss _kind;
    private readonly int _criticSteps;
    private readonly double _gradientPenaltyWeight;
    private readonly double _r1Weight;
    private readonly double _labelSmoothing;
    private readonly double _emaDecay;
    private readonly int _divergencePatience;
    private readonly int _maximumValidationSamples;
    private long _generatorSteps;

    // Validation moments of the mapped rows (float64): Σx [D], Σxxᵀ [D, D], n.
    private Tensor? _validationSum;
    private Tensor? _validationOuter;
    private long _validationRows;
    // A conditional model's generated moments, accumulated batch by batch with the validation rows' conditions.
    private Tensor? _generatedSum;
    private Tensor? _generatedOuter;
    private long _generatedRows;
    // Validation rows of this pass so far (with sharded data, of this rank's shard), and whether the unconditional
    // generated moments are done.
    private long _evaluatedRows;
    private bool _generatedDone;

    // Per-epoch discriminator loss, accumulated on the tensor side (no host read per step).
    private readonly Tensor _epochDiscriminatorLoss = zeros(1, dtype: ScalarType.Float64);
    private long _epochRows;
    private readonly List<double> _epochDiscriminatorLosses = new();

    private readonly GanTrainingHooks? _hooks;

    public GanObjective(GanNetwork network, GenerativeAdversarialNetworkOptions options, Generator noise, ulong evaluationSeed,
        GanTrainingHooks? hooks = null)
    {
        _hooks = hooks;
        _network = network;
        _noise = noise;
        _evaluationSeed = evaluationSeed;
        _evaluationNoise = new Generator(evaluationSeed);
        _kind = options.Loss;
        _criticSteps = options.EffectiveCriticSteps;
        _gradientPenaltyWeight = options.EffectiveGradientPenaltyWeight;
        _r1Weight = options.R1Weight;
        _labelSmoothing = options.LabelSmoothing;
        _emaDecay = options.GeneratorEmaDecay;
        _divergencePatience = options.DivergencePatience;
        _maximumValidationSamples = options.MaximumValidationSamples;
        GradientClipNorm = options.GradientClipNorm;
        LearningRate = options.LearningRate;
        FeatureColumnName = options.FeatureColumnName;
        network.SetDropoutGenerator(noise);
        _generatorParameters = network.GeneratorModule.parameters().ToList();
        _discriminatorParameters = network.DiscriminatorParameters.ToList();
        _generatorOptimizer = MakeOptimizer(options, _generatorParameters, options.EffectiveGeneratorLearningRate);
        _discriminatorOptimizer = MakeOptimizer(options, _discriminatorParameters, options.EffectiveDiscriminatorLearningRate);
    }

    // The shared flat-buffer Adam/AdamW, one per network (TTUR: each with its own rate).
    private static FlatAdam MakeOptimizer(GenerativeAdversarialNetworkOptions options, List<TorchSharp.Modules.Parameter> parameters, double rate)
        => CreateAdam(parameters, options.Optimizer, rate, options.Beta1, options.Beta2, options.WeightDecay);

    public override IReadOnlyList<string> LossNames => Names;

    public override nn.Module Model => _network;

    public override string EarlyStoppingLossName => "FrechetDistance";

    /// <summary>Per-epoch mean discriminator losses of the epochs trained so far.</summary>
    internal IReadOnlyList<double> EpochDiscriminatorLosses => _epochDiscriminatorLosses;

    internal long GeneratorSteps => _generatorSteps;

    public override void BeginEpoch(int epoch)
    {
        if (epoch > 1)
            CloseEpoch();
    }

    /// <summary>Records the finished epoch's mean discriminator loss and stops a run whose discriminator has won.</summary>
    internal void CloseEpoch()
    {
        if (_epochRows == 0)
            return;
        _epochDiscriminatorLosses.Add(_epochDiscriminatorLoss.item<double>() / _epochRows);
        using (var scope = NewDisposeScope())
            _epochDiscriminatorLoss.zero_();   // the returned handle is a new wrapper: the scope releases it
        _epochRows = 0;
        CheckDiscriminatorWon(_epochDiscriminatorLosses, _kind, _divergencePatience);
    }

    /// <summary>Throws when D's loss stayed below <see cref="VanishingDiscriminatorLoss"/> for the last <paramref name="patience"/> epochs.</summary>
    internal static void CheckDiscriminatorWon(IReadOnlyList<double> epochLosses, AdversarialLoss kind, int patience)
    {
        // Only the losses bounded below by 0 can "vanish"; the Wasserstein critic loss is unbounded.
        if (patience == 0 || kind == AdversarialLoss.Wasserstein || epochLosses.Count < patience)
            return;
        if (epochLosses.Skip(epochLosses.Count - patience).All(l => l < VanishingDiscriminatorLoss))
            throw new InvalidOperationException(
                $"GAN training diverged: the discriminator loss stayed below {VanishingDiscriminatorLoss} for {patience} epochs "
                + $"(last {epochLosses[^1]:G3} at epoch {epochLosses.Count}): the discriminator separates real from generated rows perfectly "
                + "and the generator no longer learns. No model was produced. Try a lower DiscriminatorLearningRate (TTUR), "
                + "DiscriminatorDropout = 0.3, LabelSmoothing = 0.1, SpectralNormalization = true or R1Weight = 10; "
                + "or set DivergencePatience = 0 to turn this check off.");
    }

    public override Tensor TrainStep(Tensor batch, StepInfo step)
    {
        // Gradients on even if the caller runs Fit under no_grad: the penalties need a graph (autograd.grad on an
        // output without one would abort the process in TorchSharp 0.107).
        using var gradients = enable_grad();
        var (units, c) = _network.Split(batch);                                   // [B, D], condition [B, C] or null
        var x = _network.FromUnits(units);                                        // [B, D] in G's range
        long b = x.shape[0];
        bool generatorStep = step.GlobalStep % _criticSteps == 0;
        // [B, L]; in data-parallel training this rank's slice of the global batch's draw.
        var z = RowNoise(step, b, n => randn(new long[] { n, _network.Architecture.LatentDimension }, generator: _noise));
        // With a generator step to follow, G's graph is kept and reused by it (one G forward per batch).
        Tensor fake;
        Tensor? raw = null;
        using (var gradMode = enable_grad(generatorStep))
        {
            fake = _network.Generate(z, averaged: false, c);                     // [B, D]
            if (_hooks?.GeneratorOutput is { } output)
            {
                raw = fake;
                fake = output(raw);                                               // what D sees, [B, D]
            }
        }
        var fakeData = fake.detach();

        // Discriminator (critic) step.
        var real = _network.Discriminate(x, c);                                   // [B, 1]
        var fakeScore = _network.Discriminate(fakeData, c);                       // [B, 1]
        var discriminatorLoss = DiscriminatorLoss(real, fakeScore);
        var penalty = Penalty(x, fakeData, c);
        var total = penalty is null ? discriminatorLoss : discriminatorLoss + penalty;
        OptimizerStep(_discriminatorOptimizer, total, step, "discriminator loss");
        var generatorLoss = AdversarialLosses.GeneratorLoss(_kind, fakeScore.detach());

        if (generatorStep)
        {
            // D's weights need no gradient here: only G is updated.
            foreach (var p in _discriminatorParameters)
                p.requires_grad_(false);
            try
            {
                var loss = AdversarialLosses.GeneratorLoss(_kind, _network.Discriminate(fake, c));
                if (_hooks?.GeneratorLoss is { } extra)
                {
                    var added = extra(raw ?? fake, c);
                    loss = loss + added;
                    generatorLoss = generatorLoss + added.detach();   // the reported loss is the one G minimizes
                }
                OptimizerStep(_generatorOptimizer, loss, step, "generator loss");
            }
            finally
            {
                foreach (var p in _discriminatorParameters)
                    p.requires_grad_(true);
            }
            _generatorSteps++;
            // Warm-up of the average (min(β, (1 + t)/(10 + t))): early steps do not keep the random initialization.
            _network.UpdateEma(Math.Min(_emaDecay, (1.0 + _generatorSteps) / (10.0 + _generatorSteps)));
        }

        // A stand-in row of weight 0 (a data-parallel rank without rows in this step) says nothing about divergence.
        if (step.GlobalRows == 0 || step.Weight > 0)
        {
            _epochDiscriminatorLoss.add_(discriminatorLoss.detach(), alpha: b);
            _epochRows += b;
        }
        return stack(new[]
        {
            discriminatorLoss.detach(), generatorLoss, Score(real), Score(fakeScore),
            penalty?.detach() ?? zeros_like(discriminatorLoss), full_like(discriminatorLoss, double.NaN),
        }).to_type(ScalarType.Float32);
    }

    /// <summary>D's adversarial loss; with label smoothing s, (1 − s)·L(r, f) + s·L(−r, f) = BCE with real target 1 − s.</summary>
    private Tensor DiscriminatorLoss(Tensor real, Tensor fake)
    {
        var loss = AdversarialLosses.DiscriminatorLoss(_kind, real, fake);
        if (_labelSmoothing == 0)
            return loss;
        // For the cross-entropy kinds L(r, f) = mean softplus(−r) + mean softplus(f), so L(−r, f) swaps in softplus(r).
        using var flipped = real.neg();
        using var soft = AdversarialLosses.DiscriminatorLoss(_kind, flipped, fake);
        return loss.mul(1 - _labelSmoothing).add_(soft, alpha: _labelSmoothing);
    }

    /// <summary>λ·GP (Gulrajani et al. 2017) + R1 (Mescheder et al. 2018), or null when both are off.</summary>
    private Tensor? Penalty(Tensor real, Tensor fake, Tensor? c)
    {
        Tensor? penalty = null;
        // The gradient is taken with respect to the rows; each row keeps its condition.
        Func<Tensor, Tensor> critic = c is null ? x => _network.Discriminate(x) : x => _network.Discriminate(x, c);
        int pac = _network.Architecture.Pac;
        if (pac > 1)
        {
            // PacGAN: the penalties are per pack (one interpolation weight and one gradient norm per m rows, as
            // CTGAN's), so the rows are viewed as packs [B/m, m, D] and D sees them as rows again.
            long b = real.shape[0];
            var rows = critic;
            critic = packs => rows(packs.reshape(b, -1));
            real = real.reshape(b / pac, pac, -1);
            fake = fake.reshape(b / pac, pac, -1);
        }
        if (_gradientPenaltyWeight > 0)
            penalty = AdversarialLosses.GradientPenalty(critic, real, fake, generator: _noise).mul_(_gradientPenaltyWeight);
        if (_r1Weight > 0)
        {
            var r1 = AdversarialLosses.R1Penalty(critic, real, _r1Weight);
            penalty = penalty is null ? r1 : penalty.add_(r1);
        }
        return penalty;
    }

    /// <summary>Mean of σ(D) for the cross-entropy losses (probability of "real"), of D otherwise.</summary>
    private Tensor Score(Tensor output)
    {
        using var detached = output.detach();
        return _kind is AdversarialLoss.Minimax or AdversarialLoss.NonSaturating ? detached.sigmoid().mean() : detached.mean();
    }

    public override void BeginEvaluation()
    {
        _evaluationNoise.manual_seed((long)_evaluationSeed);
        _validationSum?.Dispose();
        _validationOuter?.Dispose();
        int d = _network.Architecture.InputDimension;
        _validationSum = zeros(d, dtype: ScalarType.Float64);
        _validationOuter = zeros(d, d, dtype: ScalarType.Float64);
        _validationRows = 0;
        _generatedSum?.Dispose();
        _generatedOuter?.Dispose();
        _generatedSum = zeros(d, dtype: ScalarType.Float64);
        _generatedOuter = zeros(d, d, dtype: ScalarType.Float64);
        _generatedRows = 0;
        _evaluatedRows = 0;
        _generatedDone = false;
    }

    /// <summary>The losses on a validation batch (fresh noise from the evaluation generator); accumulates its moments.</summary>
    public override Tensor EvaluateBatch(Tensor batch)
    {
        var (units, c) = _network.Split(batch);
        var x = _network.FromUnits(units);
        var z = randn(new long[] { x.shape[0], _network.Architecture.LatentDimension }, generator: _evaluationNoise);
        var fake = _network.Generate(z, averaged: false, c);
        var real = _network.Discriminate(x, c);
        var fakeScore = _network.Discriminate(fake, c);
        var discriminatorLoss = AdversarialLosses.DiscriminatorLoss(_kind, real, fakeScore);
        var generatorLoss = AdversarialLosses.GeneratorLoss(_kind, fakeScore);
        Accumulate(x, _validationSum!, _validationOuter!);
        _validationRows += x.shape[0];
        // The row's index among all validation rows (with sharded data, of every rank's shard in rank order).
        long first = (Shard?.RowOffset ?? 0) + _evaluatedRows;
        _evaluatedRows += x.shape[0];
        if (c is not null && first < _maximumValidationSamples)
        {
            // The sampling generator's rows for the same conditions, for the Fréchet distance: the first
            // MaximumValidationSamples validation rows, each with the z of its index, whatever the batches or shards.
            long n = Math.Min(x.shape[0], _maximumValidationSamples - first);
            Accumulate(_network.Generate(FrechetNoise(first, n), averaged: true, c.narrow(0, 0, n)), _generatedSum!, _generatedOuter!);
            _generatedRows += n;
        }
        return stack(new[]
        {
            discriminatorLoss, generatorLoss, Score(real), Score(fakeScore),
            full_like(discriminatorLoss, double.NaN), zeros_like(discriminatorLoss),
        }).to_type(ScalarType.Float32);
    }

    /// <summary>
    /// z for the Fréchet distance's generated rows <paramref name="start"/> … <paramref name="start"/> +
    /// <paramref name="count"/> − 1: row g is row g mod 512 of chunk ⌊g / 512⌋, drawn from a generator seeded by the
    /// evaluation seed and the chunk's index. A row gets the same z whatever the validation batches, the shards or the
    /// number of ranks, so that sharded validation reproduces the one-process figure; it does not depend on the
    /// noise the validation losses drew either. Shape [count, L].
    /// </summary>
    private Tensor FrechetNoise(long start, long count)
    {
        int latent = _network.Architecture.LatentDimension;
        var parts = new List<Tensor>();
        long end = start + count;
        for (long k = start / FrechetChunk; k * FrechetChunk < end; k++)
        {
            _frechetNoise.manual_seed(unchecked((long)((_evaluationSeed * 0x9E3779B97F4A7C15UL + (ulong)k + 1) >> 1)));
            using var chunk = randn(new long[] { FrechetChunk, latent }, generator: _frechetNoise);
            long from = Math.Max(start, k * FrechetChunk), to = Math.Min(end, (k + 1) * FrechetChunk);
            parts.Add(chunk.narrow(0, from - k * FrechetChunk, to - from));
        }
        return parts.Count == 1 ? parts[0] : cat(parts, 0);
    }

    /// <summary>
    /// An unconditional model's generated moments: rows 0 … <paramref name="count"/> − 1 from the sampling generator,
    /// by chunks of 512; of those, the chunks k with k mod <paramref name="size"/> = <paramref name="rank"/> (sharded
    /// validation splits the work over the ranks and adds the sums up).
    /// </summary>
    private void GenerateUnconditional(long count, int rank, int size)
    {
        using var noGrad = no_grad();
        for (long k = rank; k * FrechetChunk < count; k += size)
        {
            using var batchScope = NewDisposeScope();
            long n = Math.Min(FrechetChunk, count - k * FrechetChunk);
            Accumulate(_network.Generate(FrechetNoise(k * FrechetChunk, n), averaged: true), _generatedSum!, _generatedOuter!);
            _generatedRows += n;
        }
        _generatedDone = true;
    }

    /// <summary>
    /// Sharded validation: this rank's Σx, Σxxᵀ and row count of the validation rows and of the generated rows (an
    /// unconditional model generates its share of the min(all validation rows, MaximumValidationSamples) rows here),
    /// to be summed over the ranks.
    /// </summary>
    public override double[]? EvaluationStatistics()
    {
        if (_network.ConditionWidth == 0 && Shard is { } shard)
            GenerateUnconditional(Math.Min(shard.TotalRows, _maximumValidationSamples), shard.Rank, shard.Size);
        return _validationSum!.data<double>().ToArray()
            .Concat(_validationOuter!.data<double>().ToArray()).Append(_validationRows)
            .Concat(_generatedSum!.data<double>().ToArray())
            .Concat(_generatedOuter!.data<double>().ToArray()).Append(_generatedRows).ToArray();
    }

    /// <summary>The moments of every shard (the layout of <see cref="EvaluationStatistics"/>).</summary>
    public override void SetEvaluationStatistics(double[] sums)
    {
        int d = _network.Architecture.InputDimension;
        int offset = 0;
        void Take(Tensor target, int length)
        {
            using var values = tensor(sums.AsSpan(offset, length).ToArray(), ScalarType.Float64);
            using var shaped = values.view(target.shape);
            target.copy_(shaped);
            offset += length;
        }
        Take(_validationSum!, d);
        Take(_validationOuter!, d * d);
        _validationRows = (long)sums[offset++];
        Take(_generatedSum!, d);
        Take(_generatedOuter!, d * d);
        _generatedRows = (long)sums[offset];
    }

    /// <summary>
    /// The validation Fréchet distance: between the Gaussian fits of the validation rows and of as many rows (at most
    /// <see cref="GenerativeAdversarialNetworkOptions.MaximumValidationSamples"/>) from the sampling generator, both
    /// in the generator's range (each feature mapped by the output map), so that no feature's units dominate. A
    /// conditional model's rows are generated with the first validation rows' own conditions. With sharded data the
    /// moments are those of every shard (<see cref="EvaluationStatistics"/>), so the figure is the one one process
    /// computes over all validation rows.
    /// </summary>
    public override void EndEvaluation(double[] losses)
    {
        if (_validationRows < 2)
        {
            losses[FrechetIndex] = double.NaN;
            return;
        }
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        // A conditional model's rows were generated with the validation rows' conditions in EvaluateBatch.
        if (_network.ConditionWidth == 0 && !_generatedDone)
            GenerateUnconditional(Math.Min(_validationRows, _maximumValidationSamples), 0, 1);
        if (_generatedRows < 2)
        {
            losses[FrechetIndex] = double.NaN;
            return;
        }
        var (mean1, cov1) = Moments(_validationSum!, _validationOuter!, _validationRows);
        var (mean2, cov2) = Moments(_generatedSum!, _generatedOuter!, _generatedRows);
        losses[FrechetIndex] = FrechetDistance.Compute(mean1, cov1, mean2, cov2);
    }

    private static void Accumulate(Tensor rows, Tensor sum, Tensor outer)
    {
        using var scope = NewDisposeScope();
        var x = rows.to_type(ScalarType.Float64);
        sum.add_(x.sum(Rows));
        outer.add_(x.t().mm(x));
    }

    /// <summary>Mean and unbiased covariance (divisor n − 1) from Σx and Σxxᵀ.</summary>
    private static (double[] Mean, double[,] Covariance) Moments(Tensor sum, Tensor outer, long n)
    {
        using var scope = NewDisposeScope();
        var mean = sum.div(n);
        var covariance = outer.sub(mean.outer(mean).mul(n)).div_(n - 1);
        int d = (int)mean.shape[0];
        var meanValues = mean.data<double>().ToArray();
        var flat = covariance.data<double>().ToArray();
        var result = new double[d, d];
        Buffer.BlockCopy(flat, 0, result, 0, flat.Length * sizeof(double));
        return (meanValues, result);
    }

    public override void Dispose()
    {
        _network.SetDropoutGenerator(null);
        _generatorOptimizer.Dispose();
        _discriminatorOptimizer.Dispose();
        _evaluationNoise.Dispose();
        _frechetNoise.Dispose();
        _validationSum?.Dispose();
        _validationOuter?.Dispose();
        _generatedSum?.Dispose();
        _generatedOuter?.Dispose();
        _epochDiscriminatorLoss.Dispose();
    }
}
