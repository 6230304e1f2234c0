using System.Collections.Generic;
using Microsoft.ML.Generative.Tabular;

namespace Microsoft.ML.Generative;

public sealed partial class GenerativeCatalog
{
    /// <summary>
    /// A synthesizer of whole tables: learns the columns of a table (numbers, booleans, texts, keys, missing values)
    /// and samples new rows with the same names and types, optionally conditioned on discrete columns.
    /// </summary>
    /// <param name="model"><see cref="TabularModel.Tvae"/> (default) or <see cref="TabularModel.Ctgan"/>.</param>
    /// <param name="columns">The columns to model; <see langword="null"/> for every column of the input.</param>
    /// <param name="numberOfEpochs">Passes over the training rows (default 300); on small tables training still takes at least
    /// <see cref="TabularSynthesizerOptions.MinimumTrainingSteps"/> optimizer steps (3,000 for TVAE, 10,000 for CTGAN; set it to 0
    /// through the options overload to train exactly this many epochs).</param>
    /// <example>
    /// <code>
    /// var synth = mlContext.Generative().TabularSynthesizer().Fit(table);
    /// IDataView fake = synth.Sample(1000, seed: 7);
    /// IDataView gentoo = synth.Sample(200, new Dictionary&lt;string, object&gt; { ["Species"] = "Gentoo" }, seed: 7);
    /// </code>
    /// See <c>examples/Microsoft.ML.Generative.Examples.Tabular</c> for a runnable program.
    /// </example>
    public TabularSynthesizerEstimator TabularSynthesizer(TabularModel model = TabularModel.Tvae, IReadOnlyList<string>? columns = null,
        int numberOfEpochs = TabularSynthesizerOptions.Defaults.NumberOfEpochs)
        => new(Environment, new TabularSynthesizerOptions { Model = model, Columns = columns, NumberOfEpochs = numberOfEpochs });

    /// <summary>A tabular synthesizer with every setting given by <paramref name="options"/>.</summary>
    public TabularSynthesizerEstimator TabularSynthesizer(TabularSynthesizerOptions options)
        => new(Environment, options);
}
