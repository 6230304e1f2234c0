using System;
using static TorchSharp.torch;

namespace Microsoft.ML.Generative.Training;

/// <summary>
/// Weight initialization draws from libtorch's process-wide generator. Building a network under this lock, right
/// after seeding, makes the initial weights a function of the seed alone, even when several models train at once.
/// Everything else (shuffling, sampling noise) uses per-fit <see cref="Generator"/>s.
/// </summary>
internal static class TorchRandom
{
    private static readonly object Lock = new();

    public static T Build<T>(int seed, Func<T> build)
    {
        lock (Lock)
        {
            manual_seed(seed);
            return build();
        }
    }

    /// <summary>
    /// Builds a network whose weights will be overwritten (loading a model): its throw-away initialization still
    /// draws from the global generator, so it must not interleave with a seeded <see cref="Build{T}"/>.
    /// </summary>
    public static T BuildUnseeded<T>(Func<T> build)
    {
        lock (Lock)
            return build();
    }
}
