using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Generative.Losses;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static Microsoft.ML.Generative.Tests.Losses.LossAssert;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Tests.Losses;

[TestClass]
public sealed class AdversarialLossTests
{
    private static readonly AdversarialLoss[] AllKinds = Enum.GetValues<AdversarialLoss>();

    // real logits r = [2, −1], fake logits f = [0.5, −3]. Expected per-example values, hand-computed with
    // softplus(x) = log(1 + eˣ):
    //   minimax / non-saturating D: softplus(−r) + softplus(f) = [0.126928 + 0.974077, 1.313262 + 0.048587]
    //   Wasserstein D: f − r = [−1.5, −2];  hinge D: relu(1 − r) + relu(1 + f) = [0 + 1.5, 2 + 0]
    //   least squares D: ½(r − 1)² + ½f² = [0.5 + 0.125, 2 + 4.5]
    //   G: minimax −softplus(f); non-saturating softplus(−f); Wasserstein and hinge −f; least squares ½(f − 1)²
    [TestMethod]
    [DataRow(AdversarialLoss.Minimax, 1.1010049952230792, 1.3618490390919649, -0.9740769841801067, -0.04858735157374206)]
    [DataRow(AdversarialLoss.NonSaturating, 1.1010049952230792, 1.3618490390919649, 0.4740769841801067, 3.048587351573742)]
    [DataRow(AdversarialLoss.Wasserstein, -1.5, -2.0, -0.5, 3.0)]
    [DataRow(AdversarialLoss.Hinge, 1.5, 2.0, -0.5, 3.0)]
    [DataRow(AdversarialLoss.LeastSquares, 0.625, 6.5, 0.125, 8.0)]
    public void DiscriminatorAndGeneratorLosses_MatchHandComputedValues(AdversarialLoss kind, double d0, double d1, double g0, double g1)
    {
        using var scope = NewDisposeScope();
        foreach (var dtype in FloatTypes)
        {
            double tol = dtype == ScalarType.Float32 ? 1e-6 : 1e-12;
            var real = tensor(new[] { 2.0, -1.0 }, dtype);
            var fake = tensor(new[] { 0.5, -3.0 }, dtype);
            Close(new[] { d0, d1 }, AdversarialLosses.DiscriminatorLoss(kind, real, fake, LossReduction.None), tol, $"{kind} D");
            Close((d0 + d1) / 2, AdversarialLosses.DiscriminatorLoss(kind, real, fake), tol, $"{kind} D mean");
            Close(new[] { g0, g1 }, AdversarialLosses.GeneratorLoss(kind, fake, LossReduction.None), tol, $"{kind} G");
            ReductionsAgree(r => AdversarialLosses.DiscriminatorLoss(kind, real, fake, r), 2, dtype);
            ReductionsAgree(r => AdversarialLosses.GeneratorLoss(kind, fake, r), 2, dtype);
        }
    }

    [TestMethod]
    [DataRow(AdversarialLoss.NonSaturating, 1.6281207205261314, 4.164267312297797)]
    [DataRow(AdversarialLoss.Wasserstein, -0.8333333333333333, -2.0)]
    [DataRow(AdversarialLoss.Hinge, 2.333333333333333, 6.0)]
    [DataRow(AdversarialLoss.LeastSquares, 3.166666666666667, 8.25)]
    public void DiscriminatorLoss_WithUnequalBatches_AddsTheMeanOfEachSide(AdversarialLoss kind, double mean, double sum)
    {
        using var scope = NewDisposeScope();
        // real [2, −1], fake [0.5, −3, 1.5]: Mean = mean(real terms) + mean(fake terms), Sum = sum + sum.
        var real = F64(2.0, -1.0);
        var fake = F64(0.5, -3.0, 1.5);
        Close(mean, AdversarialLosses.DiscriminatorLoss(kind, real, fake), 1e-12);
        Close(sum, AdversarialLosses.DiscriminatorLoss(kind, real, fake, LossReduction.Sum), 1e-12);
        // Column-shaped logits [B, 1] are the same losses.
        Close(mean, AdversarialLosses.DiscriminatorLoss(kind, real.unsqueeze(1), fake.unsqueeze(1)), 1e-12);
        Close(Values(AdversarialLosses.GeneratorLoss(kind, fake, LossReduction.None)),
            AdversarialLosses.GeneratorLoss(kind, fake.unsqueeze(1), LossReduction.None), 1e-12);
    }

    [TestMethod]
    public void MinimaxGenerator_Saturates_WhereTheNonSaturatingOneDoesNot()
    {
        using var scope = NewDisposeScope();
        // A discriminator that confidently rejects the fake (f = −10): dG/df is σ(f) = 4.54e-5 for minimax but
        // −σ(−f) = −0.99995 for non-saturating (Goodfellow et al. 2014, §3).
        var f = F64(-10.0).requires_grad_(true);
        Close(new[] { -4.5397868702434395e-05 }, autograd.grad(new[] { AdversarialLosses.GeneratorLoss(AdversarialLoss.Minimax, f) }, new[] { f })[0], 1e-15);
        Close(new[] { -0.9999546021312976 }, autograd.grad(new[] { AdversarialLosses.GeneratorLoss(AdversarialLoss.NonSaturating, f) }, new[] { f })[0], 1e-12);
    }

    [TestMethod]
    public void Losses_StayFinite_ForLogitsOfPlusMinus100()
    {
        using var scope = NewDisposeScope();
        foreach (var kind in AllKinds)
        {
            var real = F32(100, -100, 100).requires_grad_(true);
            var fake = F32(-100, 100, 0).requires_grad_(true);
            var d = AdversarialLosses.DiscriminatorLoss(kind, real, fake);
            var g = AdversarialLosses.GeneratorLoss(kind, fake);
            AllFinite(d, $"{kind} D");
            AllFinite(g, $"{kind} G");
            foreach (var grad in autograd.grad(new[] { d }, new[] { real, fake }).Concat(autograd.grad(new[] { g }, new[] { fake })))
            {
                AllFinite(grad, $"{kind} gradient");
            }
        }
    }

    [TestMethod]
    public void Losses_GradientsMatchFiniteDifferences()
    {
        using var scope = NewDisposeScope();
        // Away from the hinge's kinks at ±1.
        var real = F64(2.0, -0.4, 0.3, 1.7);
        var fake = F64(0.5, -3.0, 1.4, -0.2);
        foreach (var kind in AllKinds)
        {
            FiniteDifference.AssertGradientsMatch(t => AdversarialLosses.DiscriminatorLoss(kind, t[0], t[1]), real, fake[0..3]);
            FiniteDifference.AssertGradientsMatch(t => AdversarialLosses.DiscriminatorLoss(kind, t[0], t[1], LossReduction.None), real, fake);
            FiniteDifference.AssertGradientsMatch(t => AdversarialLosses.GeneratorLoss(kind, t[0], LossReduction.Sum), fake);
        }
    }

    private static Tensor Real => F64(new long[] { 2, 2 }, 1, 2, 0, -1);
    private static Tensor Fake => F64(new long[] { 2, 2 }, -1, 0, 2, 2);

    [TestMethod]
    public void GradientPenalty_OfAQuadraticCritic_MatchesHandComputedValues()
    {
        using var scope = NewDisposeScope();
        // D(x) = a/2 ‖x‖², ∇D = a x̂. With ε = [0.25, 0.5]: x̂ = [−0.5, 0.5] and [1, 0.5], so the norms are
        // 1.5·0.70711 and 1.5·1.11803 and GP = (norm − 1)².
        const double a = 1.5;
        Tensor Critic(Tensor x) => x.square().sum(1).mul(a / 2);
        var epsilon = F64(0.25, 0.5);
        double gp0 = Math.Pow(a * Math.Sqrt(0.5) - 1, 2), gp1 = Math.Pow(a * Math.Sqrt(1.25) - 1, 2);
        Close(new[] { gp0, gp1 }, AdversarialLosses.GradientPenalty(Critic, Real, Fake, epsilon: epsilon, reduction: LossReduction.None), 1e-12);
        Assert.AreEqual(0.0036796564403574422, gp0, 1e-15);
        ReductionsAgree(r => AdversarialLosses.GradientPenalty(Critic, Real, Fake, epsilon: epsilon, reduction: r), 2, ScalarType.Float64);
        // target 0: the zero-centred penalty is the squared norm itself.
        Close(new[] { a * a * 0.5, a * a * 1.25 }, AdversarialLosses.GradientPenalty(Critic, Real, Fake, target: 0, epsilon: epsilon, reduction: LossReduction.None), 1e-12);
        // ε = 1 puts x̂ on the real data, ε = 0 on the fake data.
        Close(new[] { Math.Pow(a * Math.Sqrt(5) - 1, 2), Math.Pow(a * 2 * Math.Sqrt(2) - 1, 2) },
            AdversarialLosses.GradientPenalty(Critic, Real, Fake, epsilon: F64(1.0, 0.0), reduction: LossReduction.None), 1e-12);
    }

    [TestMethod]
    public void GradientPenalty_WithDrawnEpsilon_IsReproducibleFromTheGenerator()
    {
        using var scope = NewDisposeScope();
        // A linear critic has gradient w everywhere: GP = (‖w‖ − 1)² whatever ε is.
        var w = F64(0.6, 1.2);
        Tensor Linear(Tensor x) => x.matmul(w);
        Close(Math.Pow(Math.Sqrt(0.36 + 1.44) - 1, 2), AdversarialLosses.GradientPenalty(Linear, Real, Fake), 1e-12);

        var images = randn(new long[] { 3, 2, 4, 4 }, ScalarType.Float64, generator: new Generator(1));
        var fakes = randn(new long[] { 3, 2, 4, 4 }, ScalarType.Float64, generator: new Generator(2));
        var kernel = randn(new long[] { 2, 4, 4 }, ScalarType.Float64, generator: new Generator(3));
        Tensor Critic(Tensor x) => (x * kernel).tanh().sum(new long[] { 1, 2, 3 });
        var first = AdversarialLosses.GradientPenalty(Critic, images, fakes, reduction: LossReduction.None, generator: new Generator(77));
        var second = AdversarialLosses.GradientPenalty(Critic, images, fakes, reduction: LossReduction.None, generator: new Generator(77));
        var explicitEpsilon = rand(3, ScalarType.Float64, generator: new Generator(77));
        Close(Values(first), second, 0, "same seed, same penalty");
        Close(Values(first), AdversarialLosses.GradientPenalty(Critic, images, fakes, epsilon: explicitEpsilon, reduction: LossReduction.None), 1e-12,
            "the drawn ε is rand(B) from the generator");
        Assert.AreNotEqual(Values(first)[0], Values(AdversarialLosses.GradientPenalty(Critic, images, fakes, reduction: LossReduction.None, generator: new Generator(78)))[0]);
    }

    [TestMethod]
    public void R1Penalty_OfAQuadraticDiscriminator_MatchesHandComputedValues()
    {
        using var scope = NewDisposeScope();
        // D(x) = a/2 ‖x‖²: ∇D = a x, R1 = γ/2 a² ‖x‖² = 5 · 2.25 · [5, 1] for γ = 10.
        Tensor Discriminator(Tensor x) => x.square().sum(1).mul(0.75).unsqueeze(1); // [B, 1] output
        Close(new[] { 56.25, 11.25 }, AdversarialLosses.R1Penalty(Discriminator, Real, reduction: LossReduction.None), 1e-12);
        Close(33.75, AdversarialLosses.R1Penalty(Discriminator, Real), 1e-12);
        Close(new[] { 5.625, 1.125 }, AdversarialLosses.R1Penalty(Discriminator, Real, gamma: 1, reduction: LossReduction.None), 1e-12);
        ReductionsAgree(r => AdversarialLosses.R1Penalty(Discriminator, Real, reduction: r), 2, ScalarType.Float64);
        ReductionsAgree(r => AdversarialLosses.R1Penalty(Discriminator, Real.to_type(ScalarType.Float32), reduction: r), 2, ScalarType.Float32);
    }

    [TestMethod]
    public void Penalties_BackpropagateIntoTheCriticParameters_AsFiniteDifferencesSay()
    {
        using var scope = NewDisposeScope();
        // A small MLP critic: D(x) = tanh(x W + c) · v. The penalties depend on its parameters only through the
        // input gradient, so autograd must differentiate the gradient (double backward).
        var g = new Generator(5);
        var weight = randn(new long[] { 2, 3 }, ScalarType.Float64, generator: g);
        var bias = randn(new long[] { 3 }, ScalarType.Float64, generator: g);
        var head = randn(new long[] { 3 }, ScalarType.Float64, generator: g);
        static Func<Tensor, Tensor> Mlp(Tensor[] p) => x => x.matmul(p[0]).add(p[1]).tanh().matmul(p[2]);
        var epsilon = F64(0.3, 0.8);
        FiniteDifference.AssertGradientsMatch(p => AdversarialLosses.GradientPenalty(Mlp(p), Real, Fake, epsilon: epsilon), weight, bias, head);
        FiniteDifference.AssertGradientsMatch(p => AdversarialLosses.GradientPenalty(Mlp(p), Real, Fake, target: 0.5, epsilon: epsilon, reduction: LossReduction.None), weight, bias, head);
        FiniteDifference.AssertGradientsMatch(p => AdversarialLosses.R1Penalty(Mlp(p), Real, gamma: 3.0), weight, bias, head);
    }

    [TestMethod]
    public void Penalties_LeaveTheCallersTensorsAlone_AndWorkUnderNoGrad()
    {
        using var scope = NewDisposeScope();
        var real = Real.clone();
        var fake = Fake.clone().requires_grad_(true);
        var half = F64(0.5, 0.5);
        Tensor Critic(Tensor x) => x.square().sum(1);
        using (no_grad())
        {
            LeavesOnly(1, () => AdversarialLosses.GradientPenalty(Critic, real, fake, epsilon: half), "GradientPenalty");
            LeavesOnly(1, () => AdversarialLosses.R1Penalty(Critic, real), "R1Penalty");
            AllFinite(AdversarialLosses.R1Penalty(Critic, real), "R1 under no_grad");
        }
        Assert.IsFalse(real.requires_grad, "real must not be switched to requires_grad");
        Assert.IsTrue(fake.requires_grad);
        var penalty = AdversarialLosses.GradientPenalty(Critic, real, fake, epsilon: half);
        Assert.IsTrue(penalty.requires_grad is false || autograd.grad(new[] { penalty }, new[] { fake }, allow_unused: true)[0].IsInvalid,
            "fake is detached: no gradient reaches the generator through the penalty");
        Close(new[] { 1.0, 2, 0, -1 }, real, 0);
        var (realLogits, fakeLogits) = (real[.., 0], fake[.., 1]);
        foreach (var kind in AllKinds)
        {
            LeavesOnly(1, () => AdversarialLosses.DiscriminatorLoss(kind, realLogits, fakeLogits), $"{kind} DiscriminatorLoss");
            LeavesOnly(1, () => AdversarialLosses.GeneratorLoss(kind, fakeLogits, LossReduction.None), $"{kind} GeneratorLoss");
        }
    }

    public static IEnumerable<object[]> BadInputs()
    {
        static Tensor M(params long[] shape) => zeros(shape);
        static Tensor Sum(Tensor x) => x.sum(1);
        yield return Case<ArgumentOutOfRangeException>("unknown kind", () => AdversarialLosses.DiscriminatorLoss((AdversarialLoss)9, M(2), M(2)), "kind", "Minimax, NonSaturating, Wasserstein, Hinge, LeastSquares", "9");
        yield return Case<ArgumentOutOfRangeException>("unknown kind (G)", () => AdversarialLosses.GeneratorLoss((AdversarialLoss)(-1), M(2)), "kind", "-1");
        yield return Case<ArgumentOutOfRangeException>("unknown reduction", () => AdversarialLosses.GeneratorLoss(AdversarialLoss.Hinge, M(2), (LossReduction)3), "reduction", "3");
        yield return Case<ArgumentNullException>("null fake", () => AdversarialLosses.DiscriminatorLoss(AdversarialLoss.Hinge, M(2), null!), "fakeLogits", "[B] or [B, 1]");
        yield return Case<ArgumentException>("[B, 2] logits", () => AdversarialLosses.DiscriminatorLoss(AdversarialLoss.Hinge, M(4, 2), M(4)), "realLogits", "[B] or [B, 1]", "[4, 2]");
        yield return Case<ArgumentException>("rank-3 logits", () => AdversarialLosses.GeneratorLoss(AdversarialLoss.Hinge, M(4, 1, 1)), "fakeLogits", "[4, 1, 1]");
        yield return Case<ArgumentException>("int logits", () => AdversarialLosses.GeneratorLoss(AdversarialLoss.Hinge, zeros(4, ScalarType.Int64)), "fakeLogits", "Int64", "float32 or float64");
        yield return Case<ArgumentException>("dtype mismatch", () => AdversarialLosses.DiscriminatorLoss(AdversarialLoss.Hinge, M(4), zeros(4, ScalarType.Float64)), "fakeLogits", "Float64", "Float32");
        yield return Case<ArgumentException>("None with unequal batches", () => AdversarialLosses.DiscriminatorLoss(AdversarialLoss.Minimax, M(4), M(3), LossReduction.None), "same batch size", "[4]", "[3]", "LossReduction.Mean");
        yield return Case<ArgumentException>("empty batch", () => AdversarialLosses.GeneratorLoss(AdversarialLoss.Minimax, M(0)), "fakeLogits", "empty batch");
        yield return Case<ArgumentNullException>("GP null critic", () => AdversarialLosses.GradientPenalty(null!, M(2, 3), M(2, 3)), "critic");
        yield return Case<ArgumentException>("GP shape mismatch", () => AdversarialLosses.GradientPenalty(Sum, M(2, 3), M(2, 4)), "fake", "[2, 3]", "[2, 4]");
        yield return Case<ArgumentException>("GP epsilon shape", () => AdversarialLosses.GradientPenalty(Sum, M(2, 3), M(2, 3), epsilon: M(2, 1)), "epsilon", "[2]", "[2, 1]");
        yield return Case<ArgumentOutOfRangeException>("GP epsilon range", () => AdversarialLosses.GradientPenalty(Sum, M(2, 3), M(2, 3), epsilon: F32(0.5f, 1.5f)), "epsilon", "[0, 1]", "1.5");
        yield return Case<ArgumentOutOfRangeException>("GP negative target", () => AdversarialLosses.GradientPenalty(Sum, M(2, 3), M(2, 3), target: -1), "target", "≥ 0", "-1");
        yield return Case<ArgumentException>("GP critic reduces the batch", () => AdversarialLosses.GradientPenalty(x => x.sum(), M(2, 3), M(2, 3)), "critic", "[2] or [2, 1]", "[]", "Do not reduce");
        yield return Case<ArgumentException>("GP critic detaches", () => AdversarialLosses.GradientPenalty(x => x.sum(1).detach(), M(2, 3), M(2, 3)), "critic", "does not require grad");
        yield return Case<ArgumentException>("GP critic ignores its input", () => AdversarialLosses.GradientPenalty(_ => ones(2, requires_grad: true).mul(2), M(2, 3), M(2, 3)), "critic", "does not depend on its input");
        yield return Case<ArgumentNullException>("GP critic returns null", () => AdversarialLosses.GradientPenalty(_ => null!, M(2, 3), M(2, 3)), "critic", "returned null");
        yield return Case<ArgumentOutOfRangeException>("R1 negative gamma", () => AdversarialLosses.R1Penalty(Sum, M(2, 3), gamma: -10), "gamma", "≥ 0", "-10");
        yield return Case<ArgumentNullException>("R1 null discriminator", () => AdversarialLosses.R1Penalty(null!, M(2, 3)), "discriminator");
        yield return Case<ArgumentException>("R1 int data", () => AdversarialLosses.R1Penalty(Sum, zeros(2, 3, ScalarType.Int32)), "real", "Int32");
        yield return Case<ArgumentException>("R1 output [B, 3]", () => AdversarialLosses.R1Penalty(x => x * 2, M(2, 3)), "discriminator", "[2, 3]");
    }

    [TestMethod]
    [DynamicData(nameof(BadInputs), DynamicDataDisplayName = nameof(CaseName), DynamicDataDisplayNameDeclaringType = typeof(LossAssert))]
    public void BadInput_ThrowsAnArgumentExceptionThatSaysWhatIsWrong(string name, Action check) => check();
}
