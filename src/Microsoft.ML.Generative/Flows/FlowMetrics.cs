namespace Microsoft.ML.Generative.Flows;

/// <summary>How well a normalizing flow explains a data set: <see cref="NormalizingFlowTransformer.Evaluate"/>.</summary>
public sealed class FlowMetrics
{
    internal FlowMetrics(double negativeLogLikelihood, double bitsPerDimension, long rows, int dimension)
    {
        NegativeLogLikelihood = negativeLogLikelihood;
        BitsPerDimension = bitsPerDimension;
        Rows = rows;
        Dimension = dimension;
    }

    /// <summary>
    /// Mean −log p(x) over the rows, in nats per row, in the original units of the features (standardization,
    /// logit and dequantization Jacobians included). +∞ when some row has probability 0 under the model.
    /// For continuous data it can be negative (a density can exceed 1).
    /// </summary>
    public double NegativeLogLikelihood { get; }

    /// <summary>
    /// <see cref="NegativeLogLikelihood"/> / (D·ln 2): bits per feature (Theis et al. 2016). For dequantized integer
    /// data this is the usual bits/dim, an upper bound on the discrete model's.
    /// </summary>
    public double BitsPerDimension { get; }

    /// <summary>Rows evaluated.</summary>
    public long Rows { get; }

    /// <summary>D, the number of features per row.</summary>
    public int Dimension { get; }

    /// <inheritdoc/>
    public override string ToString() => $"NLL {NegativeLogLikelihood:F4} nats/row, {BitsPerDimension:F4} bits/dim over {Rows} rows";
}
