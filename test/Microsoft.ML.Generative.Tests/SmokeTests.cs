using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

[assembly: Parallelize(Workers = 1, Scope = ExecutionScope.ClassLevel)]

namespace Microsoft.ML.Generative.Tests;

[TestClass]
public sealed class SmokeTests
{
    [TestMethod]
    public void TorchSharpLoadsAndComputes()
    {
        using var a = tensor(new float[] { 1, 2, 3 });
        using var s = a.sum();
        Assert.AreEqual(6f, s.item<float>());
    }
}
