using System;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Microsoft.ML.Generative.Losses;

/// <summary>The objective pair a GAN trains its discriminator (critic) and generator with.</summary>
/// <remarks>
/// r and f are the raw discriminator outputs (logits, or critic scores) on real and generated examples; σ is the
/// sigmoid. softplus(x) = log(1 + eˣ), so −log σ(r) = softplus(−r) and −log(1 − σ(f)) = softplus(f).
/// </remarks>
public enum AdversarialLoss
{
    /// <summary>
    /// The original minimax game (Goodfellow et al. 2014, "Generative Adversarial Nets", eq. 1):
    /// D = softplus(−r) + softplus(f); G = −softplus(f), i.e. G minimizes log(1 − D(G(z))). Its generator gradient
    /// vanishes when the discriminator confidently rejects fakes; prefer <see cref="NonSaturating"/>.
    /// </summary>
    Minimax,

    /// <summary>
    /// The non-saturating variant (Goodfellow et al. 2014, §3): D as in <see cref="Minimax"/>; G = softplus(−f),
    /// i.e. G maximizes log D(G(z)).
    /// </summary>
    NonSaturating,

    /// <summary>
    /// Wasserstein GAN (Arjovsky, Chintala &amp; Bottou 2017, "Wasserstein GAN"): D = f − r; G = −f. The critic must
    /// be kept (roughly) 1-Lipschitz, e.g. with <see cref="AdversarialLosses.GradientPenalty"/>.
    /// </summary>
    Wasserstein,

    /// <summary>
    /// Hinge loss (Lim &amp; Ye 2017, "Geometric GAN"; Miyato et al. 2018, "Spectral Normalization for GANs"):
    /// D = relu(1 − r) + relu(1 + f); G = −f.
    /// </summary>
    Hinge,

    /// <summary>
    /// Least squares GAN with targets a = 0, b = c = 1 (Mao et al. 2017, "Least Squares Generative Adversarial
    /// Networks", eq. 2): D = ½(r − 1)² + ½f²; G = ½(f − 1)². The outputs are used as scores, without a sigmoid.
    /// </summary>
    LeastSquares,
}

/// <summary>
/// GAN losses for the discriminator (critic) and generator steps, and gradient penalties that regularize the
/// discriminator.
/// </summary>
/// <remarks>
/// <para>All functions take raw discriminator outputs (no sigmoid applied): [B] or [B, 1]. The formulas of each
/// <see cref="AdversarialLoss"/> are on its members. Values are in nats for the log-likelihood-based kinds and in
/// critic units otherwise. Results have the dtype and device of the inputs (float32 or float64).</para>
/// <para>The functions never modify or dispose their arguments, and dispose their own intermediates.</para>
/// </remarks>
public static class AdversarialLosses
{
    /// <summary>The discriminator (critic) loss: real examples should score high, generated ones low.</summary>
    /// <param name="kind">The GAN objective.</param>
    /// <param name="realLogits">Discriminator outputs on real examples, [B_r] or [B_r, 1].</param>
    /// <param name="fakeLogits">Discriminator outputs on generated examples, [B_f] or [B_f, 1] (usually computed on <c>fake.detach()</c>).</param>
    /// <param name="reduction">
    /// <see cref="LossReduction.Mean"/>: mean of the real terms + mean of the fake terms (B_r and B_f may differ);
    /// <see cref="LossReduction.Sum"/>: sum of the real terms + sum of the fake terms;
    /// <see cref="LossReduction.None"/>: real_i + fake_i, shape [B], which needs B_r = B_f.
    /// </param>
    /// <returns>A scalar, or [B] for <see cref="LossReduction.None"/>.</returns>
    /// <remarks>
    /// Per-example terms (r = real logit, f = fake logit): minimax and non-saturating softplus(−r) + softplus(f)
    /// (the binary cross-entropy, stable for any logit); Wasserstein f − r; hinge relu(1 − r) + relu(1 + f);
    /// least squares ½(r − 1)² + ½f². References are on <see cref="AdversarialLoss"/>.
    /// </remarks>
    /// <exception cref="ArgumentNullException">A tensor is null.</exception>
    /// <exception cref="ArgumentException">Wrong shape, dtype or device, or unequal batch sizes with <see cref="LossReduction.None"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="kind"/> or <paramref name="reduction"/> is unknown.</exception>
    public static Tensor DiscriminatorLoss(AdversarialLoss kind, Tensor realLogits, Tensor fakeLogits, LossReduction reduction = LossReduction.Mean)
    {
        LossGuard.Defined(kind, nameof(kind));
        LossGuard.Defined(reduction, nameof(reduction));
        CheckLogits(realLogits, nameof(realLogits));
        CheckLogits(fakeLogits, nameof(fakeLogits));
        LossGuard.SameDtypeAndDevice(fakeLogits, nameof(fakeLogits), realLogits, nameof(realLogits));
        if (reduction == LossReduction.None && realLogits.shape[0] != fakeLogits.shape[0])
        {
            throw new ArgumentException(
                $"reduction None returns realTerm_i + fakeTerm_i per example, so realLogits and fakeLogits must have the " +
                $"same batch size, but have shapes {LossGuard.Shape(realLogits)} and {LossGuard.Shape(fakeLogits)}. " +
                "Use LossReduction.Mean (mean over each batch) for unequal batches.", nameof(fakeLogits));
        }

        using var scope = NewDisposeScope();
        var r = realLogits.reshape(-1);
        var f = fakeLogits.reshape(-1);
        var realTerm = kind switch
        {
            AdversarialLoss.Minimax or AdversarialLoss.NonSaturating => LossMath.Softplus(r.neg()),
            AdversarialLoss.Wasserstein => r.neg(),
            AdversarialLoss.Hinge => functional.relu(r.neg().add_(1.0)),
            _ => LossMath.HalfSquare(r - 1.0), // LeastSquares: ½(r − 1)² as d·(½d), no early overflow
        };
        var fakeTerm = kind switch
        {
            AdversarialLoss.Minimax or AdversarialLoss.NonSaturating => LossMath.Softplus(f),
            AdversarialLoss.Wasserstein => f,
            AdversarialLoss.Hinge => functional.relu(f + 1.0),
            _ => LossMath.HalfSquare(f), // LeastSquares
        };
        var result = reduction switch
        {
            LossReduction.Mean => realTerm.mean() + fakeTerm.mean(),
            LossReduction.Sum => realTerm.sum() + fakeTerm.sum(),
            _ => realTerm + fakeTerm,
        };
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>The generator loss: generated examples should be scored as real.</summary>
    /// <param name="kind">The GAN objective.</param>
    /// <param name="fakeLogits">Discriminator outputs on generated examples, [B] or [B, 1] (not detached: the gradient flows into the generator).</param>
    /// <param name="reduction">Reduction over the batch.</param>
    /// <returns>A scalar, or [B] for <see cref="LossReduction.None"/>.</returns>
    /// <remarks>
    /// Per-example terms (f = fake logit): minimax −softplus(f) (= log(1 − σ(f)), minimized); non-saturating
    /// softplus(−f) (= −log σ(f)); Wasserstein −f; hinge −f; least squares ½(f − 1)². References are on
    /// <see cref="AdversarialLoss"/>.
    /// </remarks>
    /// <exception cref="ArgumentNullException"><paramref name="fakeLogits"/> is null.</exception>
    /// <exception cref="ArgumentException">Wrong shape or dtype.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="kind"/> or <paramref name="reduction"/> is unknown.</exception>
    public static Tensor GeneratorLoss(AdversarialLoss kind, Tensor fakeLogits, LossReduction reduction = LossReduction.Mean)
    {
        LossGuard.Defined(kind, nameof(kind));
        LossGuard.Defined(reduction, nameof(reduction));
        CheckLogits(fakeLogits, nameof(fakeLogits));

        using var scope = NewDisposeScope();
        var f = fakeLogits.reshape(-1);
        var perExample = kind switch
        {
            AdversarialLoss.Minimax => LossMath.Softplus(f).neg_(),
            AdversarialLoss.NonSaturating => LossMath.Softplus(f.neg()),
            AdversarialLoss.Wasserstein or AdversarialLoss.Hinge => f.neg(),
            _ => LossMath.HalfSquare(f - 1.0), // LeastSquares
        };
        return LossReducer.Reduce(perExample, reduction).MoveToOuterDisposeScope();
    }

    /// <summary>The WGAN-GP gradient penalty on random interpolates of real and generated examples.</summary>
    /// <param name="critic">The critic, mapping a batch [B, ...] to scores [B] or [B, 1].</param>
    /// <param name="real">Real examples [B, ...].</param>
    /// <param name="fake">Generated examples, same shape as <paramref name="real"/>.</param>
    /// <param name="target">The gradient norm aimed at (1 in WGAN-GP; 0 gives a zero-centred penalty). Must be ≥ 0.</param>
    /// <param name="epsilon">Optional interpolation weights ε [B] in [0, 1], of the dtype of <paramref name="real"/>; when null they are drawn from U[0, 1).</param>
    /// <param name="reduction">Reduction over the batch. Multiply the result by λ (10 in the paper) yourself.</param>
    /// <param name="generator">Random generator for ε when <paramref name="epsilon"/> is null; null uses the default generator.</param>
    /// <returns>The penalty: a scalar, or [B] for <see cref="LossReduction.None"/>.</returns>
    /// <remarks>
    /// <para>GP_i = (‖∇_x̂ D(x̂_i)‖₂ − target)², x̂_i = ε_i·real_i + (1 − ε_i)·fake_i (Gulrajani et al. 2017,
    /// "Improved Training of Wasserstein GANs", Algorithm 1).</para>
    /// <para>The gradient is taken with create_graph, so the penalty can be backpropagated into the critic's
    /// parameters (double backward). <paramref name="real"/> and <paramref name="fake"/> are detached: no gradient
    /// reaches the generator through the penalty. Gradient recording is enabled inside the call, even under
    /// no_grad. The critic must treat examples independently (no batch normalization), since the gradient of
    /// the summed scores is used for each example.</para>
    /// </remarks>
    /// <exception cref="ArgumentNullException"><paramref name="critic"/>, <paramref name="real"/> or <paramref name="fake"/> is null, or the critic returns null.</exception>
    /// <exception cref="ArgumentException">Wrong shapes, dtypes or devices, or the critic's output has the wrong shape or does not depend differentiably on its input.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="target"/> is negative, <paramref name="epsilon"/> leaves [0, 1], or <paramref name="reduction"/> is unknown.</exception>
    public static Tensor GradientPenalty(Func<Tensor, Tensor> critic, Tensor real, Tensor fake, double target = 1.0, Tensor? epsilon = null, LossReduction reduction = LossReduction.Mean, Generator? generator = null)
    {
        LossGuard.NotNull(critic, nameof(critic), "the critic, a function from a batch [B, ...] to scores [B] or [B, 1]");
        LossGuard.NotNull(real, nameof(real), "[B, ...]");
        LossGuard.NotNull(fake, nameof(fake), "[B, ...] (the shape of real)");
        LossGuard.FloatingPoint(real, nameof(real));
        LossGuard.MinRank(real, nameof(real), 1, "[B, ...] (batch first)");
        long batch = LossGuard.BatchSize(real, nameof(real));
        LossGuard.FloatingPoint(fake, nameof(fake));
        LossGuard.SameShape(fake, nameof(fake), real, nameof(real));
        LossGuard.SameDtypeAndDevice(fake, nameof(fake), real, nameof(real));
        LossGuard.NonNegativeFinite(target, nameof(target), "the gradient norm aimed at");
        LossGuard.Defined(reduction, nameof(reduction));
        if (epsilon is not null)
        {
            LossGuard.FloatingPoint(epsilon, nameof(epsilon));
            if (epsilon.dim() != 1 || epsilon.shape[0] != batch)
            {
                throw new ArgumentException(
                    $"epsilon must hold one interpolation weight per example, shape [{batch}], but has shape {LossGuard.Shape(epsilon)}.",
                    nameof(epsilon));
            }
            LossGuard.SameDtypeAndDevice(epsilon, nameof(epsilon), real, nameof(real));
            var (min, max) = LossGuard.ValueRange(epsilon);
            if (!(min >= 0 && max <= 1))
            {
                throw new ArgumentOutOfRangeException(nameof(epsilon),
                    $"epsilon must lie in [0, 1] (x̂ = ε·real + (1 − ε)·fake), but its values range over " +
                    $"[{LossGuard.Number(min)}, {LossGuard.Number(max)}].");
            }
        }

        using var scope = NewDisposeScope();
        using var gradMode = enable_grad(true);
        var eps = epsilon?.detach() ?? rand(batch, real.dtype, real.device, generator: generator);
        var weightShape = new long[real.dim()];
        Array.Fill(weightShape, 1L);
        weightShape[0] = batch;
        eps = eps.reshape(weightShape);
        // x̂ = ε·real + (1 − ε)·fake = fake + ε (real − fake): a leaf, since both inputs are detached.
        var fakeData = fake.detach();
        var interpolates = real.detach() - fakeData;
        interpolates.mul_(eps).add_(fakeData);
        interpolates.requires_grad_(true);

        var gradient = InputGradient(critic, nameof(critic), interpolates, batch);
        var norm = linalg.vector_norm(gradient.reshape(batch, -1), 2, new long[] { 1 });
        var perExample = (norm - target).square();
        return LossReducer.Reduce(perExample, reduction).MoveToOuterDisposeScope();
    }

    /// <summary>The R1 penalty: the squared gradient norm of the discriminator on real data.</summary>
    /// <param name="discriminator">The discriminator, mapping a batch [B, ...] to logits [B] or [B, 1].</param>
    /// <param name="real">Real examples [B, ...].</param>
    /// <param name="gamma">γ ≥ 0, the penalty weight (already applied; 10 is common).</param>
    /// <param name="reduction">Reduction over the batch.</param>
    /// <returns>The penalty: a scalar, or [B] for <see cref="LossReduction.None"/>.</returns>
    /// <remarks>
    /// <para>R1_i = (γ/2)·‖∇_x D(x)‖₂² at x = real_i (Mescheder, Geiger &amp; Nowozin 2018, "Which Training Methods
    /// for GANs do actually Converge?", eq. 9).</para>
    /// <para>The gradient is taken with create_graph so the penalty backpropagates into the discriminator's
    /// parameters. <paramref name="real"/> is detached; gradient recording is enabled inside the call. The
    /// discriminator must treat examples independently.</para>
    /// </remarks>
    /// <exception cref="ArgumentNullException"><paramref name="discriminator"/> or <paramref name="real"/> is null, or the discriminator returns null.</exception>
    /// <exception cref="ArgumentException">Wrong dtype or shape, or the discriminator's output has the wrong shape or does not depend differentiably on its input.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="gamma"/> is negative or not finite, or <paramref name="reduction"/> is unknown.</exception>
    public static Tensor R1Penalty(Func<Tensor, Tensor> discriminator, Tensor real, double gamma = 10.0, LossReduction reduction = LossReduction.Mean)
    {
        LossGuard.NotNull(discriminator, nameof(discriminator), "the discriminator, a function from a batch [B, ...] to logits [B] or [B, 1]");
        LossGuard.NotNull(real, nameof(real), "[B, ...]");
        LossGuard.FloatingPoint(real, nameof(real));
        LossGuard.MinRank(real, nameof(real), 1, "[B, ...] (batch first)");
        long batch = LossGuard.BatchSize(real, nameof(real));
        LossGuard.NonNegativeFinite(gamma, nameof(gamma), "the penalty weight");
        LossGuard.Defined(reduction, nameof(reduction));

        using var scope = NewDisposeScope();
        using var gradMode = enable_grad(true);
        var x = real.detach().requires_grad_(true);
        var gradient = InputGradient(discriminator, nameof(discriminator), x, batch);
        var perExample = gradient.reshape(batch, -1).square().sum(1).mul_(0.5 * gamma);
        return LossReducer.Reduce(perExample, reduction).MoveToOuterDisposeScope();
    }

    /// <summary>∇_x Σ_i D(x)_i with create_graph, after the checks that keep libtorch from aborting the process.</summary>
    private static Tensor InputGradient(Func<Tensor, Tensor> model, string modelName, Tensor x, long batch)
    {
        var output = model(x) ?? throw new ArgumentNullException(modelName, $"{modelName} returned null; it must return scores [{batch}] or [{batch}, 1].");
        bool shapeOk = (output.dim() == 1 && output.shape[0] == batch) ||
                       (output.dim() == 2 && output.shape[0] == batch && output.shape[1] == 1);
        if (!shapeOk)
        {
            throw new ArgumentException(
                $"{modelName} must return one score per example, shape [{batch}] or [{batch}, 1], but returned shape " +
                $"{LossGuard.Shape(output)}. Do not reduce over the batch inside it.", modelName);
        }
        if (!output.is_floating_point())
        {
            throw new ArgumentException($"{modelName} returned a {output.dtype} tensor; it must return floating-point scores.", modelName);
        }
        // libtorch aborts the process (instead of throwing) when asked for the gradient of an output without history.
        if (!output.requires_grad)
        {
            throw new ArgumentException(
                $"{modelName}'s output does not require grad, so its gradient with respect to the input cannot be taken. " +
                "Do not detach the output or run the model under no_grad inside the function.", modelName);
        }
        var gradients = autograd.grad(new[] { output.sum() }, new[] { x }, retain_graph: true, create_graph: true, allow_unused: true);
        if (gradients[0].IsInvalid)
        {
            throw new ArgumentException(
                $"{modelName}'s output does not depend on its input, so the penalty is undefined. Make sure the function " +
                "scores the tensor it is given.", modelName);
        }
        return gradients[0];
    }

    private static void CheckLogits(Tensor logits, string name)
    {
        LossGuard.NotNull(logits, name, "[B] or [B, 1]");
        LossGuard.FloatingPoint(logits, name);
        bool ok = logits.dim() == 1 || (logits.dim() == 2 && logits.shape[1] == 1);
        if (!ok)
        {
            throw new ArgumentException(
                $"{name} must be one raw discriminator output per example, shape [B] or [B, 1], but has shape " +
                $"{LossGuard.Shape(logits)}.", name);
        }
        LossGuard.BatchSize(logits, name);
    }
}
