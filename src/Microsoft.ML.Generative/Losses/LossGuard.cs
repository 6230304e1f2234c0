using System;
using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Losses;

/// <summary>
/// Argument checks for the loss functions. Everything here runs before the loss touches the data: only managed
/// metadata (shape, dtype, device) is read, except <see cref="ValueRange"/>, which costs one reduction and one
/// device synchronization and is used only where a wrong value would silently give a wrong loss or reach a native
/// call that does not check it.
/// </summary>
internal static class LossGuard
{
    internal static string Shape(long[] shape) => "[" + string.Join(", ", shape) + "]";

    internal static string Shape(Tensor t) => Shape(t.shape);

    internal static string Number(double value) => value.ToString("G6", CultureInfo.InvariantCulture);

    internal static Tensor NotNull(Tensor? t, string name, string expected) =>
        t ?? throw new ArgumentNullException(name, $"{name} is null; pass a tensor of shape {expected}.");

    internal static T NotNull<T>(T? value, string name, string expected)
        where T : class =>
        value ?? throw new ArgumentNullException(name, $"{name} is null; pass {expected}.");

    internal static void Defined<TEnum>(TEnum value, string name)
        where TEnum : struct, Enum
    {
        if (!Enum.IsDefined(value))
        {
            throw new ArgumentOutOfRangeException(name, value,
                $"{name} must be one of {string.Join(", ", Enum.GetNames<TEnum>())}, but is {value}.");
        }
    }

    internal static ArgumentOutOfRangeException UnknownReduction(LossReduction reduction) =>
        new("reduction", reduction,
            $"reduction must be one of {string.Join(", ", Enum.GetNames<LossReduction>())}, but is {reduction}.");

    /// <summary>Float32 or float64 only: the losses clamp with dtype-specific epsilons and promise result dtype = input dtype.</summary>
    internal static void FloatingPoint(Tensor t, string name)
    {
        if (t.dtype != ScalarType.Float32 && t.dtype != ScalarType.Float64)
        {
            throw new ArgumentException(
                $"{name} must be a float32 or float64 tensor, but has dtype {t.dtype} (shape {Shape(t)}). " +
                $"Convert it first, e.g. {name}.to_type(ScalarType.Float32).", name);
        }
    }

    internal static void Int64(Tensor t, string name, string meaning)
    {
        if (t.dtype != ScalarType.Int64)
        {
            throw new ArgumentException(
                $"{name} must be an int64 tensor of {meaning}, but has dtype {t.dtype} (shape {Shape(t)}). " +
                $"Convert it with {name}.to_type(ScalarType.Int64).", name);
        }
    }

    internal static void Rank(Tensor t, string name, int rank, string layout)
    {
        if (t.dim() != rank)
        {
            throw new ArgumentException(
                $"{name} must have rank {rank} with layout {layout}, but has shape {Shape(t)}.", name);
        }
    }

    internal static void MinRank(Tensor t, string name, int minRank, string layout)
    {
        if (t.dim() < minRank)
        {
            throw new ArgumentException(
                $"{name} must have rank {minRank} or more with layout {layout}, but has shape {Shape(t)}.", name);
        }
    }

    /// <summary>Returns the batch size (first dimension), which must be at least 1.</summary>
    internal static long BatchSize(Tensor t, string name)
    {
        long b = t.shape[0];
        if (b < 1)
        {
            throw new ArgumentException(
                $"{name} has an empty batch dimension (shape {Shape(t)}); pass at least one example.", name);
        }
        return b;
    }

    internal static void SameShape(Tensor t, string name, Tensor reference, string referenceName)
    {
        if (!ShapesEqual(t.shape, reference.shape))
        {
            throw new ArgumentException(
                $"{name} must have the same shape as {referenceName}, {Shape(reference)}, but has shape {Shape(t)}.",
                name);
        }
    }

    internal static void BatchMatches(Tensor t, string name, long batchSize, string referenceName)
    {
        if (t.shape[0] != batchSize)
        {
            throw new ArgumentException(
                $"{name} must have one entry per example: its first dimension must be {batchSize}, the batch size " +
                $"of {referenceName}, but {name} has shape {Shape(t)}.", name);
        }
    }

    internal static void SameDtypeAndDevice(Tensor t, string name, Tensor reference, string referenceName)
    {
        if (t.dtype != reference.dtype)
        {
            throw new ArgumentException(
                $"{name} has dtype {t.dtype} but {referenceName} has dtype {reference.dtype}; both must have the " +
                $"same dtype. Convert one, e.g. {name}.to_type(ScalarType.{reference.dtype}).", name);
        }
        if (t.device_type != reference.device_type || t.device_index != reference.device_index)
        {
            throw new ArgumentException(
                $"{name} is on device {t.device} but {referenceName} is on device {reference.device}; both must be " +
                $"on the same device. Move one with {name}.to({referenceName}.device).", name);
        }
    }

    internal static void NonNegativeFinite(double value, string name, string meaning)
    {
        if (!(value >= 0) || double.IsInfinity(value))
        {
            throw new ArgumentOutOfRangeException(name, value,
                $"{name} ({meaning}) must be a finite number ≥ 0, but is {Number(value)}.");
        }
    }

    internal static void PositiveFinite(double value, string name, string meaning)
    {
        if (!(value > 0) || double.IsInfinity(value))
        {
            throw new ArgumentOutOfRangeException(name, value,
                $"{name} ({meaning}) must be a finite number > 0, but is {Number(value)}.");
        }
    }

    /// <summary>
    /// Minimum and maximum of a tensor (NaN if it holds a NaN), read without recording autograd history. An empty
    /// tensor gives (+∞, −∞), which passes every range check, as it should (libtorch's aminmax throws on it).
    /// </summary>
    internal static (double Min, double Max) ValueRange(Tensor t)
    {
        if (t.numel() == 0)
        {
            return (double.PositiveInfinity, double.NegativeInfinity);
        }
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var (min, max) = t.aminmax();
        return (min.ToDouble(), max.ToDouble());
    }

    /// <summary>
    /// Throws <see cref="ArgumentOutOfRangeException"/> naming <paramref name="name"/>, the domain and the observed range
    /// unless every value of <paramref name="t"/> lies in [<paramref name="low"/>, <paramref name="high"/>] (a NaN fails).
    /// One reduction and one device synchronization (<see cref="ValueRange"/>).
    /// </summary>
    internal static void InClosedRange(Tensor t, string name, double low, double high, string domain, string advice)
    {
        var (min, max) = ValueRange(t);
        if (!(min >= low && max <= high))
        {
            throw new ArgumentOutOfRangeException(name,
                $"{name} must lie in {domain}, but its values range over [{Number(min)}, {Number(max)}]. {advice}");
        }
    }

    /// <summary>True when <paramref name="shape"/> can be broadcast to <paramref name="target"/> without changing <paramref name="target"/>.</summary>
    internal static bool BroadcastsTo(long[] shape, long[] target)
    {
        if (shape.Length > target.Length)
        {
            return false;
        }
        for (int i = 1; i <= shape.Length; i++)
        {
            long s = shape[^i];
            if (s != 1 && s != target[^i])
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>The broadcast shape of two shapes, or null when they do not broadcast.</summary>
    internal static long[]? Broadcast(long[] a, long[] b)
    {
        var result = new long[Math.Max(a.Length, b.Length)];
        for (int i = 1; i <= result.Length; i++)
        {
            long x = i <= a.Length ? a[^i] : 1;
            long y = i <= b.Length ? b[^i] : 1;
            if (x != y && x != 1 && y != 1)
            {
                return null;
            }
            result[^i] = x == 1 ? y : x;
        }
        return result;
    }

    private static bool ShapesEqual(long[] a, long[] b) => a.AsSpan().SequenceEqual(b);
}
