using System;
using System.Linq;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Microsoft.ML;
using Microsoft.ML.Generative.Data;
using Microsoft.ML.Generative.Examples;
using Microsoft.ML.Generative.Vae;

namespace Microsoft.ML.Generative.Benchmarks;

/// <summary>BenchmarkDotNet micro-benchmarks: the data path and single-row scoring.</summary>
[MemoryDiagnoser]
public class Micro
{
    private MLContext _ml = null!;
    private IDataView _data = null!;
    private Digit[] _digits = null!;
    private PredictionEngine<Digit, ScoreRow> _engine = null!;
    private VariationalAutoencoderTransformer _model = null!;
    private int _next;

    public static Digit[] Train { get; set; } = Array.Empty<Digit>();

    public static IConfig Config() => ManualConfig.CreateMinimumViable()
        .AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance))
        .WithOptions(ConfigOptions.DisableOptimizationsValidator);

    [GlobalSetup]
    public void Setup()
    {
        _ml = new MLContext(seed: 1);
        _digits = Train;
        _data = _ml.Data.LoadFromEnumerable(_digits);
        _model = _ml.Generative().VariationalAutoencoder(new VariationalAutoencoderOptions { NumberOfEpochs = 1, Seed = 1 }).Fit(_data);
        _engine = _ml.Model.CreatePredictionEngine<Digit, ScoreRow>(_model);
    }

    /// <summary>Reading 8,000 × 784 features from an IDataView with the per-row checks, into one array.</summary>
    [Benchmark]
    public long ReadFeatureRows()
    {
        var host = ((Microsoft.ML.Runtime.IHostEnvironment)_ml).Register("bench");
        using var reader = new FeatureRowReader(host, _data, "Features", "Training", false, null);
        var values = new float[(_digits.Length + 1) * Digit.Pixels];
        long rows = 0;
        while (reader.TryRead(values.AsSpan((int)(rows * Digit.Pixels), Digit.Pixels), out _))
            rows++;
        return rows;
    }

    /// <summary>The same rows read with a bare ML.NET cursor and no checks: the floor of the data path.</summary>
    [Benchmark(Baseline = true)]
    public long ReadWithBareCursor()
    {
        using var cursor = _data.GetRowCursor(new[] { _data.Schema["Features"] });
        var getter = cursor.GetGetter<Microsoft.ML.Data.VBuffer<float>>(_data.Schema["Features"]);
        var buffer = default(Microsoft.ML.Data.VBuffer<float>);
        var values = new float[_digits.Length * Digit.Pixels];
        long rows = 0;
        while (cursor.MoveNext())
        {
            getter(ref buffer);
            buffer.CopyTo(values.AsSpan((int)(rows++ * Digit.Pixels), Digit.Pixels));
        }
        return rows;
    }

    /// <summary>One PredictionEngine.Predict call on the 784-400-20 VAE.</summary>
    [Benchmark]
    public float PredictOneRow() => _engine.Predict(_digits[_next++ % _digits.Length]).Score;
}
