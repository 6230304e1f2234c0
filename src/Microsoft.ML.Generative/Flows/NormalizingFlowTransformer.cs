using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Flows;
using Microsoft.ML.Generative.Losses;
using Microsoft.ML.Generative.Persistence;
using Microsoft.ML.Generative.Scoring;
using Microsoft.ML.Generative.Training;
using Microsoft.ML.Runtime;
using TorchSharp;
using static TorchSharp.torch;

[assembly: LoadableClass(typeof(NormalizingFlowTransformer), null, typeof(SignatureLoadModel),
    "Normalizing Flow", NormalizingFlowTransformer.LoaderSignature)]
[assembly: LoadableClass(typeof(IRowMapper), typeof(NormalizingFlowTransformer), null, typeof(SignatureLoadRowMapper),
    "Normalizing Flow", NormalizingFlowTransformer.LoaderSignature)]

namespace Microsoft.ML.Generative.Flows;

/// <summary>
/// A trained normalizing flow: an exact density p(x) over rows of the feature column. <see cref="GenerativeTransformerBase.Transform"/>
/// adds <c>LogLikelihood</c> (log p(x), nats per row, in the input's original units), <c>Score</c> (−log p(x),
/// higher = more anomalous) and <c>Latent</c> (z = f(x), D floats in the base space N(0, I)). It also samples rows
/// in the original units (<see cref="Sample(int, int, double)"/>) and evaluates data sets (<see cref="Evaluate"/>).
/// </summary>
/// <remarks>
/// <para>log p(x) = log N(f(x); 0, I) + log|det ∂f/∂x|, f = flow layers ∘ standardization ∘ logit ∘ dequantization
/// (each present only when trained with it).</para>
/// <para>Rows the density does not cover never get a silent number: a row holding NaN gets LogLikelihood, Score and
/// Latent NaN; a row with probability 0 under the model (a ±∞ value; with <c>Dequantize</c>, a non-integer value;
/// with <c>LogitTransform</c>, a value outside its range; or a finite row so far from the data that its density
/// underflows) gets LogLikelihood −∞ and Score +∞ (Latent NaN when f(x) is undefined). Points beyond the spline
/// tail bound go through the identity tails and score finitely.</para>
/// <para>With <c>Dequantize</c>, LogLikelihood is the mean of log p(x + u_k) over the K fixed offsets u_k
/// (<c>DequantizationSamples</c>), a deterministic lower bound on log P(x); Latent is f(x + ½).</para>
/// <para><c>PredictionEngine</c> (one row) and the batched <c>Transform</c> agree to float rounding (about 1e-5
/// relative; libtorch's matrix products depend on the batch shape), not bit for bit.</para>
/// <para>A conditional flow (trained with <see cref="NormalizingFlowOptions.ConditionColumnName"/>) scores each row
/// given its own condition column: LogLikelihood = log p(x | c). A row whose key condition is missing gets NaN.
/// <see cref="Sample(int, object, int?, double)"/> and <see cref="Sample(int, float[], int?, double)"/> draw rows given a condition.</para>
/// </remarks>
public sealed class NormalizingFlowTransformer : GenerativeTransformerBase, IDisposable
{
    internal const string LoaderSignature = "GenerativeFlowTransform"; // ML.NET allows at most 24 characters
    private const string ModelName = "normalizing flow";

    private readonly FlowNetwork _network;
    private readonly ScoringColumn[] _columns;

    internal NormalizingFlowTransformer(IHostEnvironment env, FlowNetwork network, string featureColumnName,
        string logLikelihoodColumnName, string scoreColumnName, string latentColumnName, IReadOnlyList<EpochSummary> history,
        Data.ConditionEncoding? condition = null)
        : base(Contracts.CheckRef(env, nameof(env)).Register(nameof(NormalizingFlowTransformer)), featureColumnName,
            network.Shape.InputDimension, condition)
    {
        _network = network;
        _network.eval();
        LogLikelihoodColumnName = logLikelihoodColumnName;
        ScoreColumnName = scoreColumnName;
        LatentColumnName = latentColumnName;
        TrainingHistory = history;
        _columns = new[]
        {
            new ScoringColumn(logLikelihoodColumnName, 0),
            new ScoringColumn(scoreColumnName, 0),
            new ScoringColumn(latentColumnName, network.Shape.InputDimension),
        };
    }

    /// <summary>The layer type.</summary>
    public FlowArchitecture Architecture => _network.Shape.Architecture;

    /// <summary>Number of flow layers.</summary>
    public int NumberOfLayers => _network.Shape.NumberOfLayers;

    /// <summary>Hidden layer sizes of each layer's conditioner.</summary>
    public IReadOnlyList<int> HiddenLayerSizes => _network.Shape.HiddenLayerSizes;

    /// <summary>Per-feature mean of the standardization (zeros when trained without it), in the flow's input units.</summary>
    public IReadOnlyList<double> StandardizationMean => _network.Shift;

    /// <summary>Per-feature standard deviation of the standardization (ones when trained without it).</summary>
    public IReadOnlyList<double> StandardizationScale => _network.Scale;

    /// <summary>Whether the model treats the features as integers (see <see cref="NormalizingFlowOptions.Dequantize"/>).</summary>
    public bool Dequantize => _network.Preprocessing.Dequantize;

    /// <summary>Whether a logit transform precedes the flow (see <see cref="NormalizingFlowOptions.LogitTransform"/>).</summary>
    public bool LogitTransform => _network.Preprocessing.Logit;

    /// <summary>Name of the log-likelihood output column.</summary>
    public string LogLikelihoodColumnName { get; }

    /// <summary>Name of the score (negative log-likelihood) output column.</summary>
    public string ScoreColumnName { get; }

    /// <summary>Name of the latent (base-space) output column.</summary>
    public string LatentColumnName { get; }

    /// <summary>Per-epoch training (and validation) negative log-likelihoods, nats per row; saved with the model.</summary>
    public IReadOnlyList<EpochSummary> TrainingHistory { get; }

    internal FlowNetwork Network => _network;

    internal override ScoringColumn[] ScoringColumns => _columns;

    internal override void ScoreBatch(float[] features, int count, float[]?[] outputs)
    {
        int d = InputDimension, w = RowWidth;
        var pre = _network.Preprocessing;
        // Rows the density cannot take are replaced by zeros (inside every support) and overwritten afterwards. A
        // conditional model's rows are [x, c]: a row whose condition is missing (NaN) has no likelihood either.
        RowStatus[]? status = null;
        float[] input = features;
        for (int i = 0; i < count; i++)
        {
            var s = pre.Classify(features.AsSpan(i * w, d));
            if (s == RowStatus.Usable && w > d && Data.FeatureRowReader.IndexOfNonFinite(features.AsSpan(i * w + d, w - d)) >= 0)
                s = RowStatus.NotANumber;
            if (s == RowStatus.Usable)
                continue;
            if (status is null)
            {
                status = new RowStatus[count];
                input = features.AsSpan(0, count * w).ToArray();
            }
            status[i] = s;
            Array.Clear(input, i * w, w);
        }

        float[]? logLikelihood = outputs[0] ?? (outputs[1] is null ? null : new float[count]);
        using (var scope = NewDisposeScope())
        using (var inference = inference_mode())
        {
            var rows = frombuffer(input, ScalarType.Float32, (long)count * w).view(count, w);  // [B, D + C]
            var (x, c) = _network.Split(rows);                                                  // [B, D], [B, C] or null
            if (!pre.Dequantize)
            {
                // One forward pass gives both z (Latent) and the log-likelihood.
                var (y, preLogDet) = pre.Score(x, null);
                var (z, logDet) = _network.Forward(y, c);
                if (logLikelihood is not null)
                    LogLikelihood(z, logDet, preLogDet).data<float>().CopyTo(logLikelihood.AsSpan(0, count));
                if (outputs[2] is float[] latent)
                    z.data<float>().CopyTo(latent.AsSpan(0, count * d));
            }
            else
            {
                if (logLikelihood is not null)
                    DequantizedLogLikelihood(x, c, count).data<float>().CopyTo(logLikelihood.AsSpan(0, count));
                if (outputs[2] is float[] latent)
                {
                    var (y, _) = pre.Score(x, full(new long[] { 1, d }, 0.5f));             // Latent of f(x + ½)
                    _network.Forward(y, c).Z.data<float>().CopyTo(latent.AsSpan(0, count * d));
                }
            }
        }

        for (int i = 0; i < count; i++)
        {
            var s = status?[i] ?? RowStatus.Usable;
            if (logLikelihood is not null)
            {
                if (s == RowStatus.NotANumber)
                    logLikelihood[i] = float.NaN;
                else if (s == RowStatus.Impossible || float.IsNaN(logLikelihood[i]))
                    logLikelihood[i] = float.NegativeInfinity;   // probability 0, or a density that underflowed
                if (outputs[1] is float[] score)
                    score[i] = -logLikelihood[i];
            }
            if (s != RowStatus.Usable && outputs[2] is float[] latent)
                latent.AsSpan(i * d, d).Fill(float.NaN);
        }
    }

    /// <summary>Mean of log p(x + u_k) over the fixed offsets u_k, per row [B].</summary>
    private Tensor DequantizedLogLikelihood(Tensor x, Tensor? c, int count)
    {
        var pre = _network.Preprocessing;
        // All K offsets in one forward pass: row i of copy k is x_i + u_k, [K·B, D] (each with its condition).
        int k = pre.DequantizationSamples, d = InputDimension;
        var offsets = tensor(pre.Offsets, new long[] { k, d }).repeat_interleave(count, 0);
        var (yk, preLogDet) = pre.Score(x.repeat(k, 1), offsets);
        var (z, logDet) = _network.Forward(yk, c?.repeat(k, 1));
        return LogLikelihood(z, logDet, preLogDet).view(k, count).mean(new long[] { 0 });
    }

    /// <summary>log p(x) = log N(z; 0, I) + log|det| of the flow and of the maps before it, per row [B].</summary>
    private static Tensor LogLikelihood(Tensor z, Tensor logDet, Tensor? preLogDet)
    {
        if (preLogDet is not null)
            logDet = logDet + preLogDet;
        return FlowLosses.NegativeLogLikelihood(z, logDet, LossReduction.None).neg();
    }

    /// <summary>
    /// Draws <paramref name="count"/> rows from the model: z ~ N(0, I), x = f⁻¹(z), in the original units of the
    /// feature column (integers when trained with <c>Dequantize</c>; inside [0, 1] or [0, L − 1] with the logit
    /// transform). The result has one column named like the feature column. For <see cref="FlowArchitecture.MaskedAutoregressive"/>
    /// this takes D sequential passes.
    /// </summary>
    /// <param name="count">Rows to draw; positive.</param>
    /// <param name="seed">Seed of the draw; the same seed gives the same rows.</param>
    /// <param name="temperature">Standard deviation T of the base draw, z ~ N(0, T²I): 1 (default) samples the model's
    /// density; T &lt; 1 ("reduced-temperature sampling", Kingma &amp; Dhariwal 2018, Glow §5) trades variety for
    /// more typical rows. Finite and positive.</param>
    /// <remarks>
    /// A model conditioned on a key column draws each row's condition at its frequency in the training rows
    /// (<see cref="GenerativeTransformerBase.ConditionCounts"/>), then the row given it; the result then also has the
    /// condition column, as in training.
    /// </remarks>
    /// <exception cref="InvalidOperationException">The model is conditioned on a vector column (pass the condition to
    /// <see cref="Sample(int, float[], int?, double)"/>), or was saved before the condition counts were kept.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is not positive, or <paramref name="temperature"/> is not finite and positive.</exception>
    public IDataView Sample(int count, int seed, double temperature = 1.0)
    {
        CheckConditionsCanBeDrawn();
        return SampleGiven(count, null, seed, temperature);
    }

    /// <summary>
    /// Draws <paramref name="count"/> rows of a conditional flow given one value of its key condition:
    /// x = f⁻¹(z | c), z ~ N(0, I), in the feature column's original units.
    /// </summary>
    /// <param name="count">Rows to draw; positive.</param>
    /// <param name="condition">
    /// The condition value as its original type: the key value (a <see cref="string"/> for text, such as
    /// <c>"Gentoo"</c>; a number for numeric key values, such as <c>3f</c> for a key made from a float label), or
    /// ML.NET's raw key as a <see cref="uint"/> from 1 to the key's cardinality (see <see cref="GenerativeTransformerBase.ConditionValues"/>).
    /// </param>
    /// <param name="seed">Seed of the draw (the same seed and condition give the same rows); null draws one from the MLContext.</param>
    /// <param name="temperature">Standard deviation T of the base draw, z ~ N(0, T²I); see <see cref="Sample(int, int, double)"/>. Default 1.</param>
    /// <exception cref="ArgumentException">The value is not one of the key's values (the message lists them), or
    /// the model is unconditional or conditioned on a vector.</exception>
    public IDataView Sample(int count, object condition, int? seed = null, double temperature = 1.0)
        => SampleGiven(count, EncodeCondition(condition), ResolveSeed(seed), temperature);

    /// <summary>
    /// Draws <paramref name="count"/> rows of a flow conditioned on a float vector column, given one condition vector
    /// (<see cref="GenerativeTransformerBase.ConditionColumnName"/>'s size, finite values).
    /// </summary>
    /// <exception cref="ArgumentException">The vector has the wrong size or a non-finite value, or the model is not conditioned on a vector.</exception>
    public IDataView Sample(int count, float[] condition, int? seed = null, double temperature = 1.0)
        => SampleGiven(count, EncodeCondition(condition), ResolveSeed(seed), temperature);

    private IDataView SampleGiven(int count, float[]? condition, int seed, double temperature)
    {
        CheckSampleCount(count);
        if (!(temperature > 0) || double.IsInfinity(temperature))
            throw Host.ExceptParam(nameof(temperature), $"The sampling temperature must be finite and positive (1 samples the model's density, below 1 more typical rows); got {temperature}.");
        int d = InputDimension;
        float[] values;
        uint[]? keys;
        using (var scope = NewDisposeScope())
        using (var inference = inference_mode())
        using (var generator = new Generator((ulong)seed))
        {
            keys = SampleKeys(count, condition, generator);                                     // drawn first when not given
            var z = randn(new long[] { count, d }, generator: generator);                       // [N, D]
            if (temperature != 1.0)
                z.mul_(temperature);                                                            // z ~ N(0, T²I)
            var c = SampleConditionRows(condition, keys, 0, count);                             // [N, C] or null
            var (y, _) = _network.Inverse(z, c);
            values = _network.Preprocessing.Restore(y).data<float>().ToArray();
        }
        return SampleView(values, count, condition, keys);
    }

    /// <summary>
    /// Mean negative log-likelihood of the rows of <paramref name="data"/> (nats per row, original units) and bits per
    /// dimension, NLL / (D·ln 2) (<see cref="FlowLosses.BitsPerDimension(double, long)"/>).
    /// </summary>
    /// <exception cref="InvalidOperationException">The data has no rows, or a row holds NaN (the error names it).</exception>
    public FlowMetrics Evaluate(IDataView data)
    {
        Host.CheckValue(data, nameof(data));
        var scored = Transform(data);
        var column = scored.Schema[LogLikelihoodColumnName];
        double sum = 0;
        long rows = 0;
        using (var cursor = scored.GetRowCursor(new[] { column }))
        {
            var getter = cursor.GetGetter<float>(column);
            float value = 0;
            while (cursor.MoveNext())
            {
                getter(ref value);
                if (float.IsNaN(value))
                    throw Host.Except($"Row {rows} (0-based) of feature column '{FeatureColumnName}' holds NaN: it has no likelihood. "
                        + "Clean or impute the data (mlContext.Transforms.ReplaceMissingValues) or filter such rows before Evaluate.");
                sum += value;
                rows++;
            }
        }
        if (rows == 0)
            throw Host.Except($"Evaluate needs at least one row; column '{FeatureColumnName}' has none.");
        double nll = -sum / rows;
        return new FlowMetrics(nll, FlowLosses.BitsPerDimension(nll, InputDimension), rows, InputDimension);
    }

    /// <summary>Releases the network's native memory.</summary>
    public void Dispose()
    {
        MarkDisposed();
        _network.Dispose();
    }

    private static VersionInfo GetVersionInfo()
        => new(modelSignature: "GENFLWTR",
            // 0x00010002: the condition (ConditionColumnName); 0x00010003: its key counts (Sample(count, seed) of a conditional model)
            verWrittenCur: 0x00010003,
            verReadableCur: 0x00010003,
            verWeCanReadBack: 0x00010001,
            loaderSignature: LoaderSignature,
            loaderAssemblyName: typeof(NormalizingFlowTransformer).Assembly.FullName);

    // Binary format (version 0x00010003), in write order:
    //   string   feature column name
    //   int32    input dimension D
    //   int32    architecture (FlowArchitecture)
    //   int32    number of layers
    //   int32    number of hidden layers H, then H × int32 hidden sizes
    //   int32    spline bins K
    //   double   spline tail bound B
    //   D × double  standardization mean, then D × double standardization standard deviation
    //   bool     dequantize; int32 dequantization samples; int32 levels (0 = none)
    //   bool     logit transform; double α
    //   string   log-likelihood, score and latent column names
    //   history  ModelPersistence.SaveHistory
    //   condition ConditionEncoding.Save (a bool, then the condition when there is one; from version 0x00010002;
    //            from 0x00010003 a key condition's training counts follow)
    //   entry    "TorchWeights": ModelPersistence.SaveWeights
    private protected override void SaveModel(ModelSaveContext ctx)
    {
        Host.CheckValue(ctx, nameof(ctx));
        ctx.CheckAtModel();
        ctx.SetVersionInfo(GetVersionInfo());
        var a = _network.Shape;
        var p = _network.Preprocessing;
        ctx.SaveNonEmptyString(FeatureColumnName);
        ctx.Writer.Write(a.InputDimension);
        ctx.Writer.Write((int)a.Architecture);
        ctx.Writer.Write(a.NumberOfLayers);
        ctx.Writer.Write(a.HiddenLayerSizes.Length);
        foreach (int h in a.HiddenLayerSizes)
            ctx.Writer.Write(h);
        ctx.Writer.Write(a.NumberOfBins);
        ctx.Writer.Write(a.TailBound);
        foreach (double m in _network.Shift)
            ctx.Writer.Write(m);
        foreach (double s in _network.Scale)
            ctx.Writer.Write(s);
        ctx.Writer.Write(p.Dequantize);
        ctx.Writer.Write(p.DequantizationSamples);
        ctx.Writer.Write(p.Levels);
        ctx.Writer.Write(p.Logit);
        ctx.Writer.Write(p.Alpha);
        ctx.SaveNonEmptyString(LogLikelihoodColumnName);
        ctx.SaveNonEmptyString(ScoreColumnName);
        ctx.SaveNonEmptyString(LatentColumnName);
        ModelPersistence.SaveHistory(ctx.Writer, FlowObjective.Names, TrainingHistory);
        Data.ConditionEncoding.Save(ctx.Writer, Condition);
        ModelPersistence.SaveWeights(ctx, _network);
    }

    // Reads the format written by SaveModel.
    private static NormalizingFlowTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        Contracts.CheckValue(env, nameof(env));
        env.CheckValue(ctx, nameof(ctx));
        ctx.CheckAtModel(GetVersionInfo());
        try
        {
            var r = ctx.Reader;
            string feature = ctx.LoadNonEmptyString();
            int d = ModelPersistence.ReadInt32InRange(r, ModelName, "input dimension", 1, 1 << 20);
            var architecture = (FlowArchitecture)r.ReadInt32();
            if (!Enum.IsDefined(architecture))
                throw ModelPersistence.Corrupt(ModelName, $"unknown architecture ({(int)architecture})");
            int layers = ModelPersistence.ReadInt32InRange(r, ModelName, "number of layers", 1, 1024);
            int hiddenCount = ModelPersistence.ReadInt32InRange(r, ModelName, "number of hidden layers", 0, 1024);
            var hidden = new int[hiddenCount];
            for (int i = 0; i < hiddenCount; i++)
                hidden[i] = ModelPersistence.ReadInt32InRange(r, ModelName, "hidden layer size", 1, 1 << 24);
            int bins = ModelPersistence.ReadInt32InRange(r, ModelName, "number of bins", 2, 256);
            double bound = r.ReadDouble();
            if (!(bound > 0 && double.IsFinite(bound)))
                throw ModelPersistence.Corrupt(ModelName, $"impossible spline tail bound ({bound})");
            var shift = new double[d];
            var scale = new double[d];
            for (int j = 0; j < d; j++)
                shift[j] = r.ReadDouble();
            for (int j = 0; j < d; j++)
            {
                scale[j] = r.ReadDouble();
                if (!(scale[j] > 0 && double.IsFinite(scale[j])) || !double.IsFinite(shift[j]))
                    throw ModelPersistence.Corrupt(ModelName, $"impossible standardization of slot {j} (mean {shift[j]}, standard deviation {scale[j]})");
            }
            bool dequantize = r.ReadBoolean();
            int samples = ModelPersistence.ReadInt32InRange(r, ModelName, "number of dequantization samples", 1, 1000);
            int levels = ModelPersistence.ReadInt32InRange(r, ModelName, "number of levels", 0, int.MaxValue);
            bool logit = r.ReadBoolean();
            double alpha = r.ReadDouble();
            if (!(alpha > 0 && alpha < 0.5))
                throw ModelPersistence.Corrupt(ModelName, $"impossible logit α ({alpha})");
            if (dequantize && logit && levels < 2)
                throw ModelPersistence.Corrupt(ModelName, $"impossible number of levels ({levels})");
            string logLikelihood = ctx.LoadNonEmptyString();
            string score = ctx.LoadNonEmptyString();
            string latent = ctx.LoadNonEmptyString();
            var history = ModelPersistence.LoadHistory(r, ModelName);
            var condition = ctx.Header.ModelVerWritten >= 0x00010002 ? Data.ConditionEncoding.Load(r, ModelName, withCounts: ctx.Header.ModelVerWritten >= 0x00010003) : null;

            // Verify the weights against the header before any native allocation.
            var shape = new FlowShape(d, architecture, layers, hidden, bins, bound, condition?.Width ?? 0);
            var preprocessing = new FlowPreprocessing(d, dequantize, samples, levels, logit, alpha);
            var network = ModelPersistence.LoadNetwork(ctx, shape.ParameterCount, () => new FlowNetwork(shape, preprocessing, shift, scale), ModelName);
            return new NormalizingFlowTransformer(env, network, feature, logLikelihood, score, latent, history, condition);
        }
        catch (EndOfStreamException e)
        {
            throw ModelPersistence.Corrupt(ModelName, "the model's settings end early", e);
        }
    }

    private static IRowMapper Create(IHostEnvironment env, ModelLoadContext ctx, DataViewSchema inputSchema)
        => Create(env, ctx).MakeRowMapper(inputSchema);

}
