using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Gan;
using Microsoft.ML.Generative.Persistence;
using Microsoft.ML.Generative.Scoring;
using Microsoft.ML.Generative.Training;
using Microsoft.ML.Runtime;
using TorchSharp;
using static TorchSharp.torch;

[assembly: LoadableClass(typeof(GenerativeAdversarialNetworkTransformer), null, typeof(SignatureLoadModel),
    "Generative Adversarial Network", GenerativeAdversarialNetworkTransformer.LoaderSignature)]
[assembly: LoadableClass(typeof(IRowMapper), typeof(GenerativeAdversarialNetworkTransformer), null, typeof(SignatureLoadRowMapper),
    "Generative Adversarial Network", GenerativeAdversarialNetworkTransformer.LoaderSignature)]

namespace Microsoft.ML.Generative.Gan;

/// <summary>
/// A trained generative adversarial network. <see cref="Sample(int, int)"/> draws new rows in the units of the feature
/// column, <see cref="Generate(IReadOnlyList{float[]})"/> maps given noise vectors to rows, and <see cref="GenerativeTransformerBase.Transform"/>
/// adds a <c>DiscriminatorScore</c> column.
/// </summary>
/// <remarks>
/// <para><b>Sampling.</b> Rows are G(z) for z ~ N(0, I) of <see cref="LatentDimension"/> values, mapped back to the
/// column's units by the per-feature map learned in <c>Fit</c> (x_j = c_j + h_j·G(z)_j). With a generator moving
/// average (the default), the averaged generator is used.</para>
/// <para><b>What DiscriminatorScore means.</b> It is D's raw output on the row (mapped like the training rows): a
/// realness logit for the cross-entropy losses (σ(score) is the discriminator's probability that the row is real),
/// a critic score for the Wasserstein and hinge losses, a regression output for least squares; higher means "looks
/// more like the training data to this discriminator". <b>What it does not mean:</b> it is not a likelihood or a
/// calibrated anomaly score. At the end of training D is tuned to the generator's current mistakes, not to the data
/// distribution; its scale depends on the loss, the run and the seed, so compare scores only within one model, and
/// prefer a VAE's or a flow's score for anomaly detection.</para>
/// <para><b>Numbers.</b> <c>PredictionEngine</c> (one row) and <c>Transform</c> (batches of rows) give the same
/// scores up to the last bits (libtorch's matrix products depend on the batch shape). Several threads may score and
/// sample at once.</para>
/// <para><b>Conditional GANs</b> (trained with <see cref="GenerativeAdversarialNetworkOptions.ConditionColumnName"/>)
/// draw rows given a condition with <see cref="Sample(int, object, int?)"/> (a key value) or
/// <see cref="Sample(int, float[], int?)"/> (a vector condition): G([z, c]) for every row. <c>Transform</c> scores
/// each row given its own condition column, D(x, c).</para>
/// </remarks>
public sealed class GenerativeAdversarialNetworkTransformer : GenerativeTransformerBase, IDisposable
{
    internal const string LoaderSignature = "GenerativeGanTransformer";
    private const string ModelName = "generative adversarial network";

    private readonly GanNetwork _network;
    private readonly ScoringColumn[] _columns;

    internal GenerativeAdversarialNetworkTransformer(IHostEnvironment env, GanNetwork network, string featureColumnName,
        string discriminatorScoreColumnName, IReadOnlyList<EpochSummary> history, Data.ConditionEncoding? condition = null)
        : base(Contracts.CheckRef(env, nameof(env)).Register(nameof(GenerativeAdversarialNetworkTransformer)), featureColumnName,
            network.Architecture.InputDimension, condition)
    {
        _network = network;
        _network.eval();
        DiscriminatorScoreColumnName = discriminatorScoreColumnName;
        TrainingHistory = history;
        _columns = new[] { new ScoringColumn(discriminatorScoreColumnName, 0) };
    }

    /// <summary>Size of the noise vectors the generator maps to rows.</summary>
    public int LatentDimension => _network.Architecture.LatentDimension;

    /// <summary>Hidden layer sizes of the generator.</summary>
    public IReadOnlyList<int> GeneratorHiddenLayerSizes => _network.Architecture.GeneratorHiddenLayerSizes;

    /// <summary>Hidden layer sizes of the discriminator.</summary>
    public IReadOnlyList<int> DiscriminatorHiddenLayerSizes => _network.Architecture.DiscriminatorHiddenLayerSizes;

    /// <summary>Whether sampling uses a moving average of the generator's weights.</summary>
    public bool UsesGeneratorAverage => _network.Architecture.GeneratorEma;

    /// <summary>Name of the discriminator score output column.</summary>
    public string DiscriminatorScoreColumnName { get; }

    /// <summary>
    /// Per-epoch training (and validation) figures, saved with the model: <c>Loss</c> (discriminator),
    /// <c>GeneratorLoss</c>, <c>RealScore</c>, <c>FakeScore</c>, <c>Penalty</c>, <c>FrechetDistance</c> (validation only).
    /// </summary>
    public IReadOnlyList<EpochSummary> TrainingHistory { get; }

    internal GanNetwork Network => _network;

    internal override ScoringColumn[] ScoringColumns => _columns;

    internal override void ScoreBatch(float[] features, int count, float[]?[] outputs)
    {
        if (outputs[0] is not float[] score)
            return;
        int w = RowWidth;
        using var scope = NewDisposeScope();
        using var inference = inference_mode();
        // Shares the caller's array (pinned while the tensor lives): no copy. Rows are [x, c] for a conditional model.
        var rows = frombuffer(features, ScalarType.Float32, (long)count * w).view(count, w);   // [B, D + C]
        var (x, c) = _network.Split(rows);
        _network.Discriminate(_network.FromUnits(x), c).data<float>().CopyTo(score.AsSpan(0, count));   // [B, 1]
    }

    /// <summary>
    /// Draws <paramref name="count"/> new rows: z ~ N(0, I), G(z) (the averaged generator when kept), mapped to the
    /// feature column's units. The result has one column named like the feature column, a vector of
    /// <see cref="GenerativeTransformerBase.InputDimension"/> floats.
    /// </summary>
    /// <param name="count">Rows to draw; positive.</param>
    /// <param name="seed">Seed of the draw; the same seed gives the same rows.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is not positive.</exception>
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
    /// Draws <paramref name="count"/> rows of a conditional GAN given one value of its key condition: G([z, c]) with
    /// z ~ N(0, I) and c the value's one-hot code, in the feature column's units. The result has one column named
    /// like the feature column.
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
    /// Draws <paramref name="count"/> rows of a GAN conditioned on a float vector column, given one condition vector
    /// (<see cref="GenerativeTransformerBase.ConditionColumnName"/>'s size, finite values).
    /// </summary>
    /// <exception cref="ArgumentException">The vector has the wrong size or a non-finite value, or the model is not conditioned on a vector.</exception>
    public IDataView Sample(int count, float[] condition, int? seed = null)
        => SampleGiven(count, EncodeCondition(condition), ResolveSeed(seed));

    private IDataView SampleGiven(int count, float[]? condition, int seed)
    {
        CheckSampleCount(count);
        var rows = new float[count][];
        using var generator = new Generator((ulong)seed);
        var keys = SampleKeys(count, condition, generator);   // every row's key, drawn first when not given
        // In batches, so that a large draw does not hold every intermediate activation at once.
        for (int start = 0; start < count; start += ScoringBatchSize)
        {
            int n = Math.Min(ScoringBatchSize, count - start);
            using var scope = NewDisposeScope();
            using var inference = inference_mode();
            var z = randn(new long[] { n, LatentDimension }, generator: generator);   // [n, L]
            var c = SampleConditionRows(condition, keys, start, n);                   // [n, C] or null
            Split(GenerateUnits(z, c), rows, start);
        }
        return SampleView(rows, condition, keys);
    }

    /// <summary>
    /// The rows the generator makes from given noise vectors (the averaged generator when kept), in the feature
    /// column's units; for walking the latent space (interpolating between two codes, for example).
    /// </summary>
    /// <param name="latentCodes">Noise vectors of <see cref="LatentDimension"/> values each (training drew them from N(0, I)).</param>
    /// <returns>One row of <see cref="GenerativeTransformerBase.InputDimension"/> values per code.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="latentCodes"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A code is null, has the wrong length, or holds NaN or infinity.</exception>
    /// <exception cref="InvalidOperationException">The model is conditional: use an overload that takes the condition.</exception>
    public float[][] Generate(IReadOnlyList<float[]> latentCodes)
    {
        Host.CheckValue(latentCodes, nameof(latentCodes));
        CheckUnconditional("Generate(latentCodes)", "Call Generate(latentCodes, condition).");
        return GenerateGiven(latentCodes, null);
    }

    /// <summary>
    /// The rows a conditional generator makes from given noise vectors for one value of its key condition (see
    /// <see cref="Sample(int, object, int?)"/> for the forms the value may take): G([z, c]) in the feature column's units.
    /// </summary>
    /// <exception cref="ArgumentException">A code is malformed, or the condition is unknown (the message lists the known values).</exception>
    public float[][] Generate(IReadOnlyList<float[]> latentCodes, object condition)
    {
        Host.CheckValue(latentCodes, nameof(latentCodes));
        return GenerateGiven(latentCodes, EncodeCondition(condition));
    }

    /// <summary>The rows a GAN conditioned on a float vector column makes from given noise vectors for one condition vector.</summary>
    /// <exception cref="ArgumentException">A code is malformed, or the condition vector has the wrong size or a non-finite value.</exception>
    public float[][] Generate(IReadOnlyList<float[]> latentCodes, float[] condition)
    {
        Host.CheckValue(latentCodes, nameof(latentCodes));
        return GenerateGiven(latentCodes, EncodeCondition(condition));
    }

    private float[][] GenerateGiven(IReadOnlyList<float[]> latentCodes, float[]? condition)
    {
        int l = LatentDimension;
        var flat = new float[latentCodes.Count * l];
        for (int i = 0; i < latentCodes.Count; i++)
        {
            var code = latentCodes[i];
            Host.CheckParam(code is not null && code.Length == l, nameof(latentCodes),
                $"Code {i} must hold {l} values (LatentDimension); got {(code is null ? "null" : code.Length.ToString())}.");
            int bad = Array.FindIndex(code!, v => !float.IsFinite(v));
            Host.CheckParam(bad < 0, nameof(latentCodes), $"Code {i} holds {(bad < 0 ? 0 : code![bad])} at position {bad}; codes must be finite.");
            code!.CopyTo(flat, i * l);
        }
        var rows = new float[latentCodes.Count][];
        for (int start = 0; start < rows.Length; start += ScoringBatchSize)
        {
            int n = Math.Min(ScoringBatchSize, rows.Length - start);
            using var scope = NewDisposeScope();
            using var inference = inference_mode();
            var z = tensor(flat.AsSpan(start * l, n * l).ToArray(), new long[] { n, l });   // [n, L]
            var c = condition is null ? null : tensor(condition).unsqueeze(0).expand(n, condition.Length);   // [n, C]
            Split(GenerateUnits(z, c), rows, start);
        }
        return rows;
    }

    private Tensor GenerateUnits(Tensor z, Tensor? c = null) => _network.ToUnits(_network.Generate(z, averaged: true, c));

    private void Split(Tensor values, float[][] rows, int start)
    {
        int d = InputDimension;
        var flat = values.data<float>().ToArray();
        for (int i = 0; i < flat.Length / d; i++)
            rows[start + i] = flat.AsSpan(i * d, d).ToArray();
    }

    /// <summary>Releases the networks' native memory.</summary>
    public void Dispose()
    {
        MarkDisposed();
        _network.Dispose();
    }

    private static VersionInfo GetVersionInfo()
        => new(modelSignature: "GENGANTR",
            // 0x00010002: the condition (ConditionColumnName); 0x00010003: its key counts (Sample(count, seed) of a conditional model)
            verWrittenCur: 0x00010003,
            verReadableCur: 0x00010003,
            verWeCanReadBack: 0x00010001,
            loaderSignature: LoaderSignature,
            loaderAssemblyName: typeof(GenerativeAdversarialNetworkTransformer).Assembly.FullName);

    // Binary format (version 0x00010003), in write order:
    //   string   feature column name
    //   int32    input dimension D
    //   int32    latent dimension L
    //   int32    number of generator hidden layers, then that many int32 sizes
    //   int32    number of discriminator hidden layers, then that many int32 sizes
    //   int32    activation (GanActivation)
    //   double   discriminator dropout
    //   bool     spectral normalization
    //   bool     generator moving average kept
    //   int32    output scaling (GanOutputScaling)
    //   string   discriminator score column name
    //   history  ModelPersistence.SaveHistory
    //   condition ConditionEncoding.Save (a bool, then the condition when there is one; from version 0x00010002;
    //            from 0x00010003 a key condition's training counts follow)
    //   int32    discriminator conditioning (DiscriminatorConditioning), for a conditional model only
    //   entry    "TorchWeights": ModelPersistence.SaveWeights (G, its average, D with spectral-norm vectors, the output map)
    private protected override void SaveModel(ModelSaveContext ctx)
    {
        Host.CheckValue(ctx, nameof(ctx));
        var a = _network.Architecture;
        // CTGAN's network (packed critic, residual generator) is saved by the tabular synthesizer, in its own format.
        if (a.Pac != 1 || a.ResidualGenerator)
            throw Host.ExceptNotSupp("This GAN is part of a tabular synthesizer (CTGAN); save the TabularSynthesizerTransformer instead.");
        ctx.CheckAtModel();
        ctx.SetVersionInfo(GetVersionInfo());
        ctx.SaveNonEmptyString(FeatureColumnName);
        ctx.Writer.Write(a.InputDimension);
        ctx.Writer.Write(a.LatentDimension);
        WriteSizes(ctx.Writer, a.GeneratorHiddenLayerSizes);
        WriteSizes(ctx.Writer, a.DiscriminatorHiddenLayerSizes);
        ctx.Writer.Write((int)a.Activation);
        ctx.Writer.Write(a.DiscriminatorDropout);
        ctx.Writer.Write(a.SpectralNormalization);
        ctx.Writer.Write(a.GeneratorEma);
        ctx.Writer.Write((int)a.OutputScaling);
        ctx.SaveNonEmptyString(DiscriminatorScoreColumnName);
        ModelPersistence.SaveHistory(ctx.Writer, GanObjective.Names, TrainingHistory);
        Data.ConditionEncoding.Save(ctx.Writer, Condition);
        if (Condition is not null)
            ctx.Writer.Write((int)a.Conditioning);
        ModelPersistence.SaveWeights(ctx, _network);
    }

    // Reads the format written by SaveModel.
    private static GenerativeAdversarialNetworkTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        Contracts.CheckValue(env, nameof(env));
        env.CheckValue(ctx, nameof(ctx));
        ctx.CheckAtModel(GetVersionInfo());
        try
        {
            string feature = ctx.LoadNonEmptyString();
            int inputDimension = ModelPersistence.ReadInt32InRange(ctx.Reader, ModelName, "input dimension");
            int latentDimension = ModelPersistence.ReadInt32InRange(ctx.Reader, ModelName, "latent dimension");
            var generatorHidden = ReadSizes(ctx.Reader, "generator");
            var discriminatorHidden = ReadSizes(ctx.Reader, "discriminator");
            var activation = (GanActivation)ctx.Reader.ReadInt32();
            double dropout = ctx.Reader.ReadDouble();
            bool spectral = ctx.Reader.ReadBoolean();
            bool ema = ctx.Reader.ReadBoolean();
            var scaling = (GanOutputScaling)ctx.Reader.ReadInt32();
            if (!Enum.IsDefined(activation) || !Enum.IsDefined(scaling) || !(dropout >= 0 && dropout < 1))
                throw ModelPersistence.Corrupt(ModelName, $"unknown activation ({(int)activation}), output scaling ({(int)scaling}) or dropout ({dropout})");
            string score = ctx.LoadNonEmptyString();
            var history = ModelPersistence.LoadHistory(ctx.Reader, ModelName);
            var condition = ctx.Header.ModelVerWritten >= 0x00010002 ? Data.ConditionEncoding.Load(ctx.Reader, ModelName, withCounts: ctx.Header.ModelVerWritten >= 0x00010003) : null;
            var conditioning = DiscriminatorConditioning.Concatenation;
            if (condition is not null)
            {
                conditioning = (DiscriminatorConditioning)ctx.Reader.ReadInt32();
                if (!Enum.IsDefined(conditioning))
                    throw ModelPersistence.Corrupt(ModelName, $"unknown discriminator conditioning ({(int)conditioning})");
            }

            // Verify the weights against the header before any native allocation.
            var architecture = new GanArchitecture(inputDimension, latentDimension, generatorHidden, discriminatorHidden,
                activation, dropout, spectral, ema, scaling, condition?.Width ?? 0, conditioning);
            var network = ModelPersistence.LoadNetwork(ctx, architecture.ParameterCount, () => new GanNetwork(architecture), ModelName);
            return new GenerativeAdversarialNetworkTransformer(env, network, feature, score, history, condition);
        }
        catch (EndOfStreamException e)
        {
            throw ModelPersistence.Corrupt(ModelName, "the model's settings end early", e);
        }
    }

    private static IRowMapper Create(IHostEnvironment env, ModelLoadContext ctx, DataViewSchema inputSchema)
        => Create(env, ctx).MakeRowMapper(inputSchema);

    private static void WriteSizes(BinaryWriter writer, int[] sizes)
    {
        writer.Write(sizes.Length);
        foreach (int h in sizes)
            writer.Write(h);
    }

    private static int[] ReadSizes(BinaryReader reader, string network)
    {
        int count = reader.ReadInt32();
        if (count < 0 || count > 1024)
            throw ModelPersistence.Corrupt(ModelName, $"impossible number of {network} hidden layers ({count})");
        var sizes = new int[count];
        for (int i = 0; i < count; i++)
            sizes[i] = ModelPersistence.ReadInt32InRange(reader, ModelName, $"{network} hidden layer size");
        return sizes;
    }

}
