using Microsoft.ML.Data;

namespace Microsoft.ML.Generative.Scoring;

/// <summary>An output column of a generative transformer: a <see cref="float"/> scalar (Size 0) or known-size vector.</summary>
internal readonly record struct ScoringColumn(string Name, int Size)
{
    public int Width => Size == 0 ? 1 : Size;

    public DataViewType Type => Size == 0 ? NumberDataViewType.Single : new VectorDataViewType(NumberDataViewType.Single, Size);
}
