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
}
