using System;
using Microsoft.ML.Generative.Training;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Generative.Autoregressive;

/// <summary>How a text input column is split into tokens. (A key-vector input column is already tokens.)</summary>
public enum Tokenization
{
    /// <summary>
    /// One token per UTF-16 code unit (a character outside the Basic Multilingual Plane is two tokens, rejoined on
    /// decoding). The vocabulary is the set of characters seen in <c>Fit</c>.
    /// </summary>
    Characters,

    /// <summary>
    /// Tokens are the runs of non-white-space characters; generated text joins them with one space. The vocabulary
    /// is the set of words seen in <c>Fit</c> (see <see cref="AutoregressiveModelOptions.MinimumTokenFrequency"/>).
    /// </summary>
    Words,
}

/// <summary>The network that predicts the next token.</summary>
public enum SequenceArchitecture
{
    /// <summary>A stack of gated recurrent units (Cho et al., 2014).</summary>
    Gru,

    /// <summary>A stack of long short-term memory cells (Hochreiter and Schmidhuber, 1997).</summary>
    Lstm,

    /// <summary>
    /// A decoder-only pre-LN causal Transformer (Vaswani et al., 2017; pre-LN as in GPT-2, Radford et al., 2019):
    /// learned token and position embeddings, blocks of x + Attention(LN(x)) and x + MLP(LN(x)) with a causal mask
    /// and a GELU MLP, a final LayerNorm and a linear head.
    /// </summary>
    Transformer,
}

/// <summary>
/// Options of <see cref="AutoregressiveModelEstimator"/>: a next-token model of sequences (text or keys). Training
/// settings are inherited; this family changes some of their defaults (AdamW with weight decay 0.01 on matrices,
/// learning rate 3e-3, warm-up + cosine schedule, gradient clipping at 1, batch 64, 10 epochs).
/// </summary>
public sealed class AutoregressiveModelOptions : GenerativeTrainerOptions
{
    /// <summary>Autoregressive model defaults.</summary>
    public static new class Defaults
    {
        /// <summary>Default for <see cref="InputColumnName"/>.</summary>
        public const string InputColumnName = "Text";

        /// <summary>Default for <see cref="EmbeddingDimension"/>.</summary>
        public const int EmbeddingDimension = 64;

        /// <summary>Default for <see cref="HiddenSize"/>.</summary>
        public const int HiddenSize = 256;

        /// <summary>Default for <see cref="NumberOfLayers"/>.</summary>
        public const int NumberOfLayers = 2;

        /// <summary>Default for <see cref="NumberOfHeads"/>.</summary>
        public const int NumberOfHeads = 4;

        /// <summary>Default for <see cref="ContextLength"/>.</summary>
        public const int ContextLength = 64;

        /// <summary>Default for <see cref="MaximumVocabularySize"/>.</summary>
        public const int MaximumVocabularySize = 50_000;

        /// <summary>Default learning rate of this family.</summary>
        public const double LearningRate = 3e-3;

        /// <summary>Default batch size of this family.</summary>
        public const int BatchSize = 64;
    }

    /// <summary>Creates options with this family's defaults.</summary>
    public AutoregressiveModelOptions()
    {
        FeatureColumnName = Defaults.InputColumnName;
        LearningRate = Defaults.LearningRate;
        BatchSize = Defaults.BatchSize;
        Optimizer = GenerativeOptimizer.AdamW;
        WeightDecay = 0.01;
        GradientClipNorm = 1.0;
        LearningRateSchedule = LearningRateSchedule.WarmupCosine;
        WarmupSteps = 100;
    }

    /// <summary>
    /// The input column (the same setting as <see cref="GenerativeTrainerOptions.FeatureColumnName"/>): a
    /// <see cref="string"/> (text) column, tokenized by <see cref="Tokenization"/>; or a vector (variable or known size)
    /// of keys made by ML.NET's text transforms (<c>TokenizeIntoCharactersAsKeys</c>, or <c>TokenizeIntoWords</c> +
    /// <c>MapValueToKey</c>), used as tokens as they are. Default <c>"Text"</c>.
    /// </summary>
    public string InputColumnName
    {
        get => FeatureColumnName;
        set => FeatureColumnName = value;
    }

    /// <summary>How a text column is tokenized (ignored for a key column). Default <see cref="Tokenization.Characters"/>.</summary>
    public Tokenization Tokenization { get; set; } = Tokenization.Characters;

    /// <summary>The network. Default <see cref="SequenceArchitecture.Transformer"/>.</summary>
    public SequenceArchitecture Architecture { get; set; } = SequenceArchitecture.Transformer;

    /// <summary>Size of the token embedding; the Transformer's model width d. Default 64.</summary>
    public int EmbeddingDimension { get; set; } = Defaults.EmbeddingDimension;

    /// <summary>The recurrent state size (GRU/LSTM), or the width of the Transformer's MLP. Default 256.</summary>
    public int HiddenSize { get; set; } = Defaults.HiddenSize;

    /// <summary>Recurrent layers or Transformer blocks. Default 2.</summary>
    public int NumberOfLayers { get; set; } = Defaults.NumberOfLayers;

    /// <summary>Attention heads of the Transformer; must divide <see cref="EmbeddingDimension"/>. Default 4.</summary>
    public int NumberOfHeads { get; set; } = Defaults.NumberOfHeads;

    /// <summary>
    /// The longest token window the model is trained on (and the Transformer's number of learned positions). Longer
    /// sequences are cut into windows for training; scoring runs an RNN over the whole sequence and the Transformer
    /// over a sliding window (see <see cref="AutoregressiveModelTransformer"/>). Default 64.
    /// </summary>
    public int ContextLength { get; set; } = Defaults.ContextLength;

    /// <summary>Dropout probability on embeddings, attention output, MLP and between recurrent layers. Default 0.</summary>
    public double Dropout { get; set; }

    /// <summary>
    /// Share the Transformer's output projection with its token embedding (Press and Wolf, 2017). Transformer only.
    /// Default <see langword="false"/>.
    /// </summary>
    public bool TieWeights { get; set; }

    /// <summary>
    /// Label smoothing ε of the training loss (Szegedy et al., 2016): the target distribution is (1 − ε)·one-hot +
    /// ε/V. Padding is never charged. The reported NLL is always unsmoothed. Default 0.
    /// </summary>
    public double LabelSmoothing { get; set; }

    /// <summary>
    /// Tokens seen fewer times than this in the training data map to the unknown token ⟨unk⟩, which therefore learns
    /// a real probability. Default 1: every seen token is kept.
    /// </summary>
    public int MinimumTokenFrequency { get; set; } = 1;

    /// <summary>
    /// The largest vocabulary (seen tokens kept, plus the two special tokens) <c>Fit</c> accepts; larger fails with an
    /// error that says what to do. Default 50,000.
    /// </summary>
    public int MaximumVocabularySize { get; set; } = Defaults.MaximumVocabularySize;

    /// <summary>
    /// Build training batches from sequences of similar length (less padding, faster steps) instead of plain random
    /// batches. Off by default: same-length batches are correlated and, on the word-list benchmark, ended
    /// 0.03–0.04 nats per token worse at the same number of steps. Evaluation and scoring are always bucketed.
    /// </summary>
    public bool BucketByLength { get; set; }

    /// <summary>Name of the output column with the sequence's log-likelihood in nats. Default <c>"LogLikelihood"</c>.</summary>
    public string LogLikelihoodColumnName { get; set; } = "LogLikelihood";

    /// <summary>Name of the output column with the number of predicted tokens (the end token included). Default <c>"TokenCount"</c>.</summary>
    public string TokenCountColumnName { get; set; } = "TokenCount";

    /// <summary>Name of the output column with the per-token perplexity. Default <c>"Perplexity"</c>.</summary>
    public string PerplexityColumnName { get; set; } = "Perplexity";

    internal override string? MuonUnavailable => Architecture == SequenceArchitecture.Transformer ? null
        : $"it trains the Transformer's block matrices, and Architecture is {Architecture}.";

    internal override void Check(IExceptionContext ectx)
    {
        base.Check(ectx);
        ectx.CheckUserArg(Enum.IsDefined(Tokenization), nameof(Tokenization), $"Unknown tokenization {(int)Tokenization}.");
        ectx.CheckUserArg(Enum.IsDefined(Architecture), nameof(Architecture), $"Unknown architecture {(int)Architecture}.");
        ectx.CheckUserArg(EmbeddingDimension > 0 && EmbeddingDimension <= 1 << 16, nameof(EmbeddingDimension), $"Must be in [1, 65536]; got {EmbeddingDimension}.");
        ectx.CheckUserArg(HiddenSize > 0 && HiddenSize <= 1 << 16, nameof(HiddenSize), $"Must be in [1, 65536]; got {HiddenSize}.");
        ectx.CheckUserArg(NumberOfLayers > 0 && NumberOfLayers <= 256, nameof(NumberOfLayers), $"Must be in [1, 256]; got {NumberOfLayers}.");
        ectx.CheckUserArg(ContextLength > 0 && ContextLength <= 1 << 16, nameof(ContextLength), $"Must be in [1, 65536]; got {ContextLength}.");
        if (Architecture == SequenceArchitecture.Transformer)
        {
            ectx.CheckUserArg(NumberOfHeads > 0, nameof(NumberOfHeads), $"Must be positive; got {NumberOfHeads}.");
            ectx.CheckUserArg(EmbeddingDimension % NumberOfHeads == 0, nameof(NumberOfHeads),
                $"EmbeddingDimension ({EmbeddingDimension}) must be divisible by NumberOfHeads ({NumberOfHeads}): each head gets EmbeddingDimension / NumberOfHeads dimensions.");
        }
        else
        {
            ectx.CheckUserArg(!TieWeights, nameof(TieWeights), "Weight tying is for the Transformer only (a recurrent model's output width is HiddenSize, not EmbeddingDimension).");
        }
        ectx.CheckUserArg(Dropout >= 0 && Dropout < 1, nameof(Dropout), $"Must be in [0, 1); got {Dropout}.");
        ectx.CheckUserArg(LabelSmoothing >= 0 && LabelSmoothing < 1, nameof(LabelSmoothing), $"Must be in [0, 1); got {LabelSmoothing}.");
        ectx.CheckUserArg(MinimumTokenFrequency >= 1, nameof(MinimumTokenFrequency), $"Must be at least 1; got {MinimumTokenFrequency}.");
        ectx.CheckUserArg(MaximumVocabularySize >= 3, nameof(MaximumVocabularySize), $"Must be at least 3 (two special tokens and one symbol); got {MaximumVocabularySize}.");
        ectx.CheckUserArg(!string.IsNullOrWhiteSpace(LogLikelihoodColumnName), nameof(LogLikelihoodColumnName), "Must name a column.");
        ectx.CheckUserArg(!string.IsNullOrWhiteSpace(TokenCountColumnName), nameof(TokenCountColumnName), "Must name a column.");
        ectx.CheckUserArg(!string.IsNullOrWhiteSpace(PerplexityColumnName), nameof(PerplexityColumnName), "Must name a column.");
    }
}
