using System;

namespace Microsoft.ML.Generative.Tests.Losses;

/// <summary>
/// Reference values computed independently in managed float64 code, by series summed to convergence or by forms
/// that do not cancel for the given argument. Used against float32 results (rounded from these) and float64
/// results (compared to a few ulps).
/// </summary>
internal static class Reference
{
    /// <summary>e^x − 1 − x: the Taylor series summed until the terms stop changing the sum for |x| ≤ 2, else directly.</summary>
    public static double ExpM1MinusX(double x)
    {
        if (double.IsPositiveInfinity(x) || double.IsNegativeInfinity(x))
        {
            return double.PositiveInfinity;
        }
        if (Math.Abs(x) > 2)
        {
            // |x| > 2: e^x − 1 − x ≥ 0.86 while the rounding error of the terms is ε·max(e^x, |x|): a few ulps.
            return Math.Exp(x) - 1 - x;
        }
        double term = x * x / 2, sum = 0;
        for (int n = 3; n < 60 && sum + term != sum; n++)
        {
            sum += term;
            term *= x / n;
        }
        return sum;
    }

    /// <summary>log(1 + e^x) with log1p(e^x) = e^x − e^{2x}/2 + … for x &lt; −2 and x + log(1 + e^{−x}) above.</summary>
    public static double Softplus(double x)
    {
        if (x > 0)
        {
            return x + Log1P(Math.Exp(-x));
        }
        return Log1P(Math.Exp(x));
    }

    /// <summary>log(1 + y), by its series for |y| &lt; 0.1 and by Math.Log otherwise (no cancellation there).</summary>
    public static double Log1P(double y)
    {
        if (Math.Abs(y) >= 0.1)
        {
            return Math.Log(1 + y);
        }
        double power = y, sum = 0;
        for (int n = 1; n < 80; n++)
        {
            double term = power / n;
            if (sum + term == sum)
            {
                break;
            }
            sum += term;
            power *= -y;
        }
        return sum;
    }

    /// <summary>Relative error |actual − expected| / |expected|, 0 when both are equal (including both infinite).</summary>
    public static double RelativeError(double expected, double actual)
    {
        if (expected == actual)
        {
            return 0;
        }
        return Math.Abs(actual - expected) / Math.Abs(expected);
    }
}
