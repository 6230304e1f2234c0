using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Generative.Gan;
using Microsoft.ML.Generative.Persistence;
using Microsoft.ML.Generative.Tabular;
using Microsoft.ML.Generative.Training;
using Microsoft.ML.Generative.Vae;
using Microsoft.ML.Runtime;
using TorchSharp;
using static TorchSharp.torch;

[assembly: LoadableClass(typeof(TabularSynthesizerTransformer), null, typeof(SignatureLoadModel),
    "Tabular Synthesizer", TabularSynthesizerTransformer.LoaderSignature)]

namespace Microsoft.ML.Generative.Tabular;

/// <summary>
/// A fitted tabular synthesizer: <see cref="Sample(int, int)"/> draws new rows with the training table's column
/// names and types; <see cref="Sample(int, IDictionary{string, object}, int)"/> draws rows whose discrete columns
/// hold given values. <see cref="Transform"/> returns its input unchanged (a synthesizer adds no columns); the
/// transformer exists so that the whole synthesizer — column models and network — saves and loads as one ML.NET
/// model .zip.
/// </summary>
/// <remarks>
/// <para>Sampling (<see cref="TabularModel.Tvae"/>): z ~ N(0, I); the decoder gives, per continuous column, the mean
/// of the scalar α (drawn as mean + σ·ε with the column's learned σ, clipped to [−1, 1]) and, per one-hot group, logits
/// from which the mode, the missing class or the category is drawn (Gumbel-max, i.e. exactly from the softmax). A
/// value is then μ_k + 4σ_k·α of the drawn mode k, clamped to the training range unless
/// <see cref="TabularSynthesizerOptions.AllowExtrapolation"/>, rounded to the decimal digits of the training values
/// (whole-number columns stay whole; at most 6 digits are learned, beyond that values are not rounded);
/// categories come only from those seen in training. All draws come from one TorchSharp generator seeded with
/// <c>seed</c>: the same seed gives the same rows, in this process or after loading the model in another one.</para>
/// <para>Sampling (<see cref="TabularModel.Ctgan"/>): z ~ N(0, I) and a conditional vector per row — a discrete column
/// chosen uniformly and one of its categories at its training frequency — then G([z, c]) (BatchNorm with its running
/// statistics); α = tanh of the scalar output, each mode, missing class or category drawn from the softmax of its
/// logits (Gumbel-max); then decoded as for TVAE.</para>
/// <para>Conditional sampling (CTGAN): every row is generated with the conditional vector of the asked value (the
/// value rarest in training when several columns are conditioned), and then checked as below: the vector raises the
/// value's probability but does not guarantee it, so rows without every asked value are rejected.</para>
/// <para>Conditional sampling (TVAE): by rejection — rows are drawn as above and only those whose conditioned
/// columns hold the asked categories are kept, in order, until <c>count</c> rows are found. The result follows the
/// model's own conditional distribution exactly, and every returned row has the asked values; the cost grows as
/// 1 / p(condition). After <see cref="TabularSynthesizerOptions.MaximumRejectionDraws"/> × <c>count</c> draws it stops
/// with an error reporting the acceptance rate.</para>
/// </remarks>
public sealed class TabularSynthesizerTransformer : ITransformer, ICanSaveModel, IDisposable
{
    internal const string LoaderSignature = "GenerativeTabularSynth";
    private const string ModelName = "tabular synthesizer";
    private const string NetworkEntryName = "Network";
    // Rows decoded per forward pass when sampling.
    private const int SampleBatchRows = 4096;

    private readonly IHost _host;
    private readonly TabularEncoder _encoder;
    private readonly VariationalAutoencoderTransformer? _vae;       // TVAE
    private readonly GenerativeAdversarialNetworkTransformer? _gan; // CTGAN
    private readonly ConditionalVectorLayout _layout;
    private readonly bool _extrapolate;
    private readonly int _maximumRejectionDraws;

    internal TabularSynthesizerTransformer(IHostEnvironment env, TabularEncoder encoder, VariationalAutoencoderTransformer vae,
        bool allowExtrapolation, int maximumRejectionDraws)
        : this(env, encoder, TabularModel.Tvae, allowExtrapolation, maximumRejectionDraws)
    {
        _vae = vae;
    }

    internal TabularSynthesizerTransformer(IHostEnvironment env, TabularEncoder encoder, GenerativeAdversarialNetworkTransformer gan,
        bool allowExtrapolation, int maximumRejectionDraws)
        : this(env, encoder, TabularModel.Ctgan, allowExtrapolation, maximumRejectionDraws)
    {
        _gan = gan;
    }

    private TabularSynthesizerTransformer(IHostEnvironment env, TabularEncoder encoder, TabularModel model, bool allowExtrapolation, int maximumRejectionDraws)
    {
        _host = Contracts.CheckRef(env, nameof(env)).Register(nameof(TabularSynthesizerTransformer));
        _encoder = encoder;
        _layout = new ConditionalVectorLayout(encoder);
        Model = model;
        _extrapolate = allowExtrapolation;
        _maximumRejectionDraws = maximumRejectionDraws;
    }

    /// <summary>The model behind the synthesizer.</summary>
    public TabularModel Model { get; }

    /// <summary>The modelled columns, in order.</summary>
    public IReadOnlyList<string> ColumnNames => _encoder.Columns.Select(c => c.Name).ToArray();

    /// <summary>The number of Gaussian modes fitted to each continuous column (by name).</summary>
    public IReadOnlyDictionary<string, int> ModeCounts
        => _encoder.Columns.Where(c => c.IsContinuous).ToDictionary(c => c.Name, c => c.Mixture!.Count);

    /// <summary>The categories seen in training for each discrete column (by name), as <see cref="Sample(int, IDictionary{string, object}, int)"/> accepts them.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> Categories
        => _encoder.Columns.Where(c => !c.IsContinuous)
            .ToDictionary(c => c.Name, c => (IReadOnlyList<string>)Enumerable.Range(0, c.Categories.Length).Select(c.Label).ToArray());

    /// <summary>
    /// Per-epoch training losses of the network, saved with the model: for TVAE the negative ELBO and its terms; for
    /// CTGAN the critic's loss (<c>Loss</c>), the generator's (<c>GeneratorLoss</c>, −D(fake) plus the condition
    /// loss), the mean critic scores and the gradient penalty.
    /// </summary>
    public IReadOnlyList<EpochSummary> TrainingHistory => _vae?.TrainingHistory ?? _gan!.TrainingHistory;

    internal TabularEncoder Encoder => _encoder;

    internal VaeNetwork Network => _vae!.Network;

    internal GanNetwork GanNetwork => _gan!.Network;

    internal ConditionalVectorLayout Layout => _layout;

    bool ITransformer.IsRowToRowMapper => false;

    /// <summary>The input schema: the synthesizer adds no columns.</summary>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        _host.CheckValue(inputSchema, nameof(inputSchema));
        return inputSchema;
    }

    /// <summary>Returns <paramref name="input"/> unchanged: a synthesizer adds no columns. Use <see cref="Sample(int, int)"/>.</summary>
    public IDataView Transform(IDataView input)
    {
        _host.CheckValue(input, nameof(input));
        return input;
    }

    IRowToRowMapper ITransformer.GetRowToRowMapper(DataViewSchema inputSchema)
        => throw _host.ExceptNotSupp("A tabular synthesizer adds no columns and has no row mapper; call Sample to draw rows.");

    /// <summary>
    /// Draws <paramref name="count"/> new rows: the training table's modelled columns, same names, same types (key
    /// cardinalities and key texts included).
    /// </summary>
    /// <param name="count">Rows to draw, positive.</param>
    /// <param name="seed">Seed of the draw; the same seed gives the same rows.</param>
    public IDataView Sample(int count, int seed)
    {
        CheckCount(count);
        using var generator = new Generator((ulong)seed);
        var (scalars, classes) = Draw(count, generator, null);
        return _encoder.Decode(_host, scalars, classes, count, _extrapolate);
    }

    /// <summary>
    /// Draws <paramref name="count"/> rows whose discrete columns hold the values in <paramref name="condition"/>
    /// (column name → value: a string for text columns, a bool or "True"/"False" for booleans, the key's text or its
    /// integer value for keys). Every returned row matches; see the remarks on how (rejection sampling).
    /// </summary>
    /// <exception cref="ArgumentException">A column that was not modelled, a continuous column, a value never seen in
    /// training for that column (the known values are listed), a value of the wrong type, an empty condition.</exception>
    /// <exception cref="InvalidOperationException">The condition is so rare under the model that
    /// <see cref="TabularSynthesizerOptions.MaximumRejectionDraws"/> × <paramref name="count"/> draws did not find
    /// <paramref name="count"/> rows.</exception>
    public IDataView Sample(int count, IDictionary<string, object> condition, int seed)
    {
        CheckCount(count);
        _host.CheckValue(condition, nameof(condition));
        _host.CheckParam(condition.Count > 0, nameof(condition), "The condition is empty; call Sample(count, seed) for unconditional rows.");
        var wanted = new List<(int Column, int Category)>();
        foreach (var (name, value) in condition)
        {
            int j = _encoder.Columns.ToList().FindIndex(c => c.Name == name);
            if (j < 0)
                throw _host.ExceptParam(nameof(condition), $"Column '{name}' is not one of the synthesizer's columns ({string.Join(", ", ColumnNames.Select(n => $"'{n}'"))}).");
            var c = _encoder.Columns[j];
            if (c.IsContinuous)
                throw _host.ExceptParam(nameof(condition),
                    $"Column '{name}' is continuous ({c.ValueType}); conditions are supported on discrete columns (text, boolean, key) only. "
                    + "Filter the sampled rows by a range of this column instead.");
            _host.CheckParam(value is not null, nameof(condition), $"The condition on column '{name}' is null; give one of its values.");
            int category = c.FindCategory(value!);
            if (category < 0)
            {
                string known = string.Join(", ", Enumerable.Range(0, c.Categories.Length).Select(i => $"'{c.Label(i)}'"));
                string expected = c.ValueType switch
                {
                    TabularValueType.Text => "a string",
                    TabularValueType.Boolean => "a bool (or \"True\"/\"False\")",
                    _ => "the key's text or its integer value",
                };
                throw _host.ExceptParam(nameof(condition), value is string || (c.ValueType == TabularValueType.Boolean && value is bool)
                        || (c.ValueType == TabularValueType.Key && value is not string)
                    ? $"Column '{name}' never held '{value}' in training; known values: {known}."
                    : $"The condition on {c.ValueType} column '{name}' is a {value!.GetType().Name} ({value}); it expects {expected}. Known values: {known}.");
            }
            wanted.Add((j, category));
        }

        // CTGAN: rows are generated with the conditional vector of the asked value (of the rarest one in training,
        // when several columns are conditioned); the check below still keeps only rows holding every asked value.
        int? slot = null;
        if (_gan is not null && _layout.Width > 0)
        {
            var (column, category) = wanted.MinBy(w => _encoder.Columns[w.Column].Frequencies[w.Category]);
            slot = _layout.Slot(column, category);
        }
        int columns = _encoder.Columns.Count, continuous = _encoder.Columns.Count(c => c.IsContinuous);
        var scalars = new float[(long)count * continuous];
        var classes = new int[(long)count * columns];
        int found = 0;
        long drawn = 0, limit = (long)_maximumRejectionDraws * count;
        using var generator = new Generator((ulong)seed);
        while (found < count)
        {
            if (drawn >= limit)
                throw _host.Except(
                    $"Only {found} of {count} rows matched the condition in {drawn:N0} draws (acceptance rate {(double)found / drawn:P3}): the model "
                    + "gives this combination too little probability for rejection sampling. Ask for fewer rows, relax the condition, or raise MaximumRejectionDraws.");
            // Fail early rather than after hours: even at an optimistic acceptance rate ((found + 3) / drawn, above the
            // observed one), the rows still missing would need more draws than the budget has left.
            if (drawn >= EarlyRejectionCheckDraws && (count - found) * (double)drawn / (found + 3) > limit - drawn)
                throw _host.Except(
                    $"{found} of {count} rows matched the condition in the first {drawn:N0} draws (acceptance rate {(double)found / drawn:P3}): at that rate "
                    + $"the {count - found:N0} rows still missing would need about {(count - found) * (double)drawn / Math.Max(found, 1):N0} more draws, beyond the "
                    + $"MaximumRejectionDraws × count = {limit:N0} allowed. Ask for fewer rows, relax the condition, or raise MaximumRejectionDraws.");
            int batch = (int)Math.Min(Math.Max(count - found, 256), Math.Min(SampleBatchRows, limit - drawn));
            var (s, k) = Draw(batch, generator, slot);
            drawn += batch;
            for (int r = 0; r < batch && found < count; r++)
            {
                if (!wanted.All(w => k[r * columns + w.Column] == w.Category))
                    continue;
                Array.Copy(s, r * continuous, scalars, (long)found * continuous, continuous);
                Array.Copy(k, r * columns, classes, (long)found * columns, columns);
                found++;
            }
        }
        return _encoder.Decode(_host, scalars, classes, count, _extrapolate);
    }

    /// <summary>Draws after which conditional sampling judges whether its budget can still be met.</summary>
    private const long EarlyRejectionCheckDraws = 100_000;

    private void CheckCount(int count)
    {
        ThrowIfDisposed();
        _host.CheckParam(count > 0, nameof(count), $"Must be positive; got {count}.");
        _host.CheckParam((long)count * Math.Max(1, _encoder.Columns.Count) <= Scoring.GenerativeTransformerBase.MaximumSampleValues, nameof(count),
            $"{count} rows of {_encoder.Columns.Count} columns exceed the values one Sample call builds in memory; draw them in several calls with different seeds.");
    }

    /// <summary>
    /// Draws <paramref name="rows"/> encoded rows: per row the continuous columns' scalars α and every column's class
    /// (mode, missing class or category). <paramref name="slot"/>: CTGAN's conditional vector for every row (a
    /// position in it), or null.
    /// </summary>
    private (float[] Scalars, int[] Classes) Draw(int rows, Generator generator, int? slot)
        => _gan is not null ? DrawCtgan(rows, generator, slot) : DrawTvae(rows, generator);

    /// <summary>
    /// CTGAN: z ~ N(0, I) [n, L] and a conditional vector c per row, then G([z, c]) (BatchNorm with its running
    /// statistics). Unconditional rows draw c as a discrete column chosen uniformly and one of its categories at its
    /// training frequency, so that for a generator that has learned p(x | x_j = k) the rows follow p(x) (CTGAN itself
    /// draws with the log-frequencies of training). α = tanh of the scalar output; each one-hot group is drawn
    /// from the softmax of its logits (Gumbel-max, the argmax of a Gumbel-softmax sample at any τ).
    /// </summary>
    private (float[] Scalars, int[] Classes) DrawCtgan(int rows, Generator generator, int? slot)
    {
        var network = _gan!.Network;
        var scalarOffsets = _encoder.ScalarOffsets;
        var scalars = new float[(long)rows * scalarOffsets.Length];
        var classes = new int[(long)rows * _encoder.Columns.Count];
        int width = _layout.Width;
        // Unconditional draws: the column uniformly, then the category at its training frequency, i.e. slot s with
        // probability f_s / J.
        double[]? slotProbabilities = null;
        if (slot is null && width > 0)
            slotProbabilities = _layout.Columns.SelectMany(j => _encoder.Columns[j].Frequencies.Select(f => f / _layout.Columns.Length)).ToArray();
        for (int start = 0; start < rows; start += SampleBatchRows)
        {
            int n = Math.Min(SampleBatchRows, rows - start);
            using var scope = NewDisposeScope();
            using var inference = inference_mode();
            var z = randn(new long[] { n, network.Architecture.LatentDimension }, generator: generator);   // [n, L]
            Tensor? c = null;
            if (width > 0)
            {
                var slots = slot is int s
                    ? full(n, (long)s, ScalarType.Int64)
                    : multinomial(tensor(slotProbabilities!), n, replacement: true, generator: generator);  // [n]
                c = nn.functional.one_hot(slots, width).to_type(ScalarType.Float32);                       // [n, C]
            }
            var raw = network.Generate(z, averaged: true, c);                                              // [n, D]
            if (scalarOffsets.Length > 0)
            {
                var index = tensor(scalarOffsets.Select(o => (long)o).ToArray(), ScalarType.Int64);
                raw.index_select(1, index).tanh().data<float>().CopyTo(scalars.AsSpan(start * scalarOffsets.Length, n * scalarOffsets.Length));
            }
            DrawClasses(raw, generator, classes.AsSpan(start * _encoder.Columns.Count, n * _encoder.Columns.Count));
        }
        return (scalars, classes);
    }

    /// <summary>Each column's class of rows [n, D] of logits, drawn from the softmax of its group by Gumbel-max, row-major into <paramref name="classes"/>.</summary>
    private void DrawClasses(Tensor decoded, Generator generator, Span<int> classes)
    {
        int columns = _encoder.Columns.Count;
        var drawnClasses = new Tensor[columns];
        for (int j = 0; j < columns; j++)
        {
            var span = _encoder.Columns[j].ClassSpan;
            var logits = decoded.narrow(1, span.Offset, span.Width);                                      // [n, w]
            // Gumbel-max: argmax(ℓ + G), G = −log(−log U), is an exact draw from softmax(ℓ).
            var u = rand(logits.shape, generator: generator).clamp_(1e-20f, 1f - 1e-7f);
            drawnClasses[j] = logits.sub(u.log_().neg_().log_()).argmax(1);                               // [n]
        }
        stack(drawnClasses, 1).to_type(ScalarType.Int32).data<int>().CopyTo(classes);                    // [n, columns]
    }

    /// <summary>TVAE: z ~ N(0, I), the decoder's means and logits; α = mean + σ·ε clipped to [−1, 1].</summary>
    private (float[] Scalars, int[] Classes) DrawTvae(int rows, Generator generator)
    {
        var network = _vae!.Network;
        int columns = _encoder.Columns.Count;
        var scalarOffsets = _encoder.ScalarOffsets;
        var scalars = new float[(long)rows * scalarOffsets.Length];
        var classes = new int[(long)rows * columns];
        for (int start = 0; start < rows; start += SampleBatchRows)
        {
            int n = Math.Min(SampleBatchRows, rows - start);
            using var scope = NewDisposeScope();
            using var inference = inference_mode();
            var z = randn(new long[] { n, network.Architecture.LatentDimension }, generator: generator);   // [n, L]
            var decoded = network.Decode(z);                                                               // [n, D]
            if (scalarOffsets.Length > 0)
            {
                var index = tensor(scalarOffsets.Select(o => (long)o).ToArray(), ScalarType.Int64);
                var mean = decoded.index_select(1, index);                                                 // [n, S]
                var sd = network.OutputLogVar!.clamp_min(VaeNetwork.MinimumLogVariance).mul(0.5).exp().index_select(0, index); // [S]
                var eps = randn(mean.shape, generator: generator);
                var alpha = mean.add(eps.mul(sd)).clamp(-1f, 1f);
                alpha.data<float>().CopyTo(scalars.AsSpan(start * scalarOffsets.Length, n * scalarOffsets.Length));
            }
            DrawClasses(decoded, generator, classes.AsSpan(start * columns, n * columns));
        }
        return (scalars, classes);
    }

    /// <summary>Releases the network's native memory; afterwards <c>Sample</c> and saving throw <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        _disposed = true;
        _vae?.Dispose();
        _gan?.Dispose();
    }

    private volatile bool _disposed;

    private void ThrowIfDisposed()
    {
        if (_disposed)
            throw new ObjectDisposedException(nameof(TabularSynthesizerTransformer), "The synthesizer was disposed (its native weights are released); load or fit it again to use it.");
    }

    private static VersionInfo GetVersionInfo()
        => new(modelSignature: "GENTABSY",
            verWrittenCur: 0x00010002, // CTGAN
            verReadableCur: 0x00010002,
            verWeCanReadBack: 0x00010001,
            loaderSignature: LoaderSignature,
            loaderAssemblyName: typeof(TabularSynthesizerTransformer).Assembly.FullName);

    // Binary format (version 0x00010002; 0x00010001 had TVAE only), in write order:
    //   int32    model (TabularModel)
    //   bool     allow extrapolation
    //   int32    maximum rejection draws
    //   columns  TabularEncoder.Save (every column's name, type, key cardinality and texts, mixture or categories)
    //   TVAE:    model "Network": the trained VAE, as a nested ML.NET model (the VAE family's own format, weights with SHA-256)
    //   CTGAN:   int32 encoded width D, int32 noise size L, int32 count + sizes of G's residual blocks, int32 count +
    //            sizes of D's hidden layers, double D's dropout, int32 pac, int32 conditional vector width C,
    //            history (ModelPersistence.SaveHistory), entry "TorchWeights" (ModelPersistence.SaveWeights: G with
    //            BatchNorm statistics, D)
    void ICanSaveModel.Save(ModelSaveContext ctx)
    {
        _host.CheckValue(ctx, nameof(ctx));
        ThrowIfDisposed();
        ctx.CheckAtModel();
        ctx.SetVersionInfo(GetVersionInfo());
        ctx.Writer.Write((int)Model);
        ctx.Writer.Write(_extrapolate);
        ctx.Writer.Write(_maximumRejectionDraws);
        _encoder.Save(ctx.Writer);
        if (_vae is not null)
        {
            ctx.SaveModel(_vae, NetworkEntryName);
            return;
        }
        var a = _gan!.Network.Architecture;
        ctx.Writer.Write(a.InputDimension);
        ctx.Writer.Write(a.LatentDimension);
        WriteSizes(ctx.Writer, a.GeneratorHiddenLayerSizes);
        WriteSizes(ctx.Writer, a.DiscriminatorHiddenLayerSizes);
        ctx.Writer.Write(a.DiscriminatorDropout);
        ctx.Writer.Write(a.Pac);
        ctx.Writer.Write(a.ConditionWidth);
        ModelPersistence.SaveHistory(ctx.Writer, GanObjective.Names, _gan.TrainingHistory);
        ModelPersistence.SaveWeights(ctx, _gan.Network);
    }

    private static void WriteSizes(BinaryWriter writer, int[] sizes)
    {
        writer.Write(sizes.Length);
        foreach (int h in sizes)
            writer.Write(h);
    }

    private static int[] ReadSizes(BinaryReader reader, string what)
    {
        int count = ModelPersistence.ReadInt32InRange(reader, ModelName, $"number of {what} layers", 0, 64);
        var sizes = new int[count];
        for (int i = 0; i < count; i++)
            sizes[i] = ModelPersistence.ReadInt32InRange(reader, ModelName, $"{what} layer size");
        return sizes;
    }

    /// <summary>CTGAN's network and history (the format's CTGAN block), checked against the column models.</summary>
    private static GenerativeAdversarialNetworkTransformer LoadCtgan(IHostEnvironment env, ModelLoadContext ctx, TabularEncoder encoder)
    {
        var r = ctx.Reader;
        int inputDimension = ModelPersistence.ReadInt32InRange(r, ModelName, "encoded width");
        int latent = ModelPersistence.ReadInt32InRange(r, ModelName, "noise size");
        var generator = ReadSizes(r, "generator");
        var discriminator = ReadSizes(r, "discriminator");
        double dropout = r.ReadDouble();
        int pac = ModelPersistence.ReadInt32InRange(r, ModelName, "pack size");
        int conditionWidth = ModelPersistence.ReadInt32InRange(r, ModelName, "conditional vector width", 0);
        if (!(dropout >= 0 && dropout < 1))
            throw ModelPersistence.Corrupt(ModelName, $"impossible dropout {dropout}");
        var layout = new ConditionalVectorLayout(encoder);
        if (inputDimension != encoder.Dimension || conditionWidth != layout.Width)
            throw ModelPersistence.Corrupt(ModelName,
                $"the network takes {inputDimension} values and {conditionWidth} condition values per row but the column models encode {encoder.Dimension} and {layout.Width}");
        var history = ModelPersistence.LoadHistory(r, ModelName);
        var architecture = new GanArchitecture(inputDimension, latent, generator, discriminator, GanActivation.LeakyRelu, dropout,
            SpectralNormalization: false, GeneratorEma: false, GanOutputScaling.None, conditionWidth, DiscriminatorConditioning.Concatenation)
        {
            Pac = pac,
            ResidualGenerator = true,
        };
        // Verify the weights against the header before any native allocation.
        var network = ModelPersistence.LoadNetwork(ctx, architecture.ParameterCount, () => new GanNetwork(architecture), ModelName);
        return new GenerativeAdversarialNetworkTransformer(env, network, TabularSynthesizerEstimator.FeatureColumnName,
            GenerativeAdversarialNetworkOptions.Defaults.DiscriminatorScoreColumnName, history);
    }

    // Reads the format written by Save.
    private static TabularSynthesizerTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        Contracts.CheckValue(env, nameof(env));
        env.CheckValue(ctx, nameof(ctx));
        ctx.CheckAtModel(GetVersionInfo());
        try
        {
            var model = (TabularModel)ctx.Reader.ReadInt32();
            if (!Enum.IsDefined(model))
                throw ModelPersistence.Corrupt(ModelName, $"unknown model {(int)model}");
            bool extrapolate = ctx.Reader.ReadBoolean();
            int draws = ModelPersistence.ReadInt32InRange(ctx.Reader, ModelName, "maximum rejection draws", 1, int.MaxValue);
            var encoder = TabularEncoder.Load(ctx.Reader, ModelName);
            if (model == TabularModel.Ctgan)
            {
                if (ctx.Header.ModelVerWritten < 0x00010002)
                    throw ModelPersistence.Corrupt(ModelName, "a CTGAN model in a format version without CTGAN");
                return new TabularSynthesizerTransformer(env, encoder, LoadCtgan(env, ctx, encoder), extrapolate, draws);
            }
            ctx.LoadModel<VariationalAutoencoderTransformer, SignatureLoadModel>(env, out var vae, NetworkEntryName);
            if (vae is null)
                throw ModelPersistence.Corrupt(ModelName, $"the '{NetworkEntryName}' model is missing");
            if (vae.InputDimension != encoder.Dimension)
            {
                vae.Dispose();
                throw ModelPersistence.Corrupt(ModelName, $"the network takes {vae.InputDimension} values per row but the column models encode {encoder.Dimension}");
            }
            return new TabularSynthesizerTransformer(env, encoder, vae, extrapolate, draws);
        }
        catch (EndOfStreamException e)
        {
            throw ModelPersistence.Corrupt(ModelName, "the model's settings end early", e);
        }
    }
}
