using System;
using System.Runtime.ExceptionServices;
using System.Text;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Generative.Distributed;

/// <summary>
/// MPI_COMM_WORLD as the training engine uses it: typed all-reduce and broadcast, collective agreement on failures,
/// and the last resort (MPI_Abort) for a failure only one rank saw.
/// </summary>
internal sealed unsafe class Communicator
{
    // Marks an exception every rank threw together (so the estimator does not abort the job for it).
    private const string AgreedKey = "Microsoft.ML.Generative.Distributed.Agreed";

    private readonly MpiLibrary _library;

    internal Communicator(MpiLibrary library)
    {
        _library = library;
        Rank = library.Rank;
        Size = library.Size;
    }

    public int Rank { get; }

    public int Size { get; }

    public bool IsRoot => Rank == 0;

    public MpiImplementation Implementation => _library.Implementation;

    /// <summary>
    /// The communicator a <c>Fit</c> with <paramref name="mode"/> trains over, or <see langword="null"/> for one process:
    /// <see cref="DistributedTraining.Off"/>; <see cref="DistributedTraining.Auto"/> unless launched with more than
    /// one rank; <see cref="DistributedTraining.Mpi"/> always (and fails clearly without MPI).
    /// </summary>
    public static Communicator? ForTraining(DistributedTraining mode) => mode switch
    {
        DistributedTraining.Off => null,
        DistributedTraining.Auto => DistributedEnvironment.Size > 1 ? DistributedEnvironment.World() : null,
        _ => DistributedEnvironment.World(),
    };

    public void AllReduce(Span<float> values, MpiOp op = MpiOp.Sum)
    {
        fixed (float* p = values)
            _library.AllReduce(p, values.Length, MpiType.Float32, op);
    }

    public void AllReduce(Span<double> values, MpiOp op = MpiOp.Sum)
    {
        fixed (double* p = values)
            _library.AllReduce(p, values.Length, MpiType.Float64, op);
    }

    public void AllReduce(Span<long> values, MpiOp op = MpiOp.Sum)
    {
        fixed (long* p = values)
            _library.AllReduce(p, values.Length, MpiType.Int64, op);
    }

    public long AllReduce(long value, MpiOp op)
    {
        _library.AllReduce(&value, 1, MpiType.Int64, op);
        return value;
    }

    /// <summary>Broadcasts raw bytes from <paramref name="root"/>, in chunks below 2³¹ elements.</summary>
    public void Broadcast(Span<byte> bytes, int root = 0)
    {
        fixed (byte* p = bytes)
        {
            for (long offset = 0; offset < bytes.Length; offset += int.MaxValue)
                _library.Broadcast(p + offset, (int)Math.Min(int.MaxValue, bytes.Length - offset), MpiType.Byte, root);
        }
    }

    public void Broadcast(Span<double> values, int root = 0) => Broadcast(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values), root);

    public void Broadcast(Span<float> values, int root = 0) => Broadcast(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values), root);

    public void Broadcast(Span<long> values, int root = 0) => Broadcast(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values), root);

    public void Barrier() => _library.Barrier();

    /// <summary>
    /// Collective check after a phase every rank ran on its own: when any rank's <paramref name="local"/> is not null,
    /// every rank throws — the failing rank its own exception, the others an exception of the same kind
    /// (cancellation stays <see cref="OperationCanceledException"/>) whose message names the first failing rank and
    /// carries its message. Costs one all-reduce of one number when nothing failed.
    /// </summary>
    public void Agree(Exception? local, string phase)
    {
        long firstFailing = AllReduce(local is null ? Size : Rank, MpiOp.Min);
        if (firstFailing >= Size)
            return;
        int root = (int)firstFailing;
        // The failing rank's exception type and message travel as UTF-8.
        byte[] message = root == Rank ? Encoding.UTF8.GetBytes(Kind(local!) + "\n" + local!.Message) : Array.Empty<byte>();
        long length = message.Length;
        Broadcast(new Span<long>(ref length), root);
        if (root != Rank)
            message = new byte[length];
        Broadcast(message, root);
        if (local is not null)
        {
            // Every failing rank rethrows its own error; the job ends on all of them together.
            MarkAgreed(local);
            ExceptionDispatchInfo.Capture(local).Throw();
        }
        string text = Encoding.UTF8.GetString(message);
        int newline = text.IndexOf('\n');
        string kind = text[..newline], what = text[(newline + 1)..];
        string description = $"Rank {root} of {Size} failed while {phase}, so training stopped on every rank: {what}";
        Exception shared = kind switch
        {
            "cancel" => new OperationCanceledException(description),
            "argument" => new ArgumentException(description),
            _ => new InvalidOperationException(description),
        };
        MarkAgreed(shared);
        throw shared;
    }

    /// <summary>Runs <paramref name="action"/> on this rank and then <see cref="Agree"/>s on its outcome.</summary>
    public T Agree<T>(Func<T> action, string phase)
    {
        T result = default!;
        Exception? error = null;
        try
        {
            result = action();
        }
        catch (Exception e)
        {
            error = e;
        }
        Agree(error, phase);
        return result;
    }

    /// <summary>Marks <paramref name="e"/> as thrown by every rank together.</summary>
    public static T MarkAgreed<T>(T e) where T : Exception
    {
        e.Data[AgreedKey] = true;
        return e;
    }

    /// <summary>True when every rank threw <paramref name="e"/> (or its counterpart) together.</summary>
    public static bool IsAgreed(Exception e) => e.Data.Contains(AgreedKey);

    /// <summary>
    /// The last resort for a failure only this rank saw where the others may already wait in a collective: log it to
    /// standard error and to <paramref name="ch"/>, then MPI_Abort, which ends every rank of the job (mpirun reports the
    /// error code). Never returns.
    /// </summary>
    public void Abort(Exception e, IChannel? ch)
    {
        string text = $"[rank {Rank} of {Size}] training failed on this rank only; aborting the MPI job so that no rank waits forever: {e}";
        try
        {
            ch?.Error("{0}", text);
        }
        catch
        {
            // The log may itself be what failed; standard error below still gets the message.
        }
        Console.Error.WriteLine(text);
        Console.Error.Flush();
        Console.Out.Flush();
        _library.Abort(1);
        Environment.Exit(1);   // MPI_Abort does not return; this keeps the contract if an implementation does
    }

    private static string Kind(Exception e) => e switch
    {
        OperationCanceledException => "cancel",
        ArgumentException => "argument",
        _ => "error",
    };
}
