using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;

namespace Microsoft.ML.Generative.Distributed;

/// <summary>Which MPI ABI the loaded library speaks.</summary>
internal enum MpiImplementation
{
    /// <summary>Open MPI: handles are the addresses of exported globals (<c>ompi_mpi_comm_world</c>, …); MPI_IN_PLACE = (void*)1.</summary>
    OpenMpi,

    /// <summary>The MPICH ABI (MPICH, Intel MPI, MVAPICH): handles are 32-bit integer constants; MPI_IN_PLACE = (void*)−1.</summary>
    Mpich,
}

/// <summary>The element types the engine sends.</summary>
internal enum MpiType
{
    Float32,
    Float64,
    Int64,
    Byte,
}

/// <summary>The reductions the engine uses.</summary>
internal enum MpiOp
{
    Sum,
    Max,
    Min,
}

/// <summary>
/// A small P/Invoke layer over the few MPI functions data-parallel training needs (init, rank and size, all-reduce,
/// broadcast, barrier, abort, finalize), for Open MPI and for the MPICH ABI. The library is loaded only when
/// distributed training is switched on; which ABI it speaks is detected from its exports (Open MPI exports
/// <c>ompi_mpi_comm_world</c>). MPI.NET is not used: it is built for Microsoft MPI's integer handles and crashes
/// against Open MPI.
/// </summary>
/// <remarks>
/// The library is opened with <c>RTLD_GLOBAL</c> so that Open MPI's plug-ins (loaded by <c>MPI_Init</c> with
/// <c>dlopen</c>) resolve their symbols against it. Every call holds one lock (the thread level requested is
/// <c>MPI_THREAD_SERIALIZED</c>: calls from any thread, one at a time). An MPI error code other than 0 becomes an
/// <see cref="InvalidOperationException"/> naming the function.
/// </remarks>
internal sealed unsafe class MpiLibrary
{
    /// <summary>Environment variable naming the MPI shared library to load instead of the default candidates.</summary>
    public const string LibraryVariable = "MLNET_GENERATIVE_MPI_LIBRARY";

    private const int RtldNow = 2;
    private const int RtldGlobal = 0x100;
    private const int ThreadSerialized = 2;   // MPI_THREAD_SERIALIZED: 2 in both ABIs

    // Open MPI 4/5 (libmpi.so.40), MPICH (libmpich.so.12, also shipped as libmpi.so.12), then the unversioned names.
    private static readonly string[] Candidates = { "libmpi.so.40", "libmpich.so.12", "libmpi.so.12", "libmpi.so", "libmpich.so" };

    // Under an MPICH-ABI launcher (Hydra's PMI, MVAPICH) its library comes first.
    private static readonly string[] MpichFirst = { "libmpich.so.12", "libmpi.so.12", "libmpich.so", "libmpi.so.40", "libmpi.so" };

    private readonly object _lock = new();
    private readonly nint _comm, _float32, _float64, _int64, _byte, _sum, _max, _min, _inPlace;

    private readonly delegate* unmanaged<int*, int> _initialized;
    private readonly delegate* unmanaged<int*, int> _finalized;
    private readonly delegate* unmanaged<int*, byte***, int, int*, int> _initThread;
    private readonly delegate* unmanaged<int> _finalize;
    private readonly delegate* unmanaged<byte*, int*, int> _libraryVersion;
    // Open MPI: handles are pointers.
    private readonly delegate* unmanaged<nint, int*, int> _rankP;
    private readonly delegate* unmanaged<nint, int*, int> _sizeP;
    private readonly delegate* unmanaged<void*, void*, int, nint, nint, nint, int> _allreduceP;
    private readonly delegate* unmanaged<void*, int, nint, int, nint, int> _bcastP;
    private readonly delegate* unmanaged<nint, int> _barrierP;
    private readonly delegate* unmanaged<nint, int, int> _abortP;
    // MPICH ABI: handles are ints.
    private readonly delegate* unmanaged<int, int*, int> _rankI;
    private readonly delegate* unmanaged<int, int*, int> _sizeI;
    private readonly delegate* unmanaged<void*, void*, int, int, int, int, int> _allreduceI;
    private readonly delegate* unmanaged<void*, int, int, int, int, int> _bcastI;
    private readonly delegate* unmanaged<int, int> _barrierI;
    private readonly delegate* unmanaged<int, int, int> _abortI;

    private MpiLibrary(nint library, string path)
    {
        Path = path;
        Implementation = NativeLibrary.TryGetExport(library, "ompi_mpi_comm_world", out _) ? MpiImplementation.OpenMpi : MpiImplementation.Mpich;
        nint F(string name) => NativeLibrary.TryGetExport(library, name, out var f)
            ? f
            : throw new DllNotFoundException($"The MPI library '{path}' has no function {name}; it is not a usable MPI library. Install openmpi-bin (Open MPI) or MPICH.");
        _initialized = (delegate* unmanaged<int*, int>)F("MPI_Initialized");
        _finalized = (delegate* unmanaged<int*, int>)F("MPI_Finalized");
        _initThread = (delegate* unmanaged<int*, byte***, int, int*, int>)F("MPI_Init_thread");
        _finalize = (delegate* unmanaged<int>)F("MPI_Finalize");
        _libraryVersion = (delegate* unmanaged<byte*, int*, int>)F("MPI_Get_library_version");
        if (Implementation == MpiImplementation.OpenMpi)
        {
            _rankP = (delegate* unmanaged<nint, int*, int>)F("MPI_Comm_rank");
            _sizeP = (delegate* unmanaged<nint, int*, int>)F("MPI_Comm_size");
            _allreduceP = (delegate* unmanaged<void*, void*, int, nint, nint, nint, int>)F("MPI_Allreduce");
            _bcastP = (delegate* unmanaged<void*, int, nint, int, nint, int>)F("MPI_Bcast");
            _barrierP = (delegate* unmanaged<nint, int>)F("MPI_Barrier");
            _abortP = (delegate* unmanaged<nint, int, int>)F("MPI_Abort");
            // Open MPI's predefined handles are the addresses of these exported objects (mpi.h: &ompi_mpi_float, …).
            _comm = F("ompi_mpi_comm_world");
            _float32 = F("ompi_mpi_float");
            _float64 = F("ompi_mpi_double");
            _int64 = F("ompi_mpi_int64_t");
            _byte = F("ompi_mpi_byte");
            _sum = F("ompi_mpi_op_sum");
            _max = F("ompi_mpi_op_max");
            _min = F("ompi_mpi_op_min");
            _inPlace = 1;
        }
        else
        {
            _rankI = (delegate* unmanaged<int, int*, int>)F("MPI_Comm_rank");
            _sizeI = (delegate* unmanaged<int, int*, int>)F("MPI_Comm_size");
            _allreduceI = (delegate* unmanaged<void*, void*, int, int, int, int, int>)F("MPI_Allreduce");
            _bcastI = (delegate* unmanaged<void*, int, int, int, int, int>)F("MPI_Bcast");
            _barrierI = (delegate* unmanaged<int, int>)F("MPI_Barrier");
            _abortI = (delegate* unmanaged<int, int, int>)F("MPI_Abort");
            // mpi.h of MPICH (the ABI shared by Intel MPI and MVAPICH).
            _comm = 0x44000000;
            _float32 = 0x4c00040a;
            _float64 = 0x4c00080b;
            _int64 = 0x4c00083a;
            _byte = 0x4c00010d;
            _sum = 0x58000003;
            _max = 0x58000001;
            _min = 0x58000002;
            _inPlace = -1;
        }
    }

    /// <summary>The loaded library's path (or soname).</summary>
    public string Path { get; }

    /// <summary>The ABI detected from the library's exports.</summary>
    public MpiImplementation Implementation { get; }

    /// <summary>
    /// Loads the MPI library: <see cref="LibraryVariable"/> when set, else the usual Open MPI and MPICH sonames.
    /// Throws <see cref="DllNotFoundException"/> with what to install when none loads.
    /// </summary>
    /// <param name="mpichLauncher">The process was started by an MPICH-ABI launcher: try MPICH's library first.</param>
    public static MpiLibrary Load(bool mpichLauncher = false)
    {
        string? configured = Environment.GetEnvironmentVariable(LibraryVariable);
        string[] names = !string.IsNullOrWhiteSpace(configured) ? new[] { configured } : SearchOrder(mpichLauncher);
        var errors = new StringBuilder();
        foreach (var name in names)
        {
            nint handle = Dlopen(name, out string? error);
            if (handle != 0)
                return new MpiLibrary(handle, name);
            errors.Append(' ').Append(error);
        }
        throw new DllNotFoundException(
            "Distributed training needs an MPI library, and none could be loaded ("
            // The names in the order they were tried (MPICH's first under an MPICH launcher).
            + (string.IsNullOrWhiteSpace(configured) ? $"tried {string.Join(", ", names)}" : $"{LibraryVariable} = '{configured}'")
            + $"):{errors} Install Open MPI (Debian/Ubuntu: apt-get install openmpi-bin) or MPICH, and launch the program with "
            + "mpirun, e.g. 'mpirun -np 4 dotnet Trainer.dll'; or set DistributedTraining = Off.");
    }

    /// <summary>The library names <see cref="Load"/> tries, in order: MPICH's first under an MPICH launcher.</summary>
    internal static string[] SearchOrder(bool mpichLauncher) => mpichLauncher ? MpichFirst : Candidates;

    private static nint Dlopen(string name, out string? error)
    {
        error = null;
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
        {
            // Elsewhere (Windows: MS-MPI is not supported) fall back to the runtime's loader.
            if (NativeLibrary.TryLoad(name, out var h))
                return h;
            error = $"{name}: not found.";
            return 0;
        }
        nint handle = OperatingSystem.IsLinux() ? LinuxDl.dlopen(name, RtldNow | RtldGlobal) : MacDl.dlopen(name, RtldNow | 0x8);
        if (handle == 0)
        {
            nint message = OperatingSystem.IsLinux() ? LinuxDl.dlerror() : MacDl.dlerror();
            error = (message == 0 ? name + ": not found" : Marshal.PtrToStringUTF8(message)) + ".";
        }
        return handle;
    }

    /// <summary>Whether MPI_Init has been called in this process.</summary>
    public bool IsInitialized
    {
        get
        {
            int flag;
            lock (_lock)
                Check(_initialized(&flag), "MPI_Initialized");
            return flag != 0;
        }
    }

    /// <summary>Whether MPI_Finalize has been called in this process.</summary>
    public bool IsFinalized
    {
        get
        {
            int flag;
            lock (_lock)
                Check(_finalized(&flag), "MPI_Finalized");
            return flag != 0;
        }
    }

    /// <summary>MPI_Init_thread(MPI_THREAD_SERIALIZED); returns the level granted.</summary>
    public int Initialize()
    {
        int provided;
        lock (_lock)
            Check(_initThread(null, null, ThreadSerialized, &provided), "MPI_Init_thread");
        return provided;
    }

    public void Finalize_()
    {
        lock (_lock)
            Check(_finalize(), "MPI_Finalize");
    }

    /// <summary>The implementation's own version string (MPI_Get_library_version).</summary>
    public string LibraryVersion
    {
        get
        {
            var buffer = new byte[8192];   // ≥ MPI_MAX_LIBRARY_VERSION_STRING of both ABIs
            int length;
            lock (_lock)
                fixed (byte* p = buffer)
                    Check(_libraryVersion(p, &length), "MPI_Get_library_version");
            return Encoding.UTF8.GetString(buffer, 0, Math.Clamp(length, 0, buffer.Length)).TrimEnd('\0', '\n', ' ');
        }
    }

    public int Rank
    {
        get
        {
            int rank;
            lock (_lock)
                Check(Implementation == MpiImplementation.OpenMpi ? _rankP(_comm, &rank) : _rankI((int)_comm, &rank), "MPI_Comm_rank");
            return rank;
        }
    }

    public int Size
    {
        get
        {
            int size;
            lock (_lock)
                Check(Implementation == MpiImplementation.OpenMpi ? _sizeP(_comm, &size) : _sizeI((int)_comm, &size), "MPI_Comm_size");
            return size;
        }
    }

    /// <summary>In-place all-reduce of <paramref name="count"/> elements at <paramref name="buffer"/> over MPI_COMM_WORLD.</summary>
    public void AllReduce(void* buffer, int count, MpiType type, MpiOp op)
    {
        nint t = TypeHandle(type), o = OpHandle(op);
        lock (_lock)
        {
            int rc = Implementation == MpiImplementation.OpenMpi
                ? _allreduceP((void*)_inPlace, buffer, count, t, o, _comm)
                : _allreduceI((void*)_inPlace, buffer, count, (int)t, (int)o, (int)_comm);
            Check(rc, "MPI_Allreduce");
        }
    }

    /// <summary>Broadcast of <paramref name="count"/> elements at <paramref name="buffer"/> from <paramref name="root"/>.</summary>
    public void Broadcast(void* buffer, int count, MpiType type, int root)
    {
        nint t = TypeHandle(type);
        lock (_lock)
        {
            int rc = Implementation == MpiImplementation.OpenMpi
                ? _bcastP(buffer, count, t, root, _comm)
                : _bcastI(buffer, count, (int)t, root, (int)_comm);
            Check(rc, "MPI_Bcast");
        }
    }

    public void Barrier()
    {
        lock (_lock)
            Check(Implementation == MpiImplementation.OpenMpi ? _barrierP(_comm) : _barrierI((int)_comm), "MPI_Barrier");
    }

    /// <summary>MPI_Abort on MPI_COMM_WORLD: ends every rank of the job (does not return). No lock: it must work mid-call.</summary>
    public void Abort(int errorCode)
    {
        if (Implementation == MpiImplementation.OpenMpi)
            _abortP(_comm, errorCode);
        else
            _abortI((int)_comm, errorCode);
    }

    private nint TypeHandle(MpiType type) => type switch
    {
        MpiType.Float32 => _float32,
        MpiType.Float64 => _float64,
        MpiType.Int64 => _int64,
        MpiType.Byte => _byte,
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    private nint OpHandle(MpiOp op) => op switch
    {
        MpiOp.Sum => _sum,
        MpiOp.Max => _max,
        MpiOp.Min => _min,
        _ => throw new ArgumentOutOfRangeException(nameof(op)),
    };

    private static void Check(int rc, string function)
    {
        // The default error handler (MPI_ERRORS_ARE_FATAL) aborts before returning; this catches handlers set otherwise.
        if (rc != 0)
            throw new InvalidOperationException($"{function} failed with MPI error code {rc}.");
    }

    private static class LinuxDl
    {
        [DllImport("libdl.so.2", EntryPoint = "dlopen")]
        public static extern nint dlopen([MarshalAs(UnmanagedType.LPUTF8Str)] string file, int mode);

        [DllImport("libdl.so.2", EntryPoint = "dlerror")]
        public static extern nint dlerror();
    }

    private static class MacDl
    {
        [DllImport("libSystem.dylib", EntryPoint = "dlopen")]
        public static extern nint dlopen([MarshalAs(UnmanagedType.LPUTF8Str)] string file, int mode);

        [DllImport("libSystem.dylib", EntryPoint = "dlerror")]
        public static extern nint dlerror();
    }
}
