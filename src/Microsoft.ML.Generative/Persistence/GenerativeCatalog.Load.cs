using System;
using System.IO;
using System.Reflection;
using System.Runtime.ExceptionServices;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Generative;

public sealed partial class GenerativeCatalog
{
    /// <summary>
    /// Loads a model .zip exactly as <see cref="ModelOperationsCatalog.Load(string, out DataViewSchema)"/> does
    /// (any ML.NET model, with or without this library's transformers), but when loading fails it throws the
    /// component's own exception, not the reflection wrapper around it.
    /// </summary>
    /// <remarks>
    /// ML.NET creates every saved component through reflection, so <c>mlContext.Model.Load</c> reports a damaged
    /// file as a <see cref="TargetInvocationException"/> ("Exception has been thrown by the target of an
    /// invocation."), one per level of nesting, with the real message in <see cref="Exception.InnerException"/>.
    /// This method removes those wrappers and rethrows the innermost exception with its original stack trace: for a
    /// damaged or altered file of this library that is an <see cref="InvalidDataException"/> naming the model and what
    /// is wrong (for example "the weights' checksum does not match"); a file that is not a zip at all gives ML.NET's own
    /// <see cref="FormatException"/>.
    /// </remarks>
    /// <param name="filePath">Path of a model saved with <c>mlContext.Model.Save</c>.</param>
    /// <param name="inputSchema">The input schema saved with the model, or <see langword="null"/> if none was saved.</param>
    /// <exception cref="InvalidDataException">The file is damaged (this library's transformers check a SHA-256 of their weights).</exception>
    /// <exception cref="FileNotFoundException">There is no file at <paramref name="filePath"/>.</exception>
    public ITransformer LoadModel(string filePath, out DataViewSchema inputSchema)
    {
        Environment.CheckNonEmpty(filePath, nameof(filePath));
        using var stream = File.OpenRead(filePath);
        return LoadModel(stream, out inputSchema);
    }

    /// <summary>
    /// Loads a model from a readable, seekable <paramref name="stream"/>; see <see cref="LoadModel(string, out DataViewSchema)"/>.
    /// </summary>
    public ITransformer LoadModel(Stream stream, out DataViewSchema inputSchema)
    {
        Environment.CheckValue(stream, nameof(stream));
        try
        {
            return new ModelOperationsCatalog(Environment).Load(stream, out inputSchema);
        }
        catch (TargetInvocationException e)
        {
            Exception inner = e;
            while (inner is TargetInvocationException { InnerException: { } next })
                inner = next;
            ExceptionDispatchInfo.Capture(inner).Throw();
            throw; // not reached
        }
    }
}
