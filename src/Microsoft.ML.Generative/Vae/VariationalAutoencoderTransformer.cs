using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Losses;
using Microsoft.ML.Generative.Persistence;
using Microsoft.ML.Generative.Scoring;
using Microsoft.ML.Generative.Training;
using Microsoft.ML.Generative.Vae;
using Microsoft.ML.Runtime;
using TorchSharp;
using static TorchSharp.torch;

[assembly: LoadableClass(typeof(VariationalAutoencoderTransformer), null, typeof(SignatureLoadModel),
    "Variational Autoencoder", VariationalAutoencoderTransformer.LoaderSignature)]
[assembly: LoadableClass(typeof(IRowMapper), typeof(VariationalAutoencoderTransformer), null, typeof(SignatureLoadRowMapper),
    "Variational Autoencoder", VariationalAutoencoderTransformer.LoaderSignature)]

namespace Microsoft.ML.Generative.Vae;

/// <summary>
/// A trained variational autoencoder. <see cref="GenerativeTransformerCore.Transform"/> adds three columns: the
/// posterior mean (<c>Latent</c>), the decoder mean at that code (<c>Reconstruction</c>) and the per-row negative
/// ELBO in nats (<c>Score</c>, higher = more anomalous). It also samples new rows, encodes and decodes.
/// </summary>
/// <remarks>
/// <para>Score = −log p(x | z = μ(x)) + KL(q(z|x) ‖ N(0, I)): the negative ELBO with the reconstruction term taken at
/// the posterior mean rather than at a random draw, so that the same row always gets the same score. It is an
/// anomaly score in nats; for a stochastic, unbiased ELBO estimate use the validation loss of training.</para>
/// <para>Under the Bernoulli likelihood a value v outside [0, 1] has no likelihood (held-out data normalized with
/// the training set's minimum and maximum often lies a little outside). Such a value is scored at its nearest bound
/// plus softplus(|ℓ|) nats per unit of distance, where ℓ is the decoder's logit for that feature: one unit outside
/// costs as much as the least likely in-range value of that feature. The score stays finite, continuous at the
/// bounds and strictly increasing in the distance, so such rows rank as more anomalous the further out they lie.
/// Such rows are encoded and reconstructed at their values clamped into [0, 1]. A row with NaN scores NaN.</para>
/// <para>A conditional VAE (trained with <see cref="VariationalAutoencoderOptions.ConditionColumnName"/>) reads each
/// row's condition column as well: <c>Latent</c> is E[z | x, c], <c>Reconstruction</c> the decoder mean given c, and
/// <c>Score</c> the negative ELBO of x given c. A row whose key condition is missing gets NaN outputs.</para>
/// </remarks>
public sealed class VariationalAutoencoderTransformer : GenerativeTransformerBase, IDisposable
{
    internal const string LoaderSignature = "GenerativeVaeTransformer";
    private const string ModelName = "variational autoencoder";

    private readonly VaeNetwork _network;
    private readonly double _sigma;
    private readonly ScoringColumn[] _columns;

    internal VariationalAutoencoderTransformer(IHostEnvironment env, VaeNetwork network, string featureColumnName,
        double fixedStandardDeviation, string latentColumnName, string reconstructionColumnName, string scoreColumnName,
        IReadOnlyList<EpochSummary> history, Data.ConditionEncoding? condition = null)
        : base(Contracts.CheckRef(env, nameof(env)).Register(nameof(VariationalAutoencoderTransformer)), featureColumnName,
            network.Architecture.InputDimension, condition)
    {
        _network = network;
        _network.eval();
        _sigma = fixedStandardDeviation;
        LatentColumnName = latentColumnName;
        ReconstructionColumnName = reconstructionColumnName;
        ScoreColumnName = scoreColumnName;
        TrainingHistory = history;
        _columns = new[]
        {
            new ScoringColumn(latentColumnName, network.Architecture.LatentDimension),
            new ScoringColumn(reconstructionColumnName, network.Architecture.InputDimension),
            new ScoringColumn(scoreColumnName, 0),
        };
    }

    /// <summary>Size of the latent code.</summary>
    public int LatentDimension => _network.Architecture.LatentDimension;

    /// <summary>The reconstruction likelihood the model was trained with.</summary>
    public VaeLikelihood Likelihood => _network.Architecture.Likelihood;

    /// <summary>Hidden layer sizes of the encoder (the decoder mirrors them).</summary>
    public IReadOnlyList<int> HiddenLayerSizes => _network.Architecture.HiddenLayerSizes;

    /// <summary>Name of the posterior-mean output column.</summary>
    public string LatentColumnName { get; }

    /// <summary>Name of the reconstruction output column.</summary>
    public string ReconstructionColumnName { get; }

    /// <summary>Name of the score (negative ELBO) output column.</summary>
    public string ScoreColumnName { get; }

    /// <summary>Per-epoch training (and validation) losses, saved with the model.</summary>
    public IReadOnlyList<EpochSummary> TrainingHistory { get; }

    internal VaeNetwork Network => _network;

    internal override ScoringColumn[] ScoringColumns => _columns;

    internal override void ScoreBatch(float[] features, int count, float[]?[] outputs)
    {
        int d = InputDimension, w = RowWidth;
        using var scope = NewDisposeScope();
        using var inference = inference_mode();
        // Shares the caller's array (pinned while the tensor lives): no copy. Rows are [x, c] for a conditional model.
        var rows = frombuffer(features, ScalarType.Float32, (long)count * w).view(count, w);  // [B, D + C]
        var (raw, c) = _network.Split(rows);                                                   // [B, D], [B, C] or null
        bool outside = false;
        if (Likelihood == VaeLikelihood.Bernoulli)
        {
            // Checked on the managed rows, which are already in cache: the extra tensor work runs only for batches
            // that hold a value outside [0, 1].
            for (int i = 0; i < count && !outside; i++)
                outside = Data.FeatureRowReader.IndexOutside(features.AsSpan(i * w, d), 0f, 1f) >= 0;
        }
        // Under the Bernoulli likelihood, rows are encoded, reconstructed and scored at their values clamped into [0, 1].
        var x = outside ? raw.clamp(0f, 1f) : raw;
        var encoderInput = !outside ? rows : c is null ? x : cat(new[] { x, c }, 1);
        var (mu, logVar) = _network.Encode(encoderInput);                                     // [B, L] each
        if (outputs[0] is float[] latent)
            mu.data<float>().CopyTo(latent.AsSpan(0, count * LatentDimension));
        if (outputs[1] is null && outputs[2] is null)
            return;
        var decoded = _network.Decode(mu, c);                                                  // [B, D]
        if (outputs[1] is float[] reconstruction)
        {
            var mean = Likelihood == VaeLikelihood.Bernoulli ? decoded.sigmoid() : decoded;
            mean.data<float>().CopyTo(reconstruction.AsSpan(0, count * d));
        }
        if (outputs[2] is float[] score)
        {
            var nll = VaeObjective.ReconstructionNll(_network, decoded, x, _sigma)
                .add_(VaeLosses.KlDivergenceStandardNormal(mu, logVar, LossReduction.None));     // [B]
            if (outside)
            {
                // Plus softplus(|logit|) nats per unit of distance |v − clamp(v)|: one unit outside costs as much as the
                // least likely value in [0, 1] for that feature. Finite, continuous at the bounds, strictly increasing in
                // how far v lies outside. (The cross-entropy formula itself would go down, not up, for some v > 1,
                // hiding exactly these rows.)
                var distance = raw.sub(x).abs_();                                              // [B, D]; NaN stays NaN
                nll.add_(nn.functional.softplus(decoded.abs()).mul_(distance).sum(1));
            }
            nll.data<float>().CopyTo(score.AsSpan(0, count));
        }
    }

    /// <summary>
    /// Draws <paramref name="count"/> new rows: z ~ N(0, I), decoded to the decoder mean (probabilities for the
    /// Bernoulli likelihood). The result has one column named like the feature column.
    /// </summary>
    /// <param name="count">Rows to draw; positive.</param>
    /// <param name="seed">Seed of the draw; the same seed gives the same rows.</param>
    /// <remarks>
    /// A model conditioned on a key column draws each row's condition at its frequency in the training rows
    /// (<see cref="GenerativeTransformerBase.ConditionCounts"/>), then the row given it; the result then also has the
    /// condition column, as in training.
    /// </remarks>
    /// <exception cref="InvalidOperationException">The model is conditioned on a vector column (pass the condition to
    /// <see cref="Sample(int, float[], int?)"/>), or was saved before the condition counts were kept.</exception>
    public IDataView Sample(int count, int seed)
    {
        CheckConditionsCanBeDrawn();
        return SampleGiven(count, null, seed);
    }

    /// <summary>
    /// Draws <paramref name="count"/> rows of a conditional VAE given one value of its key condition: z ~ N(0, I),
    /// decoded with that condition to the decoder mean (probabilities for the Bernoulli likelihood). The result has
    /// one column named like the feature column.
    /// </summary>
    /// <param name="count">Rows to draw; positive.</param>
    /// <param name="condition">
    /// The condition value as its original type: the key value (a <see cref="string"/> for text, such as
    /// <c>"Gentoo"</c>; a number for numeric key values, such as <c>3f</c> for a key made from a float label), or
    /// ML.NET's raw key as a <see cref="uint"/> from 1 to the key's cardinality (see <see cref="GenerativeTransformerBase.ConditionValues"/>).
    /// </param>
    /// <param name="seed">Seed of the draw (the same seed and condition give the same rows); null draws one from the MLContext.</param>
    /// <exception cref="ArgumentException">The value is not one of the key's values (the message lists them), or
    /// the model is unconditional or conditioned on a vector.</exception>
    public IDataView Sample(int count, object condition, int? seed = null)
        => SampleGiven(count, EncodeCondition(condition), ResolveSeed(seed));

    /// <summary>
    /// Draws <paramref name="count"/> rows of a VAE conditioned on a float vector column, given one condition vector
    /// (<see cref="GenerativeTransformerBase.ConditionColumnName"/>'s size, finite values).
    /// </summary>
    /// <exception cref="ArgumentException">The vector has the wrong size or a non-finite value, or the model is not conditioned on a vector.</exception>
    public IDataView Sample(int count, float[] condition, int? seed = null)
        => SampleGiven(count, EncodeCondition(condition), ResolveSeed(seed));

    private IDataView SampleGiven(int count, float[]? condition, int seed)
    {
        CheckSampleCount(count);
        float[] values;
        uint[]? keys;
        using (var scope = NewDisposeScope())
        using (var inference = inference_mode())
        using (var generator = new Generator((ulong)seed))
        {
            keys = SampleKeys(count, condition, generator);                                   // drawn first when not given
            var z = randn(new long[] { count, LatentDimension }, generator: generator);       // [N, L]
            var c = SampleConditionRows(condition, keys, 0, count);                           // [N, C] or null
            values = _network.DecodeMean(z, c).data<float>().ToArray();                       // [N, D]
        }
        return SampleView(values, count, condition, keys);
    }

    /// <summary>The posterior means E[z|x] of rows of <see cref="GenerativeTransformerBase.InputDimension"/> features.</summary>
    public float[][] Encode(IReadOnlyList<float[]> rows)
    {
        Host.CheckValue(rows, nameof(rows));
        CheckUnconditional("Encode(rows)", "Encode each row given its own condition with Transform on rows that carry the condition column (the latent means are its Latent column).");
        return RunRows(rows, InputDimension, nameof(rows), x => _network.Encode(x).Mu);
    }

    /// <summary>Decoder means of latent codes of <see cref="LatentDimension"/> values (probabilities for Bernoulli).</summary>
    /// <exception cref="InvalidOperationException">The model is conditional: use an overload that takes the condition.</exception>
    public float[][] Decode(IReadOnlyList<float[]> latentCodes)
    {
        Host.CheckValue(latentCodes, nameof(latentCodes));
        CheckUnconditional("Decode(latentCodes)", "Call Decode(latentCodes, condition).");
        return RunRows(latentCodes, LatentDimension, nameof(latentCodes), z => _network.DecodeMean(z));
    }

    /// <summary>
    /// Decoder means of latent codes given one value of a conditional VAE's key condition (see
    /// <see cref="Sample(int, object, int?)"/> for the forms the value may take): p(x | z, c) for every code.
    /// </summary>
    /// <exception cref="ArgumentException">A code has the wrong length, or the condition is unknown (the message lists the known values).</exception>
    public float[][] Decode(IReadOnlyList<float[]> latentCodes, object condition)
        => DecodeGiven(latentCodes, EncodeCondition(condition));

    /// <summary>Decoder means of latent codes given one condition vector of a VAE conditioned on a float vector column.</summary>
    /// <exception cref="ArgumentException">A code has the wrong length, or the condition vector has the wrong size or a non-finite value.</exception>
    public float[][] Decode(IReadOnlyList<float[]> latentCodes, float[] condition)
        => DecodeGiven(latentCodes, EncodeCondition(condition));

    private float[][] DecodeGiven(IReadOnlyList<float[]> latentCodes, float[] condition)
    {
        Host.CheckValue(latentCodes, nameof(latentCodes));
        return RunRows(latentCodes, LatentDimension, nameof(latentCodes),
            z => _network.DecodeMean(z, tensor(condition).unsqueeze(0).expand(z.shape[0], condition.Length)));
    }

    private float[][] RunRows(IReadOnlyList<float[]> rows, int width, string paramName, Func<Tensor, Tensor> map)
    {
        ThrowIfDisposed();
        if (rows.Count == 0)
            return Array.Empty<float[]>();
        var flat = new float[rows.Count * width];
        for (int i = 0; i < rows.Count; i++)
        {
            Host.CheckParam(rows[i] is not null && rows[i].Length == width, paramName,
                $"Row {i} must hold {width} values; got {(rows[i] is null ? "null" : rows[i].Length.ToString())}.");
            rows[i].CopyTo(flat, i * width);
        }
        using var scope = NewDisposeScope();
        using var inference = inference_mode();
        var input = frombuffer(flat, ScalarType.Float32).view(rows.Count, width);
        var output = map(input);
        int outWidth = (int)output.shape[1];
        var values = output.data<float>().ToArray();
        var result = new float[rows.Count][];
        for (int i = 0; i < rows.Count; i++)
            result[i] = values.AsSpan(i * outWidth, outWidth).ToArray();
        return result;
    }

    /// <summary>Releases the network's native memory.</summary>
    public void Dispose()
    {
        MarkDisposed();
        _network.Dispose();
    }

    private static VersionInfo GetVersionInfo()
        => new(modelSignature: "GENVAETR",
            // 0x00010002: the condition (ConditionColumnName); 0x00010003: its key counts (Sample(count, seed) of a conditional model)
            verWrittenCur: 0x00010003,
            verReadableCur: 0x00010003,
            verWeCanReadBack: 0x00010001,
            loaderSignature: LoaderSignature,
            loaderAssemblyName: typeof(VariationalAutoencoderTransformer).Assembly.FullName);

    // Binary format (version 0x00010003), in write order:
    //   string   feature column name
    //   int32    input dimension D
    //   int32    latent dimension L
    //   int32    number of hidden layers H, then H × int32 hidden sizes
    //   int32    activation (VaeActivation)
    //   int32    likelihood (VaeLikelihood)
    //   double   fixed σ (used by GaussianFixedVariance)
    //   string   latent, reconstruction and score column names
    //   history  ModelPersistence.SaveHistory
    //   condition ConditionEncoding.Save (a bool, then the condition when there is one; from version 0x00010002;
    //            from 0x00010003 a key condition's training counts follow)
    //   entry    "TorchWeights": ModelPersistence.SaveWeights
    private protected override void SaveModel(ModelSaveContext ctx)
    {
        Host.CheckValue(ctx, nameof(ctx));
        ctx.CheckAtModel();
        ctx.SetVersionInfo(GetVersionInfo());
        var a = _network.Architecture;
        ctx.SaveNonEmptyString(FeatureColumnName);
        ctx.Writer.Write(a.InputDimension);
        ctx.Writer.Write(a.LatentDimension);
        ctx.Writer.Write(a.HiddenLayerSizes.Length);
        foreach (int h in a.HiddenLayerSizes)
            ctx.Writer.Write(h);
        ctx.Writer.Write((int)a.Activation);
        ctx.Writer.Write((int)a.Likelihood);
        ctx.Writer.Write(_sigma);
        ctx.SaveNonEmptyString(LatentColumnName);
        ctx.SaveNonEmptyString(ReconstructionColumnName);
        ctx.SaveNonEmptyString(ScoreColumnName);
        ModelPersistence.SaveHistory(ctx.Writer, VaeObjective.Names, TrainingHistory);
        Data.ConditionEncoding.Save(ctx.Writer, Condition);
        ModelPersistence.SaveWeights(ctx, _network);
    }

    // Reads the format written by SaveModel.
    private static VariationalAutoencoderTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        Contracts.CheckValue(env, nameof(env));
        env.CheckValue(ctx, nameof(ctx));
        ctx.CheckAtModel(GetVersionInfo());
        try
        {
            string feature = ctx.LoadNonEmptyString();
            int inputDimension = ModelPersistence.ReadInt32InRange(ctx.Reader, ModelName, "input dimension");
            int latentDimension = ModelPersistence.ReadInt32InRange(ctx.Reader, ModelName, "latent dimension");
            int hiddenCount = ctx.Reader.ReadInt32();
            if (hiddenCount < 0 || hiddenCount > 1024)
                throw ModelPersistence.Corrupt(ModelName, $"impossible number of hidden layers ({hiddenCount})");
            var hidden = new int[hiddenCount];
            for (int i = 0; i < hiddenCount; i++)
                hidden[i] = ModelPersistence.ReadInt32InRange(ctx.Reader, ModelName, "hidden layer size");
            var activation = (VaeActivation)ctx.Reader.ReadInt32();
            var likelihood = (VaeLikelihood)ctx.Reader.ReadInt32();
            if (!Enum.IsDefined(activation) || !Enum.IsDefined(likelihood))
                throw ModelPersistence.Corrupt(ModelName, $"unknown activation ({(int)activation}) or likelihood ({(int)likelihood})");
            double sigma = ctx.Reader.ReadDouble();
            string latent = ctx.LoadNonEmptyString();
            string reconstruction = ctx.LoadNonEmptyString();
            string score = ctx.LoadNonEmptyString();
            var history = ModelPersistence.LoadHistory(ctx.Reader, ModelName);
            var condition = ctx.Header.ModelVerWritten >= 0x00010002 ? Data.ConditionEncoding.Load(ctx.Reader, ModelName, withCounts: ctx.Header.ModelVerWritten >= 0x00010003) : null;

            // Verify the weights against the header before any native allocation.
            var architecture = new VaeArchitecture(inputDimension, latentDimension, hidden, activation, likelihood, condition?.Width ?? 0);
            var network = ModelPersistence.LoadNetwork(ctx, architecture.ParameterCount, () => new VaeNetwork(architecture), ModelName);
            return new VariationalAutoencoderTransformer(env, network, feature, sigma, latent, reconstruction, score, history, condition);
        }
        catch (EndOfStreamException e)
        {
            throw ModelPersistence.Corrupt(ModelName, "the model's settings end early", e);
        }
    }

    private static IRowMapper Create(IHostEnvironment env, ModelLoadContext ctx, DataViewSchema inputSchema)
        => Create(env, ctx).MakeRowMapper(inputSchema);

}
