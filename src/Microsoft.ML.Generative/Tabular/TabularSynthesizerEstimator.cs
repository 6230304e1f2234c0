using System;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Gan;
using Microsoft.ML.Generative.Losses;
using Microsoft.ML.Generative.Training;
using Microsoft.ML.Generative.Vae;
using TorchSharp;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Generative.Tabular;

/// <summary>
/// Learns a table — numbers, booleans, texts and keys, with missing values — and yields a
/// <see cref="TabularSynthesizerTransformer"/> that samples new rows with the same columns and types.
/// Create it with <c>mlContext.Generative().TabularSynthesizer(...)</c>.
/// </summary>
/// <remarks>
/// <para>Columns are modelled as in CTGAN and TVAE (Xu et al. 2019, "Modeling Tabular Data using Conditional GAN"):
/// each number column by mode-specific normalization (a Gaussian mixture fitted in <c>Fit</c> by EM, the number of
/// modes chosen by BIC up to <see cref="TabularSynthesizerOptions.MaximumModes"/> and modes lighter than
/// <see cref="TabularSynthesizerOptions.ModeWeightThreshold"/> pruned; a value becomes its mode, one-hot, and its
/// offset from the mode's mean in units of 4σ), each boolean, text or key column one-hot over the categories seen in
/// training. Missing numbers (NaN) are one more mode class, so they come back at their learned rate; an empty text
/// and the missing key (0) are categories like any other.</para>
/// <para><see cref="TabularModel.Tvae"/> trains the library's variational autoencoder (the VAE family's network,
/// objective, engine and optimizer) on those codes, with the per-column likelihood of <c>TvaeLikelihood</c> instead of
/// one likelihood for every feature. The encoder's hidden layers are <see cref="TabularSynthesizerOptions.HiddenLayerSizes"/>
/// with ReLU, the decoder mirrors them; Adam with L2 weight decay; as in CTGAN's TVAE the scalars' σ starts at 0.1 and
/// the reconstruction counts twice the KL term. Training runs <see cref="TabularSynthesizerOptions.NumberOfEpochs"/>
/// epochs, or more on small tables to reach <see cref="TabularSynthesizerOptions.MinimumTrainingSteps"/>.</para>
/// <para><see cref="TabularModel.Ctgan"/> trains the library's GAN (the GAN family's network, objective, engine and
/// optimizers) on the same codes with CTGAN's parts as hooks (Xu et al. 2019, §4): the conditional vector (one-hot over
/// every discrete column's categories) goes into G and, concatenated, into D; each training row picks a discrete column
/// uniformly, a category with probability ∝ log(1 + count) and a real row holding it (training-by-sampling, epochs of
/// max(⌊N/B⌋, 1) batches of B rows drawn with replacement); G is a stack of residual blocks
/// [ReLU(BatchNorm(W h + b)), h] whose outputs pass through tanh (scalars) and Gumbel-softmax with τ = 0.2 (one-hot
/// groups); G minimizes −D(G(z, c)) plus the cross-entropy of its conditioned column at the conditioned category; D
/// scores packs of <see cref="TabularSynthesizerOptions.Pac"/> rows (PacGAN, Lin et al. 2018), with LeakyReLU 0.2 and
/// dropout 0.5, and minimizes the Wasserstein loss plus 10× the gradient penalty (Gulrajani et al. 2017), one critic
/// step per generator step; Adam with β = (0.5, 0.9) for both.</para>
/// <para>Memory: the selected columns are read once and encoded into one float matrix (rows × encoded width) that
/// the training engine batches; the mixture of a column is fitted on at most
/// <see cref="TabularSynthesizerOptions.MaximumMixtureFitValues"/> of its values.</para>
/// </remarks>
public sealed class TabularSynthesizerEstimator : IEstimator<TabularSynthesizerTransformer>
{
    internal const string FeatureColumnName = "Features";
    private readonly IHost _host;
    private readonly TabularSynthesizerOptions _options;
    private readonly int _seed;

    internal TabularSynthesizerEstimator(IHostEnvironment env, TabularSynthesizerOptions options)
    {
        Contracts.CheckValue(env, nameof(env));
        _host = env.Register(nameof(TabularSynthesizerEstimator));
        _host.CheckValue(options, nameof(options));
        options.Check(_host);
        _options = options;
        _seed = options.Seed ?? _host.Rand.Next();
    }

    /// <summary>Fits the column models and the network to <paramref name="input"/>.</summary>
    /// <exception cref="ArgumentException">A column that cannot be modelled (type named), a table with fewer than 2
    /// rows, an all-missing column, a discrete column above <see cref="TabularSynthesizerOptions.MaximumCategories"/>,
    /// an infinite value, a missing column name, an invalid option.</exception>
    public TabularSynthesizerTransformer Fit(IDataView input)
    {
        _host.CheckValue(input, nameof(input));
        var options = _options;
        options.Check(_host);

        using var ch = _host.Start("Fitting tabular synthesizer");
        var (encoder, encoded, rows) = TabularEncoder.Fit(_host, ch, input, options, _seed);
        ch.Info("Encoded {0} rows of {1} columns into {2} values per row.", rows, encoder.Columns.Count, encoder.Dimension);

        var features = new float[rows][];
        for (int r = 0; r < rows; r++)
            features[r] = encoded.AsSpan(r * encoder.Dimension, encoder.Dimension).ToArray();
        var builder = new ArrayDataViewBuilder(_host);
        builder.AddColumn(FeatureColumnName, NumberDataViewType.Single, features);
        var view = builder.GetDataView();

        if (options.Model == TabularModel.Ctgan)
            return FitCtgan(ch, encoder, view, rows);

        int batch = Math.Min(options.BatchSize, rows);
        int batchesPerEpoch = (rows + batch - 1) / batch;
        int epochs = Math.Max(options.NumberOfEpochs, (options.EffectiveMinimumTrainingSteps + batchesPerEpoch - 1) / batchesPerEpoch);
        if (epochs > options.NumberOfEpochs)
            ch.Info("Training for {0} epochs instead of {1}: {2} batches per epoch, and at least MinimumTrainingSteps = {3} steps.",
                epochs, options.NumberOfEpochs, batchesPerEpoch, options.EffectiveMinimumTrainingSteps);
        var vaeOptions = new VariationalAutoencoderOptions
        {
            FeatureColumnName = FeatureColumnName,
            LatentDimension = options.LatentDimension,
            HiddenLayerSizes = options.EffectiveHiddenLayerSizes,
            Activation = VaeActivation.Relu,
            Likelihood = VaeLikelihood.GaussianLearnedVariance,
            // As CTGAN's TVAE: σ of the scalars starts at 0.1, and the reconstruction counts twice the KL term
            // (its loss_factor = 2, i.e. β = 0.5 up to the loss's scale).
            InitialOutputLogVariance = Math.Log(0.01),
            Beta = 0.5,
            NumberOfEpochs = epochs,
            BatchSize = batch,
            LearningRate = options.EffectiveLearningRate,
            Optimizer = GenerativeOptimizer.Adam,
            WeightDecay = options.EffectiveWeightDecay,
            Seed = _seed,
            Progress = options.Progress,
            CancellationToken = options.CancellationToken,
        };
        using var likelihood = new TvaeLikelihood(encoder);
        var vae = Train(() => new VariationalAutoencoderEstimator(_host, vaeOptions, likelihood.Nll).Fit(view));
        return new TabularSynthesizerTransformer(_host, encoder, vae, options.AllowExtrapolation, options.MaximumRejectionDraws);
    }

    /// <summary>
    /// CTGAN on the GAN family: the GAN estimator (engine, Adam, WGAN-GP, PacGAN critic, residual generator) with the
    /// tabular hooks: training-by-sampling batches carrying the conditional vector, tanh / Gumbel-softmax outputs,
    /// and the condition loss added to the generator's.
    /// </summary>
    private TabularSynthesizerTransformer FitCtgan(IChannel ch, TabularEncoder encoder, IDataView view, int rows)
    {
        var options = _options;
        var layout = new ConditionalVectorLayout(encoder);
        int batch = options.BatchSize;   // drawn with replacement: may exceed the rows (CTGAN's 500 on any table)
        int batchesPerEpoch = Math.Max(rows / batch, 1);
        int epochs = Math.Max(options.NumberOfEpochs, (options.EffectiveMinimumTrainingSteps + batchesPerEpoch - 1) / batchesPerEpoch);
        if (epochs > options.NumberOfEpochs)
            ch.Info("Training for {0} epochs instead of {1}: {2} batches per epoch, and at least MinimumTrainingSteps = {3} steps.",
                epochs, options.NumberOfEpochs, batchesPerEpoch, options.EffectiveMinimumTrainingSteps);
        ch.Info("CTGAN: conditional vector of {0} categories over {1} discrete columns; packs of {2} rows.", layout.Width, layout.Columns.Length, options.Pac);
        var ganOptions = new GenerativeAdversarialNetworkOptions
        {
            FeatureColumnName = FeatureColumnName,
            LatentDimension = options.LatentDimension,
            GeneratorHiddenLayerSizes = options.EffectiveHiddenLayerSizes,
            DiscriminatorHiddenLayerSizes = options.DiscriminatorHiddenLayerSizes.ToArray(),
            ResidualGenerator = true,
            Activation = GanActivation.LeakyRelu,
            DiscriminatorDropout = 0.5,
            Pac = options.Pac,
            DiscriminatorConditioning = DiscriminatorConditioning.Concatenation,
            Loss = AdversarialLoss.Wasserstein,
            GradientPenaltyWeight = 10,
            CriticStepsPerGeneratorStep = 1,
            // The encoded rows (α in [−1, 1], one-hot groups) are G's range already; the hooks apply the outputs.
            OutputScaling = GanOutputScaling.None,
            GeneratorEmaDecay = 0,
            // The divergence checks compare G's raw output with the data; CTGAN's raw output is logits and α before
            // tanh, so they would compare unlike things. A non-finite loss still fails Fit.
            DivergencePatience = 0,
            Optimizer = GenerativeOptimizer.Adam,
            LearningRate = options.EffectiveLearningRate,
            Beta1 = 0.5,
            Beta2 = 0.9,
            WeightDecay = options.EffectiveWeightDecay,
            NumberOfEpochs = epochs,
            BatchSize = batch,
            Seed = _seed,
            Progress = options.Progress,
            CancellationToken = options.CancellationToken,
        };
        using var gumbel = new torch.Generator((ulong)_seed + 11);
        var spans = encoder.Spans;
        var hooks = new GanTrainingHooks
        {
            TrainingBatches = train => new TrainingBySamplingSource(train, layout, batch),
            GeneratorOutput = raw => CtganOutput.Activate(raw, spans, CtganOutput.Temperature, gumbel),
            GeneratorLoss = layout.Width == 0 ? null : (raw, c) => CtganOutput.ConditionLoss(raw, c!, layout),
        };
        var gan = Train(() => new GenerativeAdversarialNetworkEstimator(_host, ganOptions, hooks).Fit(view));
        return new TabularSynthesizerTransformer(_host, encoder, gan, options.AllowExtrapolation, options.MaximumRejectionDraws);
    }

    /// <summary>
    /// Runs the family's Fit; a diverged loss is reported in the synthesizer's terms (its options; the columns are
    /// normalized by the synthesizer, so the family's advice to normalize an internal column would mislead).
    /// </summary>
    private T Train<T>(Func<T> fit)
    {
        try
        {
            return fit();
        }
        catch (NonFiniteLossException e)
        {
            throw new InvalidOperationException(
                $"Training the {_options.Model} synthesizer diverged: its {e.LossName} became {e.Value} at epoch {e.Epoch}, batch {e.Batch} "
                + $"(of {e.BatchesPerEpoch}); no model was produced. The synthesizer normalizes every column itself, so the usual cause is "
                + $"too large a step: lower LearningRate (now {_options.EffectiveLearningRate}), or check the table for extreme values in a column.", e);
        }
    }

    /// <summary>
    /// The synthesizer adds no columns: the output shape is the input's. Checks that the modelled columns exist and
    /// have types it can model.
    /// </summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        _host.CheckValue(inputSchema, nameof(inputSchema));
        if (_options.Columns is not null)
        {
            foreach (var name in _options.Columns)
            {
                if (!inputSchema.TryFindColumn(name, out var column))
                    throw _host.ExceptSchemaMismatch(nameof(inputSchema), "tabular", name);
                if (column.Kind != SchemaShape.Column.VectorKind.Scalar)
                    throw _host.ExceptParam(nameof(inputSchema), $"Column '{name}' cannot be modelled: it is a vector; the synthesizer models one value per column and row.");
            }
        }
        return inputSchema;
    }
}
