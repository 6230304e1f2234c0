using System;
using System.Globalization;
using Microsoft.ML.Generative.Distributed;

namespace Microsoft.ML.Generative;

/// <summary>
/// Whether data-parallel training is on (see <see cref="Training.GenerativeTrainerOptions.DistributedTraining"/>).
/// </summary>
public enum DistributedTraining
{
    /// <summary>One process, whatever the launcher (the default).</summary>
    Off,

    /// <summary>
    /// Data-parallel over MPI when the process was started by <c>mpirun</c> (or <c>mpiexec</c>, Slurm's <c>srun</c> with
    /// PMI, a Kubernetes MPI job) with more than one rank; otherwise one process, as <see cref="Off"/>.
    /// </summary>
    Auto,

    /// <summary>
    /// Data-parallel over MPI, required: <c>Fit</c> fails with a clear error when no MPI library can be loaded or the
    /// process was not started by an MPI launcher. One rank (<c>mpirun -np 1</c>) is allowed.
    /// </summary>
    Mpi,
}

/// <summary>
/// The process's place in an MPI job: <see cref="Rank"/> (0 … <see cref="Size"/> − 1) and <see cref="Size"/>, or 0
/// and 1 when the program was not launched by an MPI launcher. Read from the launcher's environment variables
/// (Open MPI's <c>OMPI_COMM_WORLD_RANK</c>/<c>_SIZE</c>, the PMI <c>PMI_RANK</c>/<c>PMI_SIZE</c> of MPICH's Hydra and
/// Slurm, MVAPICH's <c>MV2_COMM_WORLD_RANK</c>/<c>_SIZE</c>), so it can be read before anything is trained and
/// without loading MPI.
/// </summary>
/// <example>
/// <code>
/// var model = pipeline.Fit(data);   // every rank runs the same program and returns the same model
/// if (DistributedEnvironment.IsRoot) ml.Model.Save(model, data.Schema, "vae.zip");
/// </code>
/// </example>
public static class DistributedEnvironment
{
    private static readonly object Lock = new();
    private static MpiLibrary? _library;
    private static Communicator? _world;

    /// <summary>True when an MPI launcher started this process (its rank and size are in the environment).</summary>
    public static bool IsLaunchedByMpi => Launch() is not null;

    /// <summary>This process's rank in the job, 0 … <see cref="Size"/> − 1; 0 when not launched by MPI.</summary>
    public static int Rank => Launch()?.Rank ?? 0;

    /// <summary>Processes (ranks) in the job; 1 when not launched by MPI.</summary>
    public static int Size => Launch()?.Size ?? 1;

    /// <summary>True on rank 0, the rank that logs progress and should save the model (always true in one process).</summary>
    public static bool IsRoot => Rank == 0;

    /// <summary>
    /// The MPI implementation's own version string (<c>MPI_Get_library_version</c>), once MPI has been initialized by a
    /// distributed <c>Fit</c> or by <see cref="Initialize"/>; otherwise <see langword="null"/>.
    /// </summary>
    public static string? MpiLibraryVersion
    {
        get
        {
            lock (Lock)
                return _world is null ? null : _library!.LibraryVersion;
        }
    }

    /// <summary>
    /// Loads the MPI library and initializes MPI (<c>MPI_Init_thread</c>), once per process; a distributed <c>Fit</c>
    /// does this itself. MPI is finalized when the process exits. Throws <see cref="DllNotFoundException"/> when no MPI
    /// library can be loaded (install Open MPI, e.g. <c>apt-get install openmpi-bin</c>, or MPICH) and
    /// <see cref="InvalidOperationException"/> when the process was not started by an MPI launcher.
    /// </summary>
    public static void Initialize() => World();

    internal static Communicator World()
    {
        lock (Lock)
        {
            if (_world is not null)
                return _world;
            var launch = Launch() ?? throw new InvalidOperationException(
                "Distributed training is on (DistributedTraining = Mpi), but this process was not started by an MPI launcher "
                + "(no OMPI_COMM_WORLD_SIZE or PMI_SIZE in its environment). Launch every rank with mpirun, e.g. "
                + "'mpirun -np 4 dotnet Trainer.dll', or set DistributedTraining = Auto (one process when not launched by mpirun) or Off.");
            var library = MpiLibrary.Load(mpichLauncher: Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_SIZE") is null);
            if (!library.IsInitialized)
            {
                library.Initialize();
                AppDomain.CurrentDomain.ProcessExit += (_, _) =>
                {
                    try
                    {
                        if (!library.IsFinalized)
                            library.Finalize_();
                    }
                    catch (InvalidOperationException)
                    {
                        // Nothing more can be done at exit.
                    }
                };
            }
            var world = new Communicator(library);
            if (world.Rank != launch.Rank || world.Size != launch.Size)
                throw new InvalidOperationException(
                    $"MPI reports rank {world.Rank} of {world.Size}, but the launcher's environment says rank {launch.Rank} of {launch.Size}: "
                    + $"the MPI library loaded ({library.Path}, {library.Implementation}) is not the one mpirun belongs to. "
                    + $"Set {MpiLibrary.LibraryVariable} to the launcher's libmpi.");
            _library = library;
            _world = world;
            return world;
        }
    }

    /// <summary>The launcher's rank and size, or null when no MPI launcher started this process.</summary>
    private static (int Rank, int Size)? Launch()
    {
        foreach (var (rank, size) in new[]
        {
            ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
            ("PMI_RANK", "PMI_SIZE"),
            ("MV2_COMM_WORLD_RANK", "MV2_COMM_WORLD_SIZE"),
        })
        {
            if (int.TryParse(Environment.GetEnvironmentVariable(rank), NumberStyles.Integer, CultureInfo.InvariantCulture, out int r)
                && int.TryParse(Environment.GetEnvironmentVariable(size), NumberStyles.Integer, CultureInfo.InvariantCulture, out int s)
                && s >= 1 && r >= 0 && r < s)
                return (r, s);
        }
        return null;
    }
}
