using System;
using System.Collections.Generic;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Autoregressive;

/// <summary>The architecture a <see cref="SequenceNetwork"/> is built from; saved with the model.</summary>
internal sealed record SequenceNetworkArchitecture(SequenceArchitecture Kind, int VocabularySize, int EmbeddingDimension,
    int HiddenSize, int NumberOfLayers, int NumberOfHeads, int ContextLength, double Dropout, bool TieWeights)
{
    /// <summary>Number of weights, computed from the shapes (checked against the built network by a test).</summary>
    public long ParameterCount
    {
        get
        {
            long v = VocabularySize, e = EmbeddingDimension, h = HiddenSize, l = NumberOfLayers;
            switch (Kind)
            {
                case SequenceArchitecture.Gru:
                case SequenceArchitecture.Lstm:
                {
                    long gates = Kind == SequenceArchitecture.Gru ? 3 : 4;
                    long rnn = gates * (e * h + h * h + 2 * h) + (l - 1) * gates * (h * h + h * h + 2 * h);
                    return v * e + rnn + h * v + v;
                }
                default:
                {
                    long block = 2 * 2 * e + (e * 3 * e + 3 * e) + (e * e + e) + (e * h + h) + (h * e + e);
                    return v * e + ContextLength * e + l * block + 2 * e + (TieWeights ? v : e * v + v);
                }
            }
        }
    }
}

/// <summary>
/// A next-token model: <c>forward(tokens [B, T] int64) → logits [B, T, V]</c>, where the logits at position t are a
/// function of tokens 0 … t only (causal). <see cref="Start"/>/<see cref="Step"/> run it incrementally for generation.
/// Field names are the saved weights' names: renaming one breaks saved models.
/// </summary>
internal abstract class SequenceNetwork : nn.Module<Tensor, Tensor>
{
    protected SequenceNetwork(string name, SequenceNetworkArchitecture architecture) : base(name)
    {
        Architecture = architecture;
    }

    public SequenceNetworkArchitecture Architecture { get; }

    /// <summary>A fresh incremental state for <paramref name="batch"/> sequences.</summary>
    public abstract GenerationState Start(int batch, bool useCache = true);

    /// <summary>
    /// Feeds <paramref name="tokens"/> <c>[B, t]</c> (the next t tokens of every sequence) and returns the logits
    /// after the last one, <c>[B, V]</c>. The state's tensors are kept outside the caller's dispose scope.
    /// </summary>
    public abstract Tensor Step(Tensor tokens, GenerationState state);

    public static SequenceNetwork Create(SequenceNetworkArchitecture a)
        => a.Kind == SequenceArchitecture.Transformer ? new TransformerNetwork(a) : new RecurrentNetwork(a);
}

/// <summary>What incremental generation carries from step to step; owns its tensors.</summary>
internal abstract class GenerationState : IDisposable
{
    /// <summary>Replaces a held tensor: the new one leaves the current dispose scope, the old one is freed.</summary>
    protected static void Hold(ref Tensor? field, Tensor? value)
    {
        if (ReferenceEquals(field, value)) return;
        field?.Dispose();
        field = value?.DetachFromDisposeScope();
    }

    public abstract void Dispose();
}

/// <summary>Embedding → GRU or LSTM stack (batch first) → linear head. Its generation state is the recurrent state.</summary>
internal sealed class RecurrentNetwork : SequenceNetwork
{
    private readonly Embedding embedding;
    private readonly GRU? gru;
    private readonly LSTM? lstm;
    private readonly Dropout dropout;
    private readonly Linear head;

    public RecurrentNetwork(SequenceNetworkArchitecture a) : base("RecurrentNetwork", a)
    {
        embedding = nn.Embedding(a.VocabularySize, a.EmbeddingDimension);
        double between = a.NumberOfLayers > 1 ? a.Dropout : 0;
        if (a.Kind == SequenceArchitecture.Gru)
            gru = nn.GRU(a.EmbeddingDimension, a.HiddenSize, a.NumberOfLayers, batchFirst: true, dropout: between);
        else
            lstm = nn.LSTM(a.EmbeddingDimension, a.HiddenSize, a.NumberOfLayers, batchFirst: true, dropout: between);
        dropout = nn.Dropout(a.Dropout);
        head = nn.Linear(a.HiddenSize, a.VocabularySize);
        RegisterComponents();
    }

    public override Tensor forward(Tensor tokens)
    {
        var x = dropout.forward(embedding.forward(tokens));                  // [B, T, E]
        var h = gru is not null ? Gru(x) : lstm!.forward(x, null).Item1;    // [B, T, H]
        return head.forward(dropout.forward(h));                             // [B, T, V]
    }

    /// <summary>
    /// <c>nn.GRU</c>'s function from a zero state. While training with gradients each layer runs as one fused
    /// operation (<see cref="GruLayerFunction"/>: same equations and weights, a fraction of the kernels), with the
    /// GRU's dropout between layers; scoring, generation and batches too large for the kernel (2³¹ elements) use
    /// <c>nn.GRU</c> itself.
    /// </summary>
    private Tensor Gru(Tensor x)
    {
        var a = Architecture;
        if (!training || !is_grad_enabled() || !GruLayerFunction.Fits(x.shape[0], x.shape[1], a.HiddenSize, a.EmbeddingDimension))
            return gru!.forward(x, null).Item1;
        for (int l = 0; l < a.NumberOfLayers; l++)
        {
            if (l > 0 && a.Dropout > 0)
                x = nn.functional.dropout(x, a.Dropout, training: true);
            x = GruLayerFunction.Apply(x, Weight($"weight_ih_l{l}"), Weight($"weight_hh_l{l}"), Weight($"bias_ih_l{l}"), Weight($"bias_hh_l{l}"));
        }
        return x;
    }

    // Looked up per call (never cached), so the fused path always uses the tensors the module holds now.
    private TorchSharp.Modules.Parameter Weight(string name)
        => gru!.get_parameter(name) ?? throw new InvalidOperationException($"nn.GRU has no parameter {name}.");

    public override GenerationState Start(int batch, bool useCache = true) => new RecurrentState();

    public override Tensor Step(Tensor tokens, GenerationState state)
    {
        var s = (RecurrentState)state;
        var x = embedding.forward(tokens);                                   // [B, t, E]
        Tensor output;
        if (gru is not null)
        {
            var (o, h) = gru.forward(x, s.H);
            s.Set(h, null);
            output = o;
        }
        else
        {
            var (o, h, c) = lstm!.forward(x, s.H is null ? null : (s.H, s.C!));
            s.Set(h, c);
            output = o;
        }
        return head.forward(output.select(1, -1));                            // [B, V]
    }

    private sealed class RecurrentState : GenerationState
    {
        private Tensor? _h, _c;

        public Tensor? H => _h;

        public Tensor? C => _c;

        public void Set(Tensor h, Tensor? c)
        {
            Hold(ref _h, h);
            Hold(ref _c, c);
        }

        public override void Dispose()
        {
            _h?.Dispose();
            _c?.Dispose();
        }
    }
}

/// <summary>
/// Pre-LN causal self-attention block: x + Attention(LN₁(x)), then x + MLP(LN₂(x)) with MLP = Linear(d, F) → GELU →
/// Linear(F, d). Attention is softmax(QKᵀ/√(d/h) + causal mask)·V over h heads.
/// </summary>
internal sealed class TransformerBlock : nn.Module<Tensor, Tensor>
{
    private readonly LayerNorm ln1;
    private readonly Linear qkv;
    private readonly Linear proj;
    private readonly LayerNorm ln2;
    private readonly Linear fc;
    private readonly Linear fcProj;
    private readonly Dropout dropout;
    private readonly int _heads;
    private readonly double _dropout;

    public TransformerBlock(int d, int heads, int mlp, double dropout) : base("TransformerBlock")
    {
        _heads = heads;
        _dropout = dropout;
        ln1 = nn.LayerNorm(d);
        qkv = nn.Linear(d, 3 * d);
        proj = nn.Linear(d, d);
        ln2 = nn.LayerNorm(d);
        fc = nn.Linear(d, mlp);
        fcProj = nn.Linear(mlp, d);
        this.dropout = nn.Dropout(dropout);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var (q, k, v) = Heads(x);                                            // [B, h, T, d/h] each
        var y = nn.functional.scaled_dot_product_attention(q, k, v, null, training ? _dropout : 0, true);
        return Rest(x, y);
    }

    /// <summary>
    /// The block on t new positions given the cached keys and values of the earlier ones (<c>[B, h, T₀, d/h]</c>,
    /// null when none); the caches grow by t. New positions attend to all cached ones and causally among themselves.
    /// </summary>
    public Tensor Forward(Tensor x, ref Tensor? keys, ref Tensor? values)
    {
        var (q, k, v) = Heads(x);
        long t = x.shape[1];
        if (keys is not null && t > 1)
            throw new InvalidOperationException("A multi-token step after the cache is filled is not supported.");
        var allK = keys is null ? k : cat(new[] { keys, k }, 2);
        var allV = values is null ? v : cat(new[] { values, v }, 2);
        keys = allK;
        values = allV;
        // One new token sees every cached position: no mask. A first (prompt) pass is causal among its tokens.
        var y = nn.functional.scaled_dot_product_attention(q, allK, allV, null, 0, t > 1);
        return Rest(x, y);
    }

    private (Tensor Q, Tensor K, Tensor V) Heads(Tensor x)
    {
        long b = x.shape[0], t = x.shape[1], d = x.shape[2];
        var h = qkv.forward(ln1.forward(x))                                  // [B, T, 3d]
            .view(b, t, 3, _heads, d / _heads)                              // [B, T, 3, h, d/h]
            .permute(2, 0, 3, 1, 4);                                         // [3, B, h, T, d/h]
        return (h[0], h[1], h[2]);
    }

    private Tensor Rest(Tensor x, Tensor y)
    {
        long b = x.shape[0], t = x.shape[1], d = x.shape[2];
        y = y.transpose(1, 2).reshape(b, t, d);                              // [B, T, d]
        x = x + dropout.forward(proj.forward(y));
        var m = fcProj.forward(nn.functional.gelu(fc.forward(ln2.forward(x))));
        return x + dropout.forward(m);                                       // [B, T, d]
    }
}

/// <summary>
/// Decoder-only pre-LN Transformer (GPT-2 layout, Radford et al., 2019): token + learned position embeddings,
/// <see cref="TransformerBlock"/>s, final LayerNorm, linear head (optionally tied to the token embedding). Weights
/// start as in GPT-2: N(0, 0.02²), biases 0, residual projections scaled by 1/√(2L).
/// </summary>
internal sealed class TransformerNetwork : SequenceNetwork
{
    private readonly Embedding wte;
    private readonly Embedding wpe;
    private readonly Dropout dropout;
    private readonly ModuleList<TransformerBlock> blocks;
    private readonly LayerNorm lnf;
    private readonly Linear? head;
    private readonly Parameter? headBias;

    public TransformerNetwork(SequenceNetworkArchitecture a) : base("TransformerNetwork", a)
    {
        int d = a.EmbeddingDimension;
        wte = nn.Embedding(a.VocabularySize, d);
        wpe = nn.Embedding(a.ContextLength, d);
        dropout = nn.Dropout(a.Dropout);
        blocks = new ModuleList<TransformerBlock>();
        for (int i = 0; i < a.NumberOfLayers; i++)
            blocks.Add(new TransformerBlock(d, a.NumberOfHeads, a.HiddenSize, a.Dropout));
        lnf = nn.LayerNorm(d);
        if (a.TieWeights)
            headBias = nn.Parameter(zeros(a.VocabularySize));
        else
            head = nn.Linear(d, a.VocabularySize);
        RegisterComponents();
        Initialize(a.NumberOfLayers);
    }

    private void Initialize(int layers)
    {
        using var noGrad = no_grad();
        foreach (var (name, p) in named_parameters())
        {
            if (name.EndsWith("bias") || name.Contains("ln") || name == "headBias")
                continue; // biases stay 0, LayerNorm gains 1 (their defaults)
            double std = name.EndsWith("proj.weight") || name.EndsWith("fcProj.weight") ? 0.02 / Math.Sqrt(2.0 * layers) : 0.02;
            nn.init.normal_(p, 0, std);
        }
        foreach (var (name, p) in named_parameters())
        {
            if (name.EndsWith("bias") && !name.Contains("ln"))
                nn.init.zeros_(p);   // (Tensor.zero_ would hand back a second handle that outlives the call)
        }
    }

    public override Tensor forward(Tensor tokens)
    {
        long t = tokens.shape[1];
        if (t > Architecture.ContextLength)
            throw new ArgumentException($"The window holds {t} tokens; the model has {Architecture.ContextLength} positions.");
        using var positions = arange(t, dtype: ScalarType.Int64);
        var x = dropout.forward(wte.forward(tokens) + wpe.forward(positions));   // [B, T, d]
        foreach (var block in blocks)
            x = block.forward(x);
        return Head(lnf.forward(x));                                              // [B, T, V]
    }

    private Tensor Head(Tensor x) => head is not null ? head.forward(x) : nn.functional.linear(x, wte.weight!, headBias!);

    public override GenerationState Start(int batch, bool useCache = true) => new TransformerState(blocks.Count, useCache);

    /// <summary>
    /// With the cache: the new tokens at positions T₀ … T₀ + t − 1 attend to the cached keys/values, O(T₀) per token.
    /// Once the sequence outgrows the learned positions, and always without the cache, the last
    /// <c>ContextLength</c> tokens are run from scratch (exactly what uncached generation computes).
    /// </summary>
    public override Tensor Step(Tensor tokens, GenerationState state)
    {
        var s = (TransformerState)state;
        s.Append(tokens);
        int c = Architecture.ContextLength;
        long length = s.History!.shape[1];
        if (!s.UseCache || length > c)
        {
            s.ClearCache();
            var window = length > c ? s.History.narrow(1, length - c, c) : s.History;
            if (!s.UseCache || length > c)
                return forward(window).select(1, -1);                             // [B, V]
        }
        long t = tokens.shape[1];
        long start = length - t;
        using var positions = arange(start, length, dtype: ScalarType.Int64);
        var x = wte.forward(tokens) + wpe.forward(positions);                     // [B, t, d]
        for (int i = 0; i < blocks.Count; i++)
        {
            Tensor? k = s.Keys[i], v = s.Values[i];
            x = blocks[i].Forward(x, ref k, ref v);
            s.SetCache(i, k!, v!);
        }
        return Head(lnf.forward(x.select(1, -1)));                                // [B, V]
    }

    private sealed class TransformerState : GenerationState
    {
        private Tensor? _history;
        private readonly Tensor?[] _keys, _values;

        public TransformerState(int layers, bool useCache)
        {
            UseCache = useCache;
            _keys = new Tensor?[layers];
            _values = new Tensor?[layers];
        }

        public bool UseCache { get; }

        /// <summary>Every token fed so far, <c>[B, L]</c>.</summary>
        public Tensor? History => _history;

        public Tensor?[] Keys => _keys;

        public Tensor?[] Values => _values;

        public void Append(Tensor tokens) => Hold(ref _history, _history is null ? tokens.clone() : cat(new[] { _history, tokens }, 1));

        public void SetCache(int layer, Tensor k, Tensor v)
        {
            Hold(ref _keys[layer], k);
            Hold(ref _values[layer], v);
        }

        public void ClearCache()
        {
            for (int i = 0; i < _keys.Length; i++)
            {
                Hold(ref _keys[i], null);
                Hold(ref _values[i], null);
            }
        }

        public override void Dispose()
        {
            _history?.Dispose();
            ClearCache();
        }
    }
}
