using System;
using System.Linq;
using Microsoft.ML.Generative.Data;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.Generative.Tests.Data;

/// <summary>The vectorized row checks find exactly the first bad slot, wherever it falls in a SIMD block.</summary>
[TestClass]
public sealed class RowCheckTests
{
    [TestMethod]
    public void FirstNonFiniteSlotIsFoundAtEveryPosition()
    {
        foreach (int length in new[] { 0, 1, 7, 8, 9, 16, 31, 784 })
        {
            var row = Enumerable.Range(0, length).Select(i => (float)Math.Sin(i) * 1e30f).ToArray();
            Assert.AreEqual(-1, FeatureRowReader.IndexOfNonFinite(row), $"length {length}");
            foreach (float bad in new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity })
            {
                for (int at = 0; at < length; at++)
                {
                    var copy = (float[])row.Clone();
                    copy[at] = bad;
                    if (at + 3 < length)
                        copy[at + 3] = float.NaN; // a later bad slot must not be reported first
                    Assert.AreEqual(at, FeatureRowReader.IndexOfNonFinite(copy), $"length {length}, {bad} at {at}");
                }
            }
        }
    }

    [TestMethod]
    public void FirstSlotOutsideTheIntervalIsFound()
    {
        var row = Enumerable.Range(0, 40).Select(i => i / 39f).ToArray();
        Assert.AreEqual(-1, FeatureRowReader.IndexOutside(row, 0f, 1f));
        for (int at = 0; at < row.Length; at++)
        {
            foreach (float bad in new[] { -1e-7f, 1.0000001f, float.NaN, 5f })
            {
                var copy = (float[])row.Clone();
                copy[at] = bad;
                Assert.AreEqual(at, FeatureRowReader.IndexOutside(copy, 0f, 1f), $"{bad} at {at}");
            }
        }
    }
}
