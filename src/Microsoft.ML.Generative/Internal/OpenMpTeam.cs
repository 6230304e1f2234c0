using System;
using System.IO;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Threading;

namespace Microsoft.ML.Generative;

/// <summary>
/// Runs a .NET loop on libtorch's own intra-op threads: the GNU OpenMP team (libgomp) that libtorch's kernels and
/// MKL already use, entered through libgomp's public entry point <c>GOMP_parallel</c> (the call a compiled
/// <c>#pragma omp parallel</c> makes). The calling thread does part 0 and the team's waiting workers the others.
/// </summary>
/// <remarks>
/// <para>Why not .NET threads: between libtorch's kernels its OpenMP workers keep spinning for a while, so a .NET
/// thread started next to them competes with a spinning worker for the same cores. Splitting the optimizer's pass over
/// a second .NET thread was slower in training for that reason (docs/benchmarks.md, stop 10); handing the parts to the
/// waiting OpenMP workers instead made the 784-400-20 VAE's whole step ~10% faster (stop 12).</para>
/// <para>Where libgomp is not found next to libtorch (another OpenMP runtime, another platform), where libtorch runs one
/// intra-op thread, and when called from inside a parallel region, the parts run one after the other on the calling
/// thread: same results, no threads.</para>
/// </remarks>
internal static unsafe class OpenMpTeam
{
    private static readonly object s_gate = new();
    private static bool s_resolved;
    private static delegate* unmanaged<delegate* unmanaged<IntPtr, void>, IntPtr, uint, uint, void> s_parallel;
    private static delegate* unmanaged<int> s_threadNumber;
    private static delegate* unmanaged<int> s_threadCount;
    private static delegate* unmanaged<int> s_inParallel;

    /// <summary>Whether the parts can run on libtorch's OpenMP threads (libgomp was found).</summary>
    public static bool Available
    {
        get
        {
            Resolve();
            return s_parallel != null;
        }
    }

    /// <summary>
    /// Calls <paramref name="body"/>(part, parts) once for each part = 0 … parts − 1, with parts = libtorch's intra-op
    /// thread count capped at <paramref name="maxParts"/>, each part on its own thread of the team; returns when all have
    /// finished. The parts must be independent (disjoint memory) and must not call libtorch. The first exception thrown
    /// by a part is rethrown here, on the calling thread, after every part has ended.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxParts"/> is below 1.</exception>
    public static void For(int maxParts, Action<int, int> body)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxParts, 1);
        ArgumentNullException.ThrowIfNull(body);
        int parts = maxParts == 1 || !Available || s_inParallel() != 0
            ? 1
            : Math.Clamp(TorchSharp.torch.get_num_threads(), 1, maxParts);
        if (parts == 1)
        {
            body(0, 1);
            return;
        }
        var work = new Work(body, parts);
        var handle = GCHandle.Alloc(work);
        try
        {
            s_parallel(&Run, GCHandle.ToIntPtr(handle), (uint)parts, 0);
        }
        finally
        {
            handle.Free();
        }
        work.Failure?.Throw();
    }

    /// <summary>
    /// Part <paramref name="part"/> of <paramref name="parts"/> of [0, <paramref name="count"/>): contiguous, disjoint,
    /// covering the whole range, each boundary a multiple of <paramref name="alignment"/> (a power of two; the last part
    /// takes the rest), so that parts of aligned buffers share no cache line.
    /// </summary>
    public static (long From, long To) Range(long count, int part, int parts, int alignment = 1)
    {
        long mask = ~(long)(alignment - 1);
        long from = part == 0 ? 0 : count * part / parts & mask;
        long to = part == parts - 1 ? count : count * (part + 1) / parts & mask;
        return (from, to);
    }

    private sealed class Work(Action<int, int> body, int parts)
    {
        public readonly Action<int, int> Body = body;
        public readonly int Parts = parts;
        public ExceptionDispatchInfo? Failure;
    }

    [UnmanagedCallersOnly]
    private static void Run(IntPtr state)
    {
        var work = (Work)GCHandle.FromIntPtr(state).Target!;
        int thread = s_threadNumber(), team = s_threadCount();
        // A team smaller than asked (a thread limit in the environment): each thread takes the parts ≡ its number
        // modulo the team's size, so every part still runs once.
        for (int part = thread; part < work.Parts; part += Math.Max(team, 1))
        {
            try
            {
                work.Body(part, work.Parts);
            }
            catch (Exception e)
            {
                // An exception must not leave this native callback (it would end the process).
                Interlocked.CompareExchange(ref work.Failure, ExceptionDispatchInfo.Capture(e), null);
            }
        }
    }

    /// <summary>
    /// Finds the libgomp that libtorch loaded: the one mapped from libtorch_cpu's directory (TorchSharp's packages bring
    /// their own, named libgomp-&lt;hash&gt;.so.1), else any libgomp in the process.
    /// </summary>
    private static void Resolve()
    {
        if (Volatile.Read(ref s_resolved))
            return;
        lock (s_gate)
        {
            if (s_resolved)
                return;
            try
            {
                if (OperatingSystem.IsLinux() && FindLibgomp() is { } path && NativeLibrary.TryLoad(path, out var library)
                    && NativeLibrary.TryGetExport(library, "GOMP_parallel", out var parallel)
                    && NativeLibrary.TryGetExport(library, "omp_get_thread_num", out var threadNumber)
                    && NativeLibrary.TryGetExport(library, "omp_get_num_threads", out var threadCount)
                    && NativeLibrary.TryGetExport(library, "omp_in_parallel", out var inParallel))
                {
                    s_threadNumber = (delegate* unmanaged<int>)threadNumber;
                    s_threadCount = (delegate* unmanaged<int>)threadCount;
                    s_inParallel = (delegate* unmanaged<int>)inParallel;
                    s_parallel = (delegate* unmanaged<delegate* unmanaged<IntPtr, void>, IntPtr, uint, uint, void>)parallel;
                }
            }
            catch (IOException)
            {
                // No /proc: the parts run on the calling thread.
            }
            catch (UnauthorizedAccessException)
            {
            }
            Volatile.Write(ref s_resolved, true);
        }
    }

    private static string? FindLibgomp()
    {
        _ = TorchSharp.torch.get_num_threads();   // libtorch (and with it its OpenMP runtime) is loaded
        var paths = new System.Collections.Generic.List<string>();
        foreach (var line in File.ReadLines("/proc/self/maps"))
        {
            int slash = line.IndexOf('/');
            if (slash >= 0)
                paths.Add(line[slash..]);
        }
        string? torchDirectory = paths.Find(p => Path.GetFileName(p) == "libtorch_cpu.so") is { } torch ? Path.GetDirectoryName(torch) : null;
        static bool IsLibgomp(string p) => Path.GetFileName(p) is var n && n.StartsWith("libgomp", StringComparison.Ordinal) && n.Contains(".so", StringComparison.Ordinal);
        return paths.Find(p => IsLibgomp(p) && Path.GetDirectoryName(p) == torchDirectory) ?? paths.Find(IsLibgomp);
    }
}
