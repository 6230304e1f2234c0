using System;
using System.Collections.Concurrent;
using System.Linq;
using System.Threading;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Tests;

[TestClass]
public sealed class OpenMpTeamTests
{
    [TestMethod]
    public void FindsLibtorchsOpenMpRuntimeOnLinux()
    {
        if (!OperatingSystem.IsLinux())
            Assert.Inconclusive("libgomp is looked for on Linux only.");
        Assert.IsTrue(OpenMpTeam.Available, "libgomp was not found next to libtorch_cpu.so: the optimizer's pass would run on one thread.");
    }

    [TestMethod]
    public void RunsEveryPartOnceEachOnItsOwnThread()
    {
        var seen = new ConcurrentBag<(int Part, int Parts, int Thread)>();
        OpenMpTeam.For(int.MaxValue, (part, parts) => seen.Add((part, parts, Environment.CurrentManagedThreadId)));
        int expected = OpenMpTeam.Available ? get_num_threads() : 1;
        var runs = seen.OrderBy(s => s.Part).ToArray();
        CollectionAssert.AreEqual(Enumerable.Range(0, expected).ToArray(), runs.Select(r => r.Part).ToArray());
        Assert.IsTrue(runs.All(r => r.Parts == expected));
        Assert.AreEqual(expected, runs.Select(r => r.Thread).Distinct().Count(), "two parts ran on one thread");
        Assert.AreEqual(Environment.CurrentManagedThreadId, runs[0].Thread, "part 0 runs on the calling thread");
    }

    [TestMethod]
    public void OnePartRunsOnTheCallingThread()
    {
        int calls = 0, thread = -1;
        OpenMpTeam.For(1, (part, parts) =>
        {
            calls++;
            thread = Environment.CurrentManagedThreadId;
            Assert.AreEqual((0, 1), (part, parts));
        });
        Assert.AreEqual(1, calls);
        Assert.AreEqual(Environment.CurrentManagedThreadId, thread);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => OpenMpTeam.For(0, (_, _) => { }));
    }

    [TestMethod]
    public void APartsExceptionReachesTheCallerAfterEveryPartEnded()
    {
        int finished = 0;
        var error = Assert.ThrowsExactly<InvalidOperationException>(() => OpenMpTeam.For(int.MaxValue, (part, parts) =>
        {
            if (part == parts - 1)
                throw new InvalidOperationException("part failed");
            Thread.Sleep(20);
            Interlocked.Increment(ref finished);
        }));
        Assert.AreEqual("part failed", error.Message);
        int parts = OpenMpTeam.Available ? get_num_threads() : 1;
        Assert.AreEqual(parts - 1, finished);
        // The team is usable afterwards.
        int after = 0;
        OpenMpTeam.For(int.MaxValue, (_, _) => Interlocked.Increment(ref after));
        Assert.AreEqual(parts, after);
    }

    [TestMethod]
    public void ACallInsideAPartRunsInline()
    {
        var inner = new ConcurrentBag<int>();
        OpenMpTeam.For(int.MaxValue, (part, _) => OpenMpTeam.For(int.MaxValue, (innerPart, innerParts) => inner.Add(innerParts)));
        Assert.IsTrue(inner.All(p => p == 1), "a nested call must not start a second team");
        Assert.AreEqual(OpenMpTeam.Available ? get_num_threads() : 1, inner.Count);
    }
}
