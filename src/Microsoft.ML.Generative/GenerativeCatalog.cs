using Microsoft.ML.Generative.Autoregressive;
using Microsoft.ML.Generative.Evaluation;
using Microsoft.ML.Generative.Flows;
using Microsoft.ML.Generative.Gan;
using Microsoft.ML.Generative.Losses;
using Microsoft.ML.Generative.Vae;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Generative;

/// <summary>Entry point: <c>mlContext.Generative()</c>.</summary>
public static class GenerativeCatalogExtensions
{
    /// <summary>The catalog of generative model estimators.</summary>
    public static GenerativeCatalog Generative(this MLContext mlContext)
    {
        Contracts.CheckValue(mlContext, nameof(mlContext));
        return new GenerativeCatalog(mlContext);
    }
}

/// <summary>Generative model estimators: every family hangs off this catalog.</summary>
public sealed partial class GenerativeCatalog
{
    internal GenerativeCatalog(IHostEnvironment environment) => Environment = environment;

    internal IHostEnvironment Environment { get; }

    /// <summary>
    /// A variational autoencoder over the <paramref name="featureColumnName"/> column.
    /// </summary>
    /// <param name="featureColumnName">Input: a known-size vector of <see cref="float"/>.</param>
    /// <param name="latentDimension">Size of the latent code.</param>
    /// <param name="likelihood">Reconstruction likelihood; <see cref="VaeLikelihood.Bernoulli"/> needs values in [0, 1].</param>
    /// <param name="numberOfEpochs">Passes over the training data.</param>
    /// <param name="batchSize">Rows per optimizer step.</param>
    /// <param name="learningRate">Adam step size.</param>
    /// <example>
    /// <code>
    /// var vae = mlContext.Generative().VariationalAutoencoder("Features", latentDimension: 8);
    /// var model = mlContext.Transforms.NormalizeMinMax("Features", fixZero: false).Append(vae).Fit(data);
    /// </code>
    /// See <c>examples/Microsoft.ML.Generative.Examples</c> for a runnable program.
    /// </example>
    public VariationalAutoencoderEstimator VariationalAutoencoder(
        string featureColumnName = Training.GenerativeTrainerOptions.Defaults.FeatureColumnName,
        int latentDimension = VariationalAutoencoderOptions.Defaults.LatentDimension,
        VaeLikelihood likelihood = VaeLikelihood.Bernoulli,
        int numberOfEpochs = Training.GenerativeTrainerOptions.Defaults.NumberOfEpochs,
        int batchSize = Training.GenerativeTrainerOptions.Defaults.BatchSize,
        double learningRate = Training.GenerativeTrainerOptions.Defaults.LearningRate)
        => new(Environment, new VariationalAutoencoderOptions
        {
            FeatureColumnName = featureColumnName,
            LatentDimension = latentDimension,
            Likelihood = likelihood,
            NumberOfEpochs = numberOfEpochs,
            BatchSize = batchSize,
            LearningRate = learningRate,
        });

    /// <summary>A variational autoencoder with every setting given by <paramref name="options"/>.</summary>
    public VariationalAutoencoderEstimator VariationalAutoencoder(VariationalAutoencoderOptions options)
        => new(Environment, options);

    /// <summary>
    /// Compares generated rows with real ones: Fréchet distance, MMD² with a permutation test, per-feature
    /// Kolmogorov–Smirnov / total-variation distances, correlation distance, precision / recall / density /
    /// coverage, a detection AUC and, when <see cref="GenerativeEvaluationOptions.Training"/> is given,
    /// memorization (distances to the closest training record).
    /// </summary>
    /// <param name="real">Real rows, held out from training when memorization is measured.</param>
    /// <param name="generated">Generated rows (e.g. a model's <c>Sample</c>), with the same feature column.</param>
    /// <param name="featureColumnName">In both: a known-size vector of <see cref="float"/>, the same width.</param>
    /// <param name="options">Settings; <see langword="null"/> for the defaults (seed from the <see cref="MLContext"/>).</param>
    /// <returns>The metrics; print them, or <see cref="GenerativeMetrics.SavePlots"/>.</returns>
    /// <exception cref="System.ArgumentException">A missing or mistyped column, different widths, fewer rows than
    /// <see cref="GenerativeEvaluationOptions.NearestNeighbors"/> + 1, a NaN/∞ value (row and slot named), an
    /// embedding without a known-size float vector output, or an invalid option.</exception>
    /// <example>
    /// <code>
    /// GenerativeMetrics m = ml.Generative().Evaluate(real: test, generated: vae.Sample(2000, seed: 1), featureColumnName: "Features",
    ///     options: new GenerativeEvaluationOptions { Training = train, Seed = 1 });
    /// Console.WriteLine(m);
    /// m.SavePlots("artifacts/eval");
    /// </code>
    /// </example>
    public GenerativeMetrics Evaluate(IDataView real, IDataView generated,
        string featureColumnName = Training.GenerativeTrainerOptions.Defaults.FeatureColumnName,
        GenerativeEvaluationOptions? options = null)
        => GenerativeEvaluator.Evaluate(Environment, real, generated, featureColumnName, options);

    /// <summary>
    /// A normalizing flow over the <paramref name="featureColumnName"/> column: an exact density p(x), trained by
    /// maximum likelihood, that scores rows (<c>LogLikelihood</c>, <c>Score</c> = −log p(x), <c>Latent</c>) and samples
    /// new rows in the column's original units. Features are standardized inside the model (see
    /// <see cref="NormalizingFlowOptions.Standardize"/>).
    /// </summary>
    /// <param name="featureColumnName">Input: a known-size vector of <see cref="float"/>.</param>
    /// <param name="architecture">Layer type: neural spline (default), RealNVP or masked autoregressive.</param>
    /// <param name="numberOfLayers">Number of flow layers.</param>
    /// <param name="numberOfEpochs">Passes over the training data.</param>
    /// <param name="batchSize">Rows per optimizer step.</param>
    /// <param name="learningRate">Adam step size.</param>
    /// <example>
    /// <code>
    /// var flow = mlContext.Generative().NormalizingFlow("Features", FlowArchitecture.NeuralSpline, numberOfEpochs: 50);
    /// var model = mlContext.Transforms.Concatenate("Features", "X", "Y").Append(flow).Fit(data);
    /// </code>
    /// See <c>examples/Microsoft.ML.Generative.Examples.Flows</c> for a runnable program.
    /// </example>
    public NormalizingFlowEstimator NormalizingFlow(
        string featureColumnName = Training.GenerativeTrainerOptions.Defaults.FeatureColumnName,
        FlowArchitecture architecture = NormalizingFlowOptions.Defaults.Architecture,
        int numberOfLayers = NormalizingFlowOptions.Defaults.NumberOfLayers,
        int numberOfEpochs = Training.GenerativeTrainerOptions.Defaults.NumberOfEpochs,
        int batchSize = Training.GenerativeTrainerOptions.Defaults.BatchSize,
        double learningRate = Training.GenerativeTrainerOptions.Defaults.LearningRate)
        => new(Environment, new NormalizingFlowOptions
        {
            FeatureColumnName = featureColumnName,
            Architecture = architecture,
            NumberOfLayers = numberOfLayers,
            NumberOfEpochs = numberOfEpochs,
            BatchSize = batchSize,
            LearningRate = learningRate,
        });

    /// <summary>A normalizing flow with every setting given by <paramref name="options"/>.</summary>
    public NormalizingFlowEstimator NormalizingFlow(NormalizingFlowOptions options)
        => new(Environment, options);

    /// <summary>
    /// A generative adversarial network over the <paramref name="featureColumnName"/> column: a generator that maps
    /// noise to rows like the training rows (in their own units), trained against a discriminator.
    /// </summary>
    /// <param name="featureColumnName">Input: a known-size vector of <see cref="float"/>, in any units.</param>
    /// <param name="latentDimension">Size of the generator's noise vector.</param>
    /// <param name="loss">The adversarial objective; <see cref="AdversarialLoss.Wasserstein"/> gets a gradient penalty (λ = 10) and 5 critic steps.</param>
    /// <param name="numberOfEpochs">Passes over the training data.</param>
    /// <param name="batchSize">Rows per step.</param>
    /// <param name="learningRate">Adam step size of both networks (β₁ = 0.5, β₂ = 0.999).</param>
    /// <example>
    /// <code>
    /// var gan = mlContext.Generative().GenerativeAdversarialNetwork("Features", numberOfEpochs: 50);
    /// var model = gan.Fit(data);
    /// IDataView synthetic = model.Sample(1000, seed: 7);
    /// </code>
    /// See <c>examples/Microsoft.ML.Generative.Examples.Gan</c> for a runnable program.
    /// </example>
    public GenerativeAdversarialNetworkEstimator GenerativeAdversarialNetwork(
        string featureColumnName = Training.GenerativeTrainerOptions.Defaults.FeatureColumnName,
        int latentDimension = GenerativeAdversarialNetworkOptions.Defaults.LatentDimension,
        AdversarialLoss loss = AdversarialLoss.NonSaturating,
        int numberOfEpochs = Training.GenerativeTrainerOptions.Defaults.NumberOfEpochs,
        int batchSize = Training.GenerativeTrainerOptions.Defaults.BatchSize,
        double learningRate = GenerativeAdversarialNetworkOptions.Defaults.LearningRate)
        => new(Environment, new GenerativeAdversarialNetworkOptions
        {
            FeatureColumnName = featureColumnName,
            LatentDimension = latentDimension,
            Loss = loss,
            NumberOfEpochs = numberOfEpochs,
            BatchSize = batchSize,
            LearningRate = learningRate,
        });

    /// <summary>A generative adversarial network with every setting given by <paramref name="options"/>.</summary>
    public GenerativeAdversarialNetworkEstimator GenerativeAdversarialNetwork(GenerativeAdversarialNetworkOptions options)
        => new(Environment, options);

    /// <summary>
    /// A next-token model (causal Transformer, GRU or LSTM) of the sequences in <paramref name="inputColumnName"/>:
    /// scores each sequence's log-likelihood and generates new ones.
    /// </summary>
    /// <param name="inputColumnName">Input: a String column, or a vector of keys (TokenizeIntoCharactersAsKeys, or TokenizeIntoWords + MapValueToKey).</param>
    /// <param name="architecture">The network.</param>
    /// <param name="tokenization">How a String column is split into tokens.</param>
    /// <param name="contextLength">The longest training window, in tokens.</param>
    /// <param name="numberOfEpochs">Passes over the training data.</param>
    /// <param name="batchSize">Sequences (windows) per optimizer step.</param>
    /// <param name="learningRate">Peak AdamW step size (warm-up + cosine schedule).</param>
    /// <example>
    /// <code>
    /// var model = mlContext.Generative().AutoregressiveModel("Name", contextLength: 32).Fit(names);
    /// string name = model.Complete("mar", temperature: 0.8, seed: 1);
    /// </code>
    /// See <c>examples/Microsoft.ML.Generative.Examples.Autoregressive</c> for a runnable program.
    /// </example>
    public AutoregressiveModelEstimator AutoregressiveModel(
        string inputColumnName = AutoregressiveModelOptions.Defaults.InputColumnName,
        SequenceArchitecture architecture = SequenceArchitecture.Transformer,
        Tokenization tokenization = Tokenization.Characters,
        int contextLength = AutoregressiveModelOptions.Defaults.ContextLength,
        int numberOfEpochs = Training.GenerativeTrainerOptions.Defaults.NumberOfEpochs,
        int batchSize = AutoregressiveModelOptions.Defaults.BatchSize,
        double learningRate = AutoregressiveModelOptions.Defaults.LearningRate)
        => new(Environment, new AutoregressiveModelOptions
        {
            InputColumnName = inputColumnName,
            Architecture = architecture,
            Tokenization = tokenization,
            ContextLength = contextLength,
            NumberOfEpochs = numberOfEpochs,
            BatchSize = batchSize,
            LearningRate = learningRate,
        });

    /// <summary>A next-token sequence model with every setting given by <paramref name="options"/>.</summary>
    public AutoregressiveModelEstimator AutoregressiveModel(AutoregressiveModelOptions options)
        => new(Environment, options);
}
