using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Examples;

/// <summary>
/// The yardstick of generated digits: a small 784-256-10 MLP classifier (ReLU) trained with TorchSharp on the
/// training digits. The Fréchet distance between two sets of digits is measured in its 256 hidden ReLU features
/// (float64), as FID does with Inception features (Heusel et al. 2017).
/// </summary>
public sealed class DigitClassifier : IDisposable
{
    private readonly nn.Module<Tensor, Tensor> _hidden;   // 784 -> 256, ReLU
    private readonly nn.Module<Tensor, Tensor> _output;   // 256 -> 10

    private DigitClassifier(nn.Module<Tensor, Tensor> hidden, nn.Module<Tensor, Tensor> output)
    {
        _hidden = hidden;
        _output = output;
    }

    /// <summary>Trains on <paramref name="digits"/> (Adam 1e-3, batch 128, cross-entropy), seeded.</summary>
    public static DigitClassifier Train(IReadOnlyList<Digit> digits, int epochs = 5, int seed = 1)
    {
        manual_seed(seed);
        var hidden = nn.Sequential(("linear", nn.Linear(Digit.Pixels, 256)), ("relu", nn.ReLU()));
        var output = nn.Linear(256, 10);
        var parameters = hidden.parameters().Concat(output.parameters()).ToList();
        using var optimizer = optim.Adam(parameters, 1e-3);
        using var x = Stack(digits);
        using var y = tensor(digits.Select(d => (long)d.Label).ToArray());
        using var generator = new Generator((ulong)seed);
        for (int epoch = 0; epoch < epochs; epoch++)
        {
            using var order = randperm(digits.Count, generator: generator);
            for (int start = 0; start < digits.Count; start += 128)
            {
                using var scope = NewDisposeScope();
                var index = order.narrow(0, start, Math.Min(128, digits.Count - start));
                var logits = output.forward(hidden.forward(x.index_select(0, index)));
                var loss = nn.functional.cross_entropy(logits, y.index_select(0, index));
                optimizer.zero_grad();
                loss.backward();
                optimizer.step();
            }
        }
        hidden.eval();
        output.eval();
        return new DigitClassifier(hidden, output);
    }

    /// <summary>Fraction of <paramref name="digits"/> classified correctly.</summary>
    public double Accuracy(IReadOnlyList<Digit> digits)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var predicted = _output.forward(_hidden.forward(Stack(digits))).argmax(1).data<long>().ToArray();
        return predicted.Where((p, i) => p == (long)digits[i].Label).Count() / (double)digits.Count;
    }

    /// <summary>The 256 hidden ReLU features of each image (intensities in [0, 1], 784 values).</summary>
    public float[][] Features(IReadOnlyList<float[]> images)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var flat = new float[images.Count * Digit.Pixels];
        for (int i = 0; i < images.Count; i++)
            images[i].CopyTo(flat, i * Digit.Pixels);
        var features = _hidden.forward(tensor(flat, new long[] { images.Count, Digit.Pixels })).data<float>().ToArray();
        return Enumerable.Range(0, images.Count).Select(i => features.AsSpan(i * 256, 256).ToArray()).ToArray();
    }

    /// <summary>Fréchet distance between two sets of images in this classifier's hidden features.</summary>
    public double FrechetDistance(IReadOnlyList<float[]> real, IReadOnlyList<float[]> generated)
        => Evaluation.FrechetDistance.Compute(Features(real), Features(generated));

    private static Tensor Stack(IReadOnlyList<Digit> digits)
    {
        var flat = new float[digits.Count * Digit.Pixels];
        for (int i = 0; i < digits.Count; i++)
            digits[i].Features.CopyTo(flat, i * Digit.Pixels);
        return tensor(flat, new long[] { digits.Count, Digit.Pixels });
    }

    public void Dispose()
    {
        _hidden.Dispose();
        _output.Dispose();
    }
}
